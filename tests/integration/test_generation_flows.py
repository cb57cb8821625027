"""The studio's and the gallery's use cases as the pages (and later the REST API) call them:
the generation limit before any spend, cancel in our database before the provider, files
deleted only after the commit. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from stylestudio.adapters.local_engine.engine import LocalEngine
from stylestudio.adapters.storage import LocalStorage
from stylestudio.db import session_scope
from stylestudio.models import Generation, GenerationStatus, Image, ImageCategory
from stylestudio.services.errors import (
    InvalidImageError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)
from stylestudio.services.generation import generation_flows, generations
from stylestudio.services.rate_limits import RateLimiter, Rule
from tests.support.builders import new_upload, new_user, product_shot, run_all_jobs
from tests.support.lookups import balance, files_under

BASE = "http://api.test"


@pytest.fixture(autouse=True)
def limiter(monkeypatch: pytest.MonkeyPatch) -> RateLimiter:
    """A real limiter in this process's memory: three generations a minute per user."""
    limiter = RateLimiter(rates={Rule.GENERATION_USER: "3 per minute"})
    monkeypatch.setattr(generation_flows, "get_limiter", lambda: limiter)
    return limiter


def _spec(product: int, *styles: str) -> generations.GenerationSpec:
    return generations.GenerationSpec(
        product_image_ids=(product,),
        styles=styles,
        quality="standard",
        aspect_ratio="1:1",
        model_image_id=None,
        prompt="",
        negative_prompt="",
        model="local-studio",
        variations=1,
        seed=None,
    )


def _start(db: Engine, user_id: int, spec: generations.GenerationSpec, key: str) -> list[int]:
    views = generation_flows.start_generations(
        db=db,
        user_id=user_id,
        spec=spec,
        idempotency_key=key,
        models=LocalEngine().models,
        engine_name="local",
        base_url=BASE,
    )
    return [v.id for v in views]


def _generations(db: Engine, user_id: int) -> list[Generation]:
    with session_scope(db, write=False) as session:
        return list(
            session.exec(
                select(Generation).where(Generation.user_id == user_id).order_by(col(Generation.id))
            ).all()
        )


def test_a_batch_is_counted_before_anything_is_spent(db: Engine, storage: LocalStorage) -> None:
    user_id = new_user(db)
    product = new_upload(db, storage, user_id)
    before = balance(db, user_id)

    ids = _start(db, user_id, _spec(product, "fashion", "vintage"), "first")
    assert ids == [g.id for g in _generations(db, user_id)]  # in the batch's order
    spent = before - balance(db, user_id)
    assert spent == 2

    # Two more styles would make four in a minute: refused, and nothing spent or recorded.
    with pytest.raises(RateLimitedError, match="starting generations too quickly"):
        _start(db, user_id, _spec(product, "minimalist", "artistic"), "second")
    assert balance(db, user_id) == before - spent
    assert len(_generations(db, user_id)) == 2

    # Another user has their own count.
    other = new_user(db, "other@example.com")
    assert len(_start(db, other, _spec(new_upload(db, storage, other), "fashion"), "x")) == 1


def test_cancel_ends_it_in_our_database_before_the_provider_is_asked(
    db: Engine, storage: LocalStorage
) -> None:
    user_id = new_user(db)
    [gid] = _start(db, user_id, _spec(new_upload(db, storage, user_id), "fashion"), "one")
    with session_scope(db) as session:  # as the Replicate worker records its prediction
        generation = session.get(Generation, gid)
        assert generation is not None
        generation.provider_prediction_id = "pred-1"
        session.add(generation)
    before = balance(db, user_id)
    seen: list[tuple[str, str]] = []

    class DownProvider:
        """A provider that fails every cancel, after noting what our database said then."""

        async def cancel(self, prediction_id: str) -> None:
            [generation] = _generations(db, user_id)
            seen.append((prediction_id, str(generation.status)))
            raise ConnectionError("the provider is down")

    asyncio.run(
        generation_flows.cancel_generation(
            db=db,
            predictions=DownProvider(),  # type: ignore[arg-type]
            user_id=user_id,
            generation_id=gid,
        )
    )
    assert seen == [("pred-1", GenerationStatus.CANCELLED.value)]
    [generation] = _generations(db, user_id)
    assert generation.status == GenerationStatus.CANCELLED  # whatever the provider said
    assert balance(db, user_id) == before + 1  # refunded once

    with pytest.raises(ValidationError, match="already finished"):
        asyncio.run(
            generation_flows.cancel_generation(
                db=db, predictions=None, user_id=user_id, generation_id=gid
            )
        )
    assert balance(db, user_id) == before + 1


def test_deleting_a_generation_takes_its_files_after_the_rows(
    db: Engine, storage: LocalStorage
) -> None:
    user_id = new_user(db)
    [gid] = _start(db, user_id, _spec(new_upload(db, storage, user_id), "fashion"), "one")
    with pytest.raises(ValidationError, match="cancel it first"):
        generation_flows.delete_generation(
            db=db, storage=storage, user_id=user_id, generation_id=gid
        )
    run_all_jobs(db, storage)
    with session_scope(db, write=False) as session:
        results = session.exec(
            select(Image).where(
                Image.generation_id == gid, Image.category == ImageCategory.GENERATED
            )
        ).all()
        keys = [k for i in results for k in (i.storage_key, i.thumbnail_key) if k]
    assert keys and all(storage.exists(k) for k in keys)

    stranger = new_user(db, "stranger@example.com")
    with pytest.raises(NotFoundError):
        generation_flows.delete_generation(
            db=db, storage=storage, user_id=stranger, generation_id=gid
        )
    assert all(storage.exists(k) for k in keys)

    generation_flows.delete_generation(db=db, storage=storage, user_id=user_id, generation_id=gid)
    assert not any(storage.exists(k) for k in keys)
    assert _generations(db, user_id) == []


def test_an_uploaded_photo_is_stored_or_nothing_is(db: Engine, storage: LocalStorage) -> None:
    user_id = new_user(db)
    photo = generation_flows.upload_input_photo(
        db=db,
        storage=storage,
        user_id=user_id,
        data=product_shot(),
        filename="shoe.jpg",
        category=ImageCategory.PRODUCT,
        base_url=BASE,
    )
    assert photo.id and photo.name == "shoe.jpg" and photo.url.startswith(BASE)
    files = files_under(storage.root)
    assert len(files) == 2  # the photo and its thumbnail

    with pytest.raises(InvalidImageError):
        generation_flows.upload_input_photo(
            db=db,
            storage=storage,
            user_id=user_id,
            data=b"not an image",
            filename="notes.txt",
            category=ImageCategory.PRODUCT,
            base_url=BASE,
        )
    assert files_under(storage.root) == files
