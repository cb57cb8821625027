"""Starting generations (spend + record + enqueue, one transaction) and reading them back."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

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
    views = get_generation_views(
        session, user_id=user_id, generation_ids=[generation_id], base_url=base_url
    )
    if not views:
        raise NotFoundError("That generation does not exist.")
    return views[0]


@dataclass(frozen=True)
class GalleryFilter:
    """What the gallery narrows to; every part optional."""

    status: str = ""  # a GenerationStatus value
    style: str = ""  # a style preset key
    collection_id: int = 0  # one of the user's collections
    query: str = ""  # words of the prompt


# One page is one statement: the page of generations (keyset on id, newest first) joined
# with each one's result images and its primary product photo. On PostgreSQL every
# statement is a round trip; three of them were most of a page's time.
_GENERATION_COLUMNS: tuple[Any, ...] = tuple(
    col(c)
    for c in (
        Generation.id,
        Generation.status,
        Generation.style,
        Generation.quality,
        Generation.aspect_ratio,
        Generation.prompt,
        Generation.credits_used,
        Generation.error,
        Generation.created_at,
        Generation.processing_ms,
    )
)
_IMAGES = sa.inspect(Image).local_table
_INPUTS = sa.inspect(GenerationInput).local_table
_RESULT = _IMAGES.alias("result")
_PRODUCT = _IMAGES.alias("product")
_PRIMARY_INPUT = _INPUTS.alias("primary_input")


def _page_statement(page: sa.Subquery) -> sa.Select[Any]:
    """The rows of the views of the generations `page` selects (its columns:
    _GENERATION_COLUMNS): one per result image (at least one), newest generation first."""
    return (
        sa.select(
            *page.c,
            _RESULT.c.id,
            _RESULT.c.storage_key,
            _RESULT.c.thumbnail_key,
            _RESULT.c.moderation_status,
            _RESULT.c.is_disabled_by_admin,
            _RESULT.c.disabled_reason,
            _RESULT.c.moderation_reason,
            _PRODUCT.c.storage_key,
            _PRODUCT.c.thumbnail_key,
        )
        .select_from(
            page.outerjoin(
                _RESULT,
                sa.and_(
                    _RESULT.c.generation_id == page.c.id,
                    _RESULT.c.category == ImageCategory.GENERATED,
                ),
            )
            .outerjoin(
                _PRIMARY_INPUT,
                sa.and_(
                    _PRIMARY_INPUT.c.generation_id == page.c.id,
                    _PRIMARY_INPUT.c.role == GenerationInputRole.PRODUCT,
                    _PRIMARY_INPUT.c.position == 0,
                ),
            )
            .outerjoin(_PRODUCT, _PRODUCT.c.id == _PRIMARY_INPUT.c.image_id)
        )
        .order_by(page.c.id.desc(), _RESULT.c.image_order, _RESULT.c.id)
    )


# Built once: the common page binds only values (no statement building per page).
_PAGE = _page_statement(
    sa.select(*_GENERATION_COLUMNS)
    .where(
        col(Generation.user_id) == sa.bindparam("uid"),
        col(Generation.id) <= sa.bindparam("up_to"),
    )
    .order_by(col(Generation.id).desc())
    .limit(sa.bindparam("lim"))
    .subquery("page")
)


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
    if f == GalleryFilter():  # the common page
        rows = session.execute(
            _PAGE,
            {
                "uid": user_id,
                "up_to": before_id - 1 if before_id is not None else MAX_ROW_ID,
                "lim": limit,
            },
        ).all()
        return _views(rows, base_url=base_url)
    stmt = sa.select(*_GENERATION_COLUMNS).where(col(Generation.user_id) == user_id)
    if before_id is not None:
        stmt = stmt.where(col(Generation.id) < before_id)
    if f.status in {s.value for s in GenerationStatus}:
        stmt = stmt.where(col(Generation.status) == f.status)
    if f.style in pricing.STYLE_PRESETS:
        stmt = stmt.where(col(Generation.style) == f.style)
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
    page = stmt.order_by(col(Generation.id).desc()).limit(limit).subquery("page")
    return _views(session.execute(_page_statement(page)).all(), base_url=base_url)


def _views(rows: Sequence[sa.Row[Any]], *, base_url: str) -> list[GenerationView]:
    """One view per generation from _page_statement's rows (the first result image shows)."""
    views: list[GenerationView] = []
    last_id = None
    presets = pricing.STYLE_PRESETS
    for (
        gid,
        status_value,
        style,
        quality,
        aspect_ratio,
        prompt,
        credits_used,
        error,
        created_at,
        processing_ms,
        result_id,
        result_key,
        result_thumb,
        moderation_status,
        disabled,
        disabled_reason,
        moderation_reason,
        product_key,
        product_thumb,
    ) in map(tuple, rows):
        if gid == last_id:
            continue  # a further result image of the same generation
        last_id = gid
        status = GenerationStatus(status_value)
        moderation = "none"
        feature_label = ""
        if result_id is not None:
            moderation_value = ModerationStatus(moderation_status).value
            moderation = "taken_down" if disabled else moderation_value
            feature_label = featured_state_label(
                moderation_value, disabled, disabled_reason if disabled else moderation_reason
            )
        preset = presets.get(style)
        views.append(
            GenerationView(
                id=gid,
                status=status.value,
                status_label=STATUS_LABELS[status],
                is_terminal=status.is_terminal,
                style=preset.label if preset else style,
                quality=pricing.QUALITY_LABELS.get(quality, quality),
                aspect_ratio=aspect_ratio,
                prompt=prompt,
                credits_used=credits_used,
                error=error or "",
                created_at=utc_iso(created_at),
                processing_seconds=f"{processing_ms / 1000:.1f} s" if processing_ms else "",
                result_url=media_url(result_key, base_url=base_url),
                result_thumb_url=media_url(result_thumb or result_key, base_url=base_url),
                product_thumb_url=media_url(product_thumb or product_key, base_url=base_url),
                image_id=result_id or 0,
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
    ids = [g for g in generation_ids[:100] if is_row_id(g)]
    if not ids:
        return []
    page = (
        sa.select(*_GENERATION_COLUMNS)
        .where(col(Generation.user_id) == user_id, col(Generation.id).in_(ids))
        .subquery("page")
    )
    return _views(session.execute(_page_statement(page)).all(), base_url=base_url)


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
