"""The public gallery (/explore): approved images that no admin took down, from owners who may
publish; newest featured first, filterable by style, keyset-paginated."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from stylestudio.db import fetch_prebuilt
from stylestudio.models import (
    Generation,
    Image,
    ImageCategory,
    ModerationStatus,
    User,
    utc_iso,
)
from stylestudio.services.accounts.accounts import public_name
from stylestudio.services.billing import pricing
from stylestudio.services.errors import NotFoundError
from stylestudio.services.ids import is_row_id
from stylestudio.services.media.media import media_url

PAGE_SIZE = 24


@dataclass(frozen=True)
class ShowcaseItem:
    id: int
    image_url: str
    thumb_url: str
    style: str
    author: str
    featured_at: str
    title: str = ""
    prompt: str = ""
    width: int = 0
    height: int = 0
    cursor: str = ""  # pass as `before` to get the next page


# The columns an item needs (no ORM objects on the page's hot path).
_COLUMNS: tuple[Any, ...] = tuple(
    col(c)
    for c in (
        Image.id,
        Image.storage_key,
        Image.thumbnail_key,
        Image.featured_at,
        Image.feature_title,
        Image.width,
        Image.height,
        User.name,
        User.email,
        Generation.style,
        Generation.prompt,
    )
)


def _public() -> list[sa.ColumnElement[bool]]:
    return [
        col(Image.is_featured).is_(True),
        col(Image.is_disabled_by_admin).is_(False),
        col(Image.moderation_status) == ModerationStatus.APPROVED,
        col(Image.category) == ImageCategory.GENERATED,
        col(User.publishing_suspended).is_(False),
    ]


def _public_images() -> sa.Select[Any]:
    return (
        sa.select(*_COLUMNS)
        .join(User, col(User.id) == Image.user_id)
        .join(Generation, col(Generation.id) == Image.generation_id, isouter=True)
        .where(*_public())
    )


_NEWEST_FIRST = (col(Image.featured_at).desc(), col(Image.id).desc())


@lru_cache(maxsize=16)
def _first_page(limit: int) -> sa.Select[Any]:
    """Built once per page size, the size written into the SQL (see
    generation_views._page_of: a bound LIMIT made PostgreSQL plan every page anew)."""
    return _public_images().order_by(*_NEWEST_FIRST).limit(sa.literal_column(str(int(limit))))


def _parse_cursor(before: str | None) -> tuple[datetime, int] | None:
    if not before or not isinstance(before, str) or len(before) > 80 or "|" not in before:
        return None
    when, _, ident = before.partition("|")
    try:
        moment = datetime.fromisoformat(when)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), int(ident)
    except ValueError:
        return None


def list_public_gallery(
    session: Session,
    *,
    base_url: str,
    limit: int = PAGE_SIZE,
    style: str | None = None,
    before: str | None = None,
) -> list[ShowcaseItem]:
    limit = max(1, min(limit, 100))
    cursor = _parse_cursor(before)
    if not (style and style in pricing.STYLE_PRESETS) and cursor is None:
        rows = fetch_prebuilt(session, _first_page(limit), {})
        return [_item(row, base_url) for row in rows]
    stmt = _public_images()
    if style and style in pricing.STYLE_PRESETS:
        stmt = stmt.where(col(Generation.style) == style)
    if cursor is not None:
        when, ident = cursor
        stmt = stmt.where(
            sa.or_(
                col(Image.featured_at) < when,
                sa.and_(col(Image.featured_at) == when, col(Image.id) < ident),
            )
        )
    found = session.execute(stmt.order_by(*_NEWEST_FIRST).limit(limit)).all()
    return [_item(row, base_url) for row in found]


def get_public_image(session: Session, *, image_id: object, base_url: str) -> ShowcaseItem:
    """One featured image, large, for anyone; anything not public is 'not found'."""
    if not is_row_id(image_id):
        raise NotFoundError("That image is not on Explore.")
    row = session.execute(_public_images().where(col(Image.id) == image_id)).first()
    if row is None:
        raise NotFoundError("That image is not on Explore.")
    return _item(row, base_url)


def _item(row: Sequence[Any], base_url: str) -> ShowcaseItem:
    (
        image_id,
        storage_key,
        thumbnail_key,
        featured,
        title,
        width,
        height,
        name,
        email,
        style,
        prompt,
    ) = tuple(row)
    preset = pricing.STYLE_PRESETS.get(style or "")
    if isinstance(featured, str):  # SQLite through the driver: zone-less UTC text
        featured = datetime.fromisoformat(featured).replace(tzinfo=UTC)
    return ShowcaseItem(
        id=image_id,
        image_url=media_url(storage_key, base_url=base_url),
        thumb_url=media_url(thumbnail_key or storage_key, base_url=base_url),
        style=preset.label if preset else "",
        author=public_name(name, email),
        featured_at=utc_iso(featured),
        title=title or "",
        prompt=prompt or "",
        width=width,
        height=height,
        cursor=f"{featured.isoformat() if featured else ''}|{image_id}",
    )
