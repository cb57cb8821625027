"""The public gallery: featured images that no admin has disabled."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlmodel import Session, col, select

from stylestudio.models import Generation, Image, ImageCategory, User, utc_iso
from stylestudio.services import pricing
from stylestudio.services.media import media_url


@dataclass(frozen=True)
class ShowcaseItem:
    id: int
    image_url: str
    thumb_url: str
    style: str
    author: str
    featured_at: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def list_public_gallery(session: Session, *, base_url: str, limit: int = 24) -> list[ShowcaseItem]:
    rows = session.exec(
        select(Image, User.name, Generation.style)
        .join(User, col(User.id) == Image.user_id)
        .join(Generation, col(Generation.id) == Image.generation_id, isouter=True)
        .where(
            col(Image.is_featured),
            col(Image.is_disabled_by_admin).is_(False),
            Image.category == ImageCategory.GENERATED,
        )
        .order_by(col(Image.featured_at).desc())
        .limit(min(limit, 100))
    ).all()
    items = []
    for image, author, style in rows:
        assert image.id is not None
        preset = pricing.STYLE_PRESETS.get(style or "")
        items.append(
            ShowcaseItem(
                id=image.id,
                image_url=media_url(image.storage_key, base_url=base_url),
                thumb_url=media_url(image.thumbnail_key or image.storage_key, base_url=base_url),
                style=preset.label if preset else "",
                author=author or "A Style Studio user",
                featured_at=utc_iso(image.featured_at),
            )
        )
    return items
