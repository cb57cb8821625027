"""Starting generations (spend + record + enqueue, one transaction) and reading them back."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from stylestudio.models import (
    Collection,
    CollectionItem,
    Generation,
    GenerationInput,
    GenerationInputRole,
    GenerationStatus,
    Image,
    ImageCategory,
    JobKind,
    ModerationStatus,
    UsageAction,
    utc_iso,
)
from stylestudio.services import credits, jobs, pricing, search
from stylestudio.services.errors import NotFoundError, ValidationError
from stylestudio.services.featuring import featured_state_label
from stylestudio.services.generation_worker import CANCELLED, end_generation
from stylestudio.services.ids import MAX_ROW_ID, is_row_id
from stylestudio.services.media import get_owned_image, media_url
from stylestudio.services.usage import record_usage

MAX_PROMPT_LENGTH = 1000
MAX_SEED = 2**31 - 1

STATUS_LABELS = {
    GenerationStatus.PENDING: "Queued",
    GenerationStatus.UPLOADING: "Uploading",
    GenerationStatus.PROCESSING: "Generating",
    GenerationStatus.COMPLETED: "Completed",
    GenerationStatus.FAILED: "Failed",
    GenerationStatus.CANCELLED: "Cancelled",
}


def start_generation(
    session: Session,
    *,
    user_id: int,
    product_image_id: int,
    model_image_id: int | None,
    prompt: str,
    style: str,
    quality: str,
    aspect_ratio: str,
    idempotency_key: str,
    negative_prompt: str = "",
    model: str = pricing.DEFAULT_MODEL,
    seed: int | None = None,
    engine_name: str = "local",
) -> Generation:
    """Spend the credits, record the generation and enqueue its job, all in the caller's
    transaction, so either all three happen or none does.

    A repeated `idempotency_key` (a double click, a retried request) returns the generation
    it already made and charges nothing.
    """
    if not idempotency_key or len(idempotency_key) > 100:
        raise ValidationError("Missing request key; reload the page and try again.")
    existing = _by_idempotency_key(session, user_id=user_id, idempotency_key=idempotency_key)
    if existing is not None:
        return existing

    pricing.validate_options(style=style, quality=quality, aspect_ratio=aspect_ratio, model=model)
    prompt = (prompt or "").strip()
    negative_prompt = (negative_prompt or "").strip()
    if len(prompt) > MAX_PROMPT_LENGTH or len(negative_prompt) > MAX_PROMPT_LENGTH:
        raise ValidationError(f"Keep prompts under {MAX_PROMPT_LENGTH} characters.")
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ValidationError(f"The seed must be between 0 and {MAX_SEED}.")

    product = get_owned_image(session, user_id=user_id, image_id=product_image_id)
    if product.category != ImageCategory.PRODUCT:
        raise ValidationError("Choose a product image you uploaded.")
    scene: Image | None = None
    if model_image_id is not None:
        scene = get_owned_image(session, user_id=user_id, image_id=model_image_id)
        if scene.category != ImageCategory.MODEL:
            raise ValidationError("Choose a model or scene image you uploaded.")

    cost = pricing.generation_cost(quality=quality, aspect_ratio=aspect_ratio, model=model)
    generation = Generation(
        user_id=user_id,
        status=GenerationStatus.PENDING,
        prompt=prompt,
        negative_prompt=negative_prompt,
        model=model,
        style=style,
        quality=quality,
        aspect_ratio=aspect_ratio,
        seed=seed if seed is not None else secrets.randbelow(MAX_SEED),
        credits_used=cost,
        engine=engine_name,
        idempotency_key=idempotency_key,
    )
    try:
        with session.begin_nested():
            session.add(generation)
            session.flush()
    except IntegrityError:
        # The same request arrived twice at once; the first one made it, return that one.
        winner = _by_idempotency_key(session, user_id=user_id, idempotency_key=idempotency_key)
        if winner is None:
            raise
        return winner
    assert generation.id is not None
    credits.spend(
        session,
        user_id=user_id,
        amount=cost,
        idempotency_key=f"spend:generation:{generation.id}",
        generation_id=generation.id,
        description=f"Generation #{generation.id} ({style}, {quality}, {aspect_ratio})",
    )
    session.add(
        GenerationInput(
            generation_id=generation.id, image_id=product.id or 0, role=GenerationInputRole.PRODUCT
        )
    )
    if scene is not None:
        session.add(
            GenerationInput(
                generation_id=generation.id, image_id=scene.id or 0, role=GenerationInputRole.MODEL
            )
        )
    jobs.enqueue(
        session,
        kind=JobKind.GENERATE,
        payload={"generation_id": generation.id},
        generation_id=generation.id,
    )
    record_usage(
        session,
        action=UsageAction.GENERATION_STARTED,
        user_id=user_id,
        details={
            "generation_id": generation.id,
            "credits": cost,
            "style": style,
            "quality": quality,
            "aspect_ratio": aspect_ratio,
            "model": model,
        },
    )
    return generation


def _by_idempotency_key(
    session: Session, *, user_id: int, idempotency_key: str
) -> Generation | None:
    return session.exec(
        select(Generation).where(
            Generation.user_id == user_id, Generation.idempotency_key == idempotency_key
        )
    ).first()


@dataclass(frozen=True)
class GenerationView:
    """One generation as the UI shows it: strings and URLs only."""

    id: int
    status: str
    status_label: str
    is_terminal: bool
    style: str
    quality: str
    aspect_ratio: str
    prompt: str
    credits_used: int
    error: str
    created_at: str
    processing_seconds: str
    result_url: str
    result_thumb_url: str
    product_thumb_url: str
    image_id: int = 0  # the result image (0 until there is one)
    moderation: str = "none"  # none | pending | approved | rejected | taken_down
    feature_label: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def get_generation_view(
    session: Session, *, user_id: int, generation_id: int, base_url: str
) -> GenerationView:
    """One of the user's generations; another user's is reported as not found."""
    generation = session.get(Generation, generation_id) if is_row_id(generation_id) else None
    if generation is None or generation.user_id != user_id:
        raise NotFoundError("That generation does not exist.")
    return _views(session, [generation], base_url=base_url)[0]


_PAGE = (
    select(Generation)
    .where(
        col(Generation.user_id) == sa.bindparam("uid"),
        col(Generation.id) <= sa.bindparam("up_to"),
    )
    .order_by(col(Generation.id).desc())
    .limit(sa.bindparam("lim"))
)


@dataclass(frozen=True)
class GalleryFilter:
    """What the gallery narrows to; every part optional."""

    status: str = ""  # a GenerationStatus value
    style: str = ""  # a style preset key
    collection_id: int = 0  # one of the user's collections
    query: str = ""  # words of the prompt


def list_user_generations(
    session: Session,
    *,
    user_id: int,
    base_url: str,
    limit: int = 24,
    before_id: int | None = None,
    filters: GalleryFilter | None = None,
) -> list[GenerationView]:
    """The user's generations, newest first, one page at a time (keyset on id)."""
    limit = max(1, min(limit, 100))
    f = filters or GalleryFilter()
    if f == GalleryFilter():  # the common page: a prebuilt statement, only values bound
        rows = session.exec(
            _PAGE,
            params={
                "uid": user_id,
                "up_to": before_id - 1 if before_id is not None else MAX_ROW_ID,
                "lim": limit,
            },
        ).all()
        return _views(session, list(rows), base_url=base_url)
    stmt = select(Generation).where(Generation.user_id == user_id)
    if before_id is not None:
        stmt = stmt.where(col(Generation.id) < before_id)
    if f.status in {s.value for s in GenerationStatus}:
        stmt = stmt.where(Generation.status == f.status)
    if f.style in pricing.STYLE_PRESETS:
        stmt = stmt.where(Generation.style == f.style)
    if f.collection_id:
        in_collection = (
            select(Image.generation_id)
            .join(CollectionItem, col(CollectionItem.image_id) == Image.id)
            .join(Collection, col(Collection.id) == CollectionItem.collection_id)
            .where(
                Collection.id == f.collection_id,
                Collection.user_id == user_id,
                col(Image.generation_id).is_not(None),
            )
        )
        stmt = stmt.where(col(Generation.id).in_(in_collection))
    if f.query.strip():
        # Search pages by id too: the ids of up to a few pages of matches, then the other
        # filters; a page can come back short, never wrong.
        ids = search.search_generations(
            session, user_id=user_id, query=f.query, limit=limit * 4, before_id=before_id
        )
        if not ids:
            return []
        stmt = stmt.where(col(Generation.id).in_(ids))
    rows = session.exec(stmt.order_by(col(Generation.id).desc()).limit(limit)).all()
    return _views(session, list(rows), base_url=base_url)


