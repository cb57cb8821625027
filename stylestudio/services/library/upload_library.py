"""A user's recent uploads: the product and scene photos they uploaded in the last
RECENT_DAYS days, newest first, for the studio's "Recent uploads" strip — so a reload, a new
tab or another device can reuse them without uploading again.

Every function takes the user's id from the server-side session and looks only at that
user's uploads: another user's image, a generated one or a made-up id is "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlmodel import Session, col, select

from stylestudio.models import Image, ImageCategory, utc_iso, utcnow
from stylestudio.services.errors import NotFoundError
from stylestudio.services.generation.generations import InputPhoto, input_view
from stylestudio.services.ids import is_row_id
from stylestudio.services.media.media import media_url_maker

RECENT_DAYS = 30
RECENT_SHOWN = 24  # one page: the strip is a reminder, not an archive

_KINDS: dict[ImageCategory, Literal["product", "scene"]] = {
    ImageCategory.PRODUCT: "product",
    ImageCategory.MODEL: "scene",
}
_NOT_FOUND = "That upload no longer exists. Upload it again."


@dataclass(frozen=True)
class RecentUpload:
    """One upload as the strip shows it."""

    id: int
    kind: str  # "product" (a product angle) or "scene" (the model or scene photo)
    url: str  # the thumbnail's signed URL
    name: str
    placeholder: str  # blur data URL, "" if none
    uploaded_at: str  # ISO 8601 UTC


@dataclass(frozen=True)
class PickedUpload:
    """An upload picked from the strip: where it goes and the studio's view of it."""

    kind: Literal["product", "scene"]
    view: InputPhoto


def recent_uploads(
    session: Session,
    *,
    user_id: int,
    base_url: str,
    now: datetime | None = None,
    limit: int = RECENT_SHOWN,
) -> list[RecentUpload]:
    """The user's product and scene uploads of the last RECENT_DAYS days, newest first, at
    most `limit`; not those they removed from the strip or an admin disabled."""
    since = (now or utcnow()) - timedelta(days=RECENT_DAYS)
    rows = session.exec(
        select(Image)
        .where(
            Image.user_id == user_id,
            col(Image.category).in_(list(_KINDS)),
            col(Image.created_at) >= since,
            col(Image.removed_from_library_at).is_(None),
            col(Image.is_disabled_by_admin).is_(False),
        )
        .order_by(col(Image.created_at).desc(), col(Image.id).desc())
        .limit(max(1, min(limit, RECENT_SHOWN)))
    ).all()
    url = media_url_maker(base_url=base_url)
    return [
        RecentUpload(
            id=image.id or 0,
            kind=_KINDS[image.category],
            url=url(image.thumbnail_key or image.storage_key),
            name=image.filename or "photo",
            placeholder=image.blur_data_url or "",
            uploaded_at=utc_iso(image.created_at),
        )
        for image in rows
    ]


def pick_upload(session: Session, *, user_id: int, image_id: object, base_url: str) -> PickedUpload:
    """One of the user's own uploads, to put back in the studio as what it was uploaded as
    (a product angle or the scene). Generating re-checks ownership and kind anyway."""
    image = _own_upload(session, user_id=user_id, image_id=image_id)
    return PickedUpload(kind=_KINDS[image.category], view=input_view(image, base_url=base_url))


def remove_from_recent(
    session: Session, *, user_id: int, image_id: object, now: datetime | None = None
) -> None:
    """The user takes an upload off their strip. The file stays (their generations and
    `Use these settings` still use it); removing it twice changes nothing."""
    image = _own_upload(session, user_id=user_id, image_id=image_id)
    if image.removed_from_library_at is None:
        image.removed_from_library_at = now or utcnow()
        session.add(image)
        session.flush()


def _own_upload(session: Session, *, user_id: int, image_id: object) -> Image:
    image = session.get(Image, image_id) if is_row_id(image_id) else None
    if (
        image is None
        or image.user_id != user_id
        or image.category not in _KINDS
        or image.is_disabled_by_admin
    ):
        raise NotFoundError(_NOT_FOUND)
    return image
