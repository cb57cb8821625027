"""The public gallery (/explore): approved images that no admin took down, from owners who may
publish; newest featured first, filterable by style, keyset-paginated."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from stylestudio.models import (
    Generation,
    Image,
    ImageCategory,
    ModerationStatus,
    User,
    utc_iso,
)
from stylestudio.services import pricing
from stylestudio.services.accounts import public_name
from stylestudio.services.errors import NotFoundError
from stylestudio.services.ids import is_row_id
from stylestudio.services.media import media_url

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

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


_AUTHOR_AND_WORDS: tuple[Any, ...] = (
    col(User.name),
    col(User.email),
    col(Generation.style),
    col(Generation.prompt),
)


def _public() -> list[sa.ColumnElement[bool]]:
    return [
        col(Image.is_featured).is_(True),
        col(Image.is_disabled_by_admin).is_(False),
        col(Image.moderation_status) == ModerationStatus.APPROVED,
        col(Image.category) == ImageCategory.GENERATED,
        col(User.publishing_suspended).is_(False),
    ]


_FIRST_PAGE = (
    sa.select(Image, *_AUTHOR_AND_WORDS)
    .join(User, col(User.id) == Image.user_id)
    .join(Generation, col(Generation.id) == Image.generation_id, isouter=True)
    .where(*_public())
    .order_by(col(Image.featured_at).desc(), col(Image.id).desc())
    .limit(sa.bindparam("lim"))
)


def _parse_cursor(before: str | None) -> tuple[datetime, int] | None:
    if not before or not isinstance(before, str) or len(before) > 80 or "|" not in before:
        return None
    when, _, ident = before.partition("|")
    try:
        return datetime.fromisoformat(when), int(ident)
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
        rows = session.execute(_FIRST_PAGE, {"lim": limit}).all()  # prebuilt, values bound
        return [_item(i, public_name(n, e), st, pr, base_url) for i, n, e, st, pr in rows]
    stmt = (
        sa.select(Image, *_AUTHOR_AND_WORDS)
        .join(User, col(User.id) == Image.user_id)
        .join(Generation, col(Generation.id) == Image.generation_id, isouter=True)
        .where(*_public())
    )
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
    rows = session.execute(
        stmt.order_by(col(Image.featured_at).desc(), col(Image.id).desc()).limit(limit)
    ).all()
    return [
        _item(image, author, style_, prompt, base_url) for image, author, style_, prompt in rows
    ]


def get_public_image(session: Session, *, image_id: object, base_url: str) -> ShowcaseItem:
    """One featured image, large, for anyone; anything not public is 'not found'."""
    if not is_row_id(image_id):
        raise NotFoundError("That image is not on Explore.")
    row = session.execute(
        sa.select(Image, *_AUTHOR_AND_WORDS)
        .join(User, col(User.id) == Image.user_id)
        .join(Generation, col(Generation.id) == Image.generation_id, isouter=True)
        .where(col(Image.id) == image_id, *_public())
    ).first()
    if row is None:
        raise NotFoundError("That image is not on Explore.")
    image, name, email, style, prompt = row
    return _item(image, public_name(name, email), style, prompt, base_url)


def _item(
    image: Image, author: str, style: str | None, prompt: str | None, base_url: str
) -> ShowcaseItem:
    assert image.id is not None
    preset = pricing.STYLE_PRESETS.get(style or "")
    featured = image.featured_at
    return ShowcaseItem(
        id=image.id,
        image_url=media_url(image.storage_key, base_url=base_url),
        thumb_url=media_url(image.thumbnail_key or image.storage_key, base_url=base_url),
        style=preset.label if preset else "",
        author=author,
        featured_at=utc_iso(featured),
        title=image.feature_title or "",
        prompt=prompt or "",
        width=image.width,
        height=image.height,
        cursor=f"{featured.isoformat() if featured else ''}|{image.id}",
    )