class _Pic(NamedTuple):
    """The few columns of an image a view needs (no ORM objects on the gallery's hot path)."""

    id: int | None
    generation_id: int | None
    storage_key: str
    thumbnail_key: str | None
    moderation_status: str
    is_disabled_by_admin: bool
    disabled_reason: str | None
    moderation_reason: str | None


_PIC_COLUMNS: tuple[Any, ...] = tuple(
    col(c)
    for c in (
        Image.id,
        Image.generation_id,
        Image.storage_key,
        Image.thumbnail_key,
        Image.moderation_status,
        Image.is_disabled_by_admin,
        Image.disabled_reason,
        Image.moderation_reason,
    )
)


# Built once: the gallery's hot path binds only the ids (no statement building per page).
_RESULTS_OF = (
    sa.select(*_PIC_COLUMNS)
    .where(
        col(Image.generation_id).in_(sa.bindparam("ids", expanding=True)),
        col(Image.category) == ImageCategory.GENERATED,
    )
    .order_by(col(Image.image_order))
)
_PRODUCTS_OF = (
    sa.select(col(GenerationInput.generation_id), *_PIC_COLUMNS)
    .join(Image, col(Image.id) == GenerationInput.image_id)
    .where(
        col(GenerationInput.generation_id).in_(sa.bindparam("ids", expanding=True)),
        col(GenerationInput.role) == GenerationInputRole.PRODUCT,
    )
)


