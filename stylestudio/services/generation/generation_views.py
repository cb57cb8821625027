"""Reading generations back as the studio and the gallery show them: one statement a page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from stylestudio.db import fetch_prebuilt
from stylestudio.models import (
    Collection,
    CollectionItem,
    Generation,
    GenerationInput,
    GenerationInputRole,
    GenerationStatus,
    Image,
    ImageCategory,
    ModerationStatus,
)
from stylestudio.services.billing import pricing
from stylestudio.services.errors import NotFoundError
from stylestudio.services.generation.generation_work import variation_seed
from stylestudio.services.ids import MAX_ROW_ID, is_row_id
from stylestudio.services.library import search
from stylestudio.services.library.collections import collections_of_images
from stylestudio.services.library.generation_downloads import download_stem
from stylestudio.services.media.media import media_url_maker
from stylestudio.services.moderation.featuring import featured_state_label

STATUS_LABELS = {
    GenerationStatus.PENDING: "Queued",
    GenerationStatus.UPLOADING: "Uploading",
    GenerationStatus.PROCESSING: "Generating",
    GenerationStatus.COMPLETED: "Completed",
    GenerationStatus.FAILED: "Failed",
    GenerationStatus.CANCELLED: "Cancelled",
}
# Status and moderation as the driver returns them (text) or SQLAlchemy does (members).
_STATUS: dict[object, tuple[str, str, bool]] = {
    k: (s.value, STATUS_LABELS[s], s.is_terminal) for s in GenerationStatus for k in (s, s.value)
}
_MODERATION: dict[object, str] = {k: m.value for m in ModerationStatus for k in (m, m.value)}


@dataclass(frozen=True)
class ResultImageView:
    """One result image of a generation (one variation)."""

    id: int
    url: str
    thumb_url: str
    download_url: str
    placeholder: str  # a tiny inline image (data URL) to show while the thumbnail loads
    seed: int


@dataclass(slots=True)
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
    result_url: str  # the first result image
    result_thumb_url: str
    product_thumb_url: str  # the primary product photo ("" on gallery pages: not shown there)
    image_id: int = 0  # the first result image (0 until there is one)
    moderation: str = "none"  # none | pending | approved | rejected | taken_down
    feature_label: str = ""
    seed: int = 0
    variations: int = 1
    product_url: str = ""  # the primary product photo, full size (for before/after)
    images: list[ResultImageView] = field(default_factory=list)  # one a variation
    download_url: str = ""  # the first result image, saved under a readable name
    # The user's collections that hold the first result image (gallery cards only).
    in_collections: list[int] = field(default_factory=list)
    style_key: str = ""  # what `style` is the label of ("realistic"), as the API takes it
    quality_key: str = ""  # likewise for `quality` ("standard")


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
        Generation.seed,
        Generation.variations,
    )
)
_IMAGES = sa.inspect(Image).local_table
_INPUTS = sa.inspect(GenerationInput).local_table
_RESULT = _IMAGES.alias("result")
_PRODUCT = _IMAGES.alias("product")
_PRIMARY_INPUT = _INPUTS.alias("primary_input")


def _page_statement(page: sa.Subquery, *, with_product: bool) -> sa.Select[Any]:
    """The rows of the views of the generations `page` selects (its columns:
    _GENERATION_COLUMNS): one per result image (at least one), newest generation first.

    `with_product`: also the primary product photo (the studio's before/after). The gallery
    shows none, and leaving it out spares two lookups per generation (on a large database
    those are pages read from disk, not from cache)."""
    columns: list[Any] = [
        *page.c,
        _RESULT.c.id,
        _RESULT.c.storage_key,
        _RESULT.c.thumbnail_key,
        _RESULT.c.blur_data_url,
        _RESULT.c.image_order,
        _RESULT.c.moderation_status,
        _RESULT.c.is_disabled_by_admin,
        _RESULT.c.disabled_reason,
        _RESULT.c.moderation_reason,
    ]
    joined = page.outerjoin(
        _RESULT,
        sa.and_(
            _RESULT.c.generation_id == page.c.id,
            _RESULT.c.category == ImageCategory.GENERATED,
        ),
    )
    if with_product:
        columns += [_PRODUCT.c.storage_key, _PRODUCT.c.thumbnail_key]
        joined = joined.outerjoin(
            _PRIMARY_INPUT,
            sa.and_(
                _PRIMARY_INPUT.c.generation_id == page.c.id,
                _PRIMARY_INPUT.c.role == GenerationInputRole.PRODUCT,
                _PRIMARY_INPUT.c.position == 0,
            ),
        ).outerjoin(_PRODUCT, _PRODUCT.c.id == _PRIMARY_INPUT.c.image_id)
    else:
        columns += [sa.null().label("product_key"), sa.null().label("product_thumb")]
    return (
        sa.select(*columns)
        .select_from(joined)
        .order_by(page.c.id.desc(), _RESULT.c.image_order, _RESULT.c.id)
    )


@lru_cache(maxsize=16)
def _page_of(limit: int) -> sa.Select[Any]:
    """The common page's statement, built once per page size; only the user and the keyset
    are bound. The size is written into the SQL: bound, it left PostgreSQL's generic plan
    of the prepared statement guessing a large LIMIT, so it planned every page anew
    (about half a millisecond each)."""
    return _page_statement(
        sa.select(*_GENERATION_COLUMNS)
        .where(
            col(Generation.user_id) == sa.bindparam("uid"),
            col(Generation.id) <= sa.bindparam("up_to"),
        )
        .order_by(col(Generation.id).desc())
        .limit(sa.literal_column(str(int(limit))))
        .subquery("page"),
        with_product=False,
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
        # Through the driver's own cursor: building this big statement's cache key and
        # processing its results was half of a page's time.
        rows = fetch_prebuilt(
            session,
            _page_of(limit),
            {"uid": user_id, "up_to": before_id - 1 if before_id is not None else MAX_ROW_ID},
        )
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
    return _views(
        session.execute(_page_statement(page, with_product=False)).all(), base_url=base_url
    )


def get_generation_views(
    session: Session, *, user_id: int, generation_ids: list[int], base_url: str
) -> list[GenerationView]:
    """Several of the user's generations at once, newest first (others' ids are silently
    left out)."""
    ids = [g for g in generation_ids[:100] if is_row_id(g)]
    if not ids:
        return []
    page = (
        sa.select(*_GENERATION_COLUMNS)
        .where(col(Generation.user_id) == user_id, col(Generation.id).in_(ids))
        .subquery("page")
    )
    rows = session.execute(_page_statement(page, with_product=True)).all()
    return _views(rows, base_url=base_url)


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


def _views(rows: Sequence[Sequence[Any]], *, base_url: str) -> list[GenerationView]:
    """One view per generation from _page_statement's rows (one row per result image)."""
    views: list[GenerationView] = []
    images: list[ResultImageView] = []
    last_id = None
    presets = pricing.STYLE_PRESETS
    url = media_url_maker(base_url=base_url)
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
        seed,
        variations,
        result_id,
        result_key,
        result_thumb,
        placeholder,
        image_order,
        moderation_status,
        disabled,
        disabled_reason,
        moderation_reason,
        product_key,
        product_thumb,
    ) in map(tuple, rows):
        result_url = thumb_url = ""
        if result_id is not None:
            result_url = url(result_key)
            thumb_url = url(result_thumb or result_key)
            image = ResultImageView(
                id=result_id,
                url=result_url,
                thumb_url=thumb_url,
                # Saved as `fashion-red-mug-42-1.jpg`, not under the storage key's name.
                download_url=f"{result_url}&download="
                + download_stem(
                    style=style, prompt=prompt, generation_id=gid, variation=image_order + 1
                ),
                placeholder=placeholder or "",
                seed=variation_seed(seed, image_order),
            )
        if gid == last_id:
            if result_id is not None:
                images.append(image)  # a further variation of the same generation
            continue
        last_id = gid
        images = [image] if result_id is not None else []
        status_key, status_label, is_terminal = _STATUS[status_value]
        moderation = "none"
        feature_label = ""
        if result_id is not None:
            moderation_value = _MODERATION[moderation_status]
            disabled = bool(disabled)
            moderation = "taken_down" if disabled else moderation_value
            feature_label = featured_state_label(
                moderation_value, disabled, disabled_reason if disabled else moderation_reason
            )
        preset = presets.get(style)
        views.append(
            GenerationView(
                id=gid,
                status=status_key,
                status_label=status_label,
                is_terminal=is_terminal,
                style=preset.label if preset else style,
                quality=pricing.QUALITY_LABELS.get(quality, quality),
                style_key=style,
                quality_key=quality,
                aspect_ratio=aspect_ratio,
                prompt=prompt,
                credits_used=credits_used,
                error=error or "",
                created_at=_iso(created_at),
                processing_seconds=f"{processing_ms / 1000:.1f} s" if processing_ms else "",
                result_url=result_url,
                result_thumb_url=thumb_url,
                download_url=images[0].download_url if images else "",
                product_thumb_url=url(product_thumb or product_key),
                image_id=result_id or 0,
                moderation=moderation,
                feature_label=feature_label,
                seed=seed,
                variations=variations,
                product_url=url(product_key),
                images=images,
            )
        )
    return views


