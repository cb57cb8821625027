"""Use cases of the studio and the gallery, whole: storing an uploaded photo, starting a batch
(the limit, then the spend, the rows and the jobs in one transaction), cancelling (our
database first, then the provider) and deleting (the rows, then their files after the
commit). The pages call these (and the REST API will); nothing here knows about Reflex."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import Engine

from stylestudio.adapters.generation_engine import ModelSpec
from stylestudio.adapters.replicate_engine import PredictionEngine
from stylestudio.adapters.storage import MediaStorage
from stylestudio.db import session_scope
from stylestudio.models import ImageCategory
from stylestudio.services.generation import generations
from stylestudio.services.generation.generation_predictions import cancel_quietly
from stylestudio.services.generation.generation_views import GenerationView, get_generation_views
from stylestudio.services.media import media
from stylestudio.services.rate_limits import get_limiter


def upload_input_photo(
    *,
    db: Engine,
    storage: MediaStorage,
    user_id: int,
    data: bytes,
    filename: str,
    category: ImageCategory,
    base_url: str,
) -> generations.InputPhoto:
    """Validate and store an uploaded product or scene photo (its files go again if the row
    does not commit); the photo as the studio lists it."""
    with session_scope(db) as session:
        image = media.store_upload(
            session,
            storage=storage,
            user_id=user_id,
            data=data,
            filename=filename,
            category=category,
        )
        return generations.input_view(image, base_url=base_url)


def start_generations(
    *,
    db: Engine,
    user_id: int,
    spec: generations.GenerationSpec,
    idempotency_key: str,
    models: tuple[ModelSpec, ...],
    engine_name: str,
    base_url: str,
) -> list[GenerationView]:
    """Start every generation of `spec` (one per style), all or none: counted against the
    user's generation limit first, then spent, recorded and queued in one transaction. The
    views of what started, in the batch's order; a repeated `idempotency_key` returns the
    batch it already started and charges nothing."""
    get_limiter().generation_start(user_id=user_id, generations=len(spec.styles))
    with session_scope(db) as session:
        made = generations.start_batch(
            session,
            user_id=user_id,
            spec=spec,
            idempotency_key=idempotency_key,
            models=models,
            engine_name=engine_name,
        )
        ids = [g.id for g in made if g.id is not None]
        views = get_generation_views(
            session, user_id=user_id, generation_ids=ids, base_url=base_url
        )
    return sorted(views, key=lambda v: ids.index(v.id))


async def cancel_generation(
    *, db: Engine, predictions: PredictionEngine | None, user_id: int, generation_id: int
) -> None:
    """The owner cancels a queued or running generation: it ends cancelled (refunded once)
    in our database first, the one terminal transition, then its prediction is stopped at
    the provider — cancelled here whatever the provider answers."""

    def end() -> str | None:
        with session_scope(db) as session:
            return generations.cancel_generation(
                session, user_id=user_id, generation_id=generation_id
            )

    prediction_id = await asyncio.to_thread(end)
    if prediction_id and predictions is not None:
        await cancel_quietly(predictions, prediction_id)


def delete_generation(
    *, db: Engine, storage: MediaStorage, user_id: int, generation_id: object
) -> None:
    """The owner deletes a finished generation, then its files once the rows are gone for
    good; a file that cannot be deleted is left to `stylestudio media sweep`."""
    with session_scope(db) as session:
        keys = generations.delete_generation(session, user_id=user_id, generation_id=generation_id)
    media.delete_files_after_commit(storage, keys, what="a deleted generation")