def _views(
    session: Session, generations: list[Generation], *, base_url: str
) -> list[GenerationView]:
    ids = [g.id for g in generations if g.id is not None]
    results: dict[int, _Pic] = {}
    products: dict[int, _Pic] = {}
    if ids:
        for row in session.execute(_RESULTS_OF, {"ids": ids}).all():
            image = _Pic(*row)
            assert image.generation_id is not None
            results.setdefault(image.generation_id, image)
        for row in session.execute(_PRODUCTS_OF, {"ids": ids}).all():
            products.setdefault(row[0], _Pic(*row[1:]))
    views = []
    for g in generations:
        assert g.id is not None
        status = GenerationStatus(g.status)
        result = results.get(g.id)
        product = products.get(g.id)
        moderation = "none"
        feature_label = ""
        if result is not None:
            moderation = (
                "taken_down"
                if result.is_disabled_by_admin
                else ModerationStatus(result.moderation_status).value
            )
            feature_label = featured_state_label(
                ModerationStatus(result.moderation_status).value,
                result.is_disabled_by_admin,
                result.disabled_reason if result.is_disabled_by_admin else result.moderation_reason,
            )
        views.append(
            GenerationView(
                id=g.id,
                status=status.value,
                status_label=STATUS_LABELS[status],
                is_terminal=status.is_terminal,
                style=pricing.STYLE_PRESETS[g.style].label
                if g.style in pricing.STYLE_PRESETS
                else g.style,
                quality=pricing.QUALITY_LABELS.get(g.quality, g.quality),
                aspect_ratio=g.aspect_ratio,
                prompt=g.prompt,
                credits_used=g.credits_used,
                error=g.error or "",
                created_at=utc_iso(g.created_at),
                processing_seconds=f"{g.processing_ms / 1000:.1f} s" if g.processing_ms else "",
                result_url=media_url(result.storage_key if result else None, base_url=base_url),
                result_thumb_url=media_url(
                    (result.thumbnail_key or result.storage_key) if result else None,
                    base_url=base_url,
                ),
                product_thumb_url=media_url(
                    (product.thumbnail_key or product.storage_key) if product else None,
                    base_url=base_url,
                ),
                image_id=(result.id or 0) if result is not None else 0,
                moderation=moderation,
                feature_label=feature_label,
            )
        )
    return views


def cancel_generation(session: Session, *, user_id: int, generation_id: int) -> str | None:
    """The owner cancels a queued or running generation: it ends cancelled and is refunded
    once. Returns the provider's prediction id to cancel there (after this commits)."""
    generation = session.get(Generation, generation_id) if is_row_id(generation_id) else None
    if generation is None or generation.user_id != user_id:
        raise NotFoundError("That generation does not exist.")
    if GenerationStatus(generation.status).is_terminal or not end_generation(
        session,
        generation_id=generation_id,
        error=CANCELLED,
        status=GenerationStatus.CANCELLED,
    ):
        raise ValidationError("This generation has already finished.")
    return generation.provider_prediction_id


def get_generation_views(
    session: Session, *, user_id: int, generation_ids: list[int], base_url: str
) -> list[GenerationView]:
    """Several of the user's generations at once (others' ids are silently left out)."""
    if not generation_ids:
        return []
    rows = session.exec(
        select(Generation).where(
            Generation.user_id == user_id,
            col(Generation.id).in_([g for g in generation_ids[:100] if is_row_id(g)]),
        )
    ).all()
    return _views(session, list(rows), base_url=base_url)


def delete_generation(session: Session, *, user_id: int, generation_id: object) -> list[str]:
    """The owner deletes a finished generation and its result images (share links and
    collection entries go with them; the credits stay spent). Returns the storage keys to
    delete once this transaction has committed."""
    generation = session.get(Generation, generation_id) if is_row_id(generation_id) else None
    if generation is None or generation.user_id != user_id:
        raise NotFoundError("That generation does not exist.")
    if not GenerationStatus(generation.status).is_terminal:
        raise ValidationError("It is still running: cancel it first, then delete it.")
    images = session.exec(
        select(Image).where(
            Image.generation_id == generation.id, Image.category == ImageCategory.GENERATED
        )
    ).all()
    keys = [k for image in images for k in (image.storage_key, image.thumbnail_key) if k]
    for image in images:
        session.delete(image)
    session.flush()
    session.delete(generation)
    session.flush()
    return keys