def _iso(value: datetime | str | None) -> str:
    """utc_iso of a value as the driver returns it (SQLite: text, zone-less UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is None:
        return ""
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat(timespec="seconds")[:19] + "Z"


# --------------------------------------------------------------------------- gallery cards


def gallery_page(
    session: Session,
    *,
    user_id: int,
    base_url: str,
    limit: int = 24,
    before_id: int | None = None,
    filters: GalleryFilter | None = None,
) -> list[GenerationView]:
    """A page of the gallery (see `list_user_generations`), each card with the user's
    collections that hold its image."""
    views = list_user_generations(
        session,
        user_id=user_id,
        base_url=base_url,
        limit=limit,
        before_id=before_id,
        filters=filters,
    )
    return _with_collections(session, user_id=user_id, views=views)


def gallery_cards(
    session: Session, *, user_id: int, generation_ids: list[int], base_url: str
) -> list[GenerationView]:
    """Some of the gallery's cards again (see `get_generation_views`), each with the user's
    collections that hold its image."""
    views = get_generation_views(
        session, user_id=user_id, generation_ids=generation_ids, base_url=base_url
    )
    return _with_collections(session, user_id=user_id, views=views)


def _with_collections(
    session: Session, *, user_id: int, views: list[GenerationView]
) -> list[GenerationView]:
    held = collections_of_images(
        session, user_id=user_id, image_ids=[v.image_id for v in views if v.image_id]
    )
    for view in views:
        view.in_collections = held.get(view.image_id, []) if view.image_id else []
    return views
