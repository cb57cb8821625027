"""One generation as the viewer shows it: every variation full size (with its download
name), the photo it was made from for before/after, the prompt and the settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from stylestudio.models import (
    Generation,
    GenerationInput,
    GenerationInputRole,
    GenerationStatus,
    Image,
    ImageCategory,
)
from stylestudio.models.base import utc_iso
from stylestudio.services.billing import pricing
from stylestudio.services.errors import NotFoundError
from stylestudio.services.generation.generation_work import variation_seed
from stylestudio.services.ids import is_row_id
from stylestudio.services.library.generation_downloads import download_stem
from stylestudio.services.media.media import media_url_maker

MAX_ALT = 160


@dataclass(frozen=True)
class ViewerImage:
    """One variation, full size."""

    id: int
    number: int  # 1-based, in variation order
    url: str
    thumb_url: str
    download_url: str  # the same file, saved under `file_name`
    file_name: str
    alt: str  # style and prompt, so a screen reader says what the picture is
    seed: int


@dataclass(frozen=True)
class GenerationViewer:
    """What the viewer dialog shows. `before_url` is the primary product photo (never the
    model/scene photo); "" when there is none to compare with."""

    id: int = 0
    style: str = ""
    prompt: str = ""
    negative_prompt: str = ""
    quality: str = ""
    aspect_ratio: str = ""
    model: str = ""
    seed: int = 0
    variations: int = 0
    credits_used: int = 0
    created_at: str = ""
    before_url: str = ""
    before_alt: str = ""
    zip_url: str = ""  # `Download all` ("" for a single image)
    images: list[ViewerImage] = field(default_factory=list)


def no_viewer() -> GenerationViewer:
    return GenerationViewer()


def image_alt(*, style: str, prompt: str, number: int, of: int) -> str:
    """`Fashion product shot: red mug on linen (2 of 2)`."""
    text = f"{style} product shot" + (f": {prompt.strip()}" if prompt.strip() else "")
    if len(text) > MAX_ALT:
        text = text[: MAX_ALT - 1].rstrip() + "…"
    return text + (f" ({number} of {of})" if of > 1 else "")


def zip_url(*, base_url: str, generation_id: int) -> str:
    """Where `Download all` fetches a generation's zip (api/download_routes.py)."""
    return f"{base_url.rstrip('/')}/api/generations/{generation_id}/download"


def get_generation_viewer(
    session: Session, *, user_id: int, generation_id: object, base_url: str
) -> GenerationViewer:
    """One of the user's finished generations for the viewer; another user's, or one with
    no image yet, is not found."""
    generation = session.get(Generation, generation_id) if is_row_id(generation_id) else None
    if generation is None or generation.user_id != user_id or generation.id is None:
        raise NotFoundError("That generation does not exist.")
    if generation.status != GenerationStatus.COMPLETED:
        raise NotFoundError("That generation has no images yet.")
    gid = generation.id
    results = session.exec(
        select(Image)
        .where(Image.generation_id == gid, Image.category == ImageCategory.GENERATED)
        .order_by(col(Image.image_order), col(Image.id))
    ).all()
    if not results:
        raise NotFoundError("That generation has no images yet.")
    # The primary angle: the first product photo. The scene (role MODEL) is an ingredient of
    # the result, not what the result should be compared with.
    before = session.exec(
        select(Image)
        .join(GenerationInput, col(GenerationInput.image_id) == Image.id)
        .where(
            GenerationInput.generation_id == gid,
            GenerationInput.role == GenerationInputRole.PRODUCT,
        )
        .order_by(col(GenerationInput.position))
        .limit(1)
    ).first()
    url = media_url_maker(base_url=base_url)
    preset = pricing.STYLE_PRESETS.get(generation.style)
    style = preset.label if preset else generation.style
    images = []
    for number, image in enumerate(results, start=1):
        stem = download_stem(
            style=generation.style, prompt=generation.prompt, generation_id=gid, variation=number
        )
        ext = image.storage_key.rsplit(".", 1)[-1].lower()
        full = url(image.storage_key)
        images.append(
            ViewerImage(
                id=image.id or 0,
                number=number,
                url=full,
                thumb_url=url(image.thumbnail_key or image.storage_key),
                download_url=f"{full}&download={stem}",
                file_name=f"{stem}.{ext}",
                alt=image_alt(
                    style=style, prompt=generation.prompt, number=number, of=len(results)
                ),
                seed=variation_seed(generation.seed, image.image_order),
            )
        )
    return GenerationViewer(
        id=gid,
        style=style,
        prompt=generation.prompt,
        negative_prompt=generation.negative_prompt,
        quality=pricing.QUALITY_LABELS.get(generation.quality, generation.quality),
        aspect_ratio=generation.aspect_ratio,
        model=generation.model,
        seed=generation.seed,
        variations=len(images),
        credits_used=generation.credits_used,
        created_at=utc_iso(generation.created_at),
        before_url=url(before.storage_key) if before is not None else "",
        before_alt=_before_alt(before),
        zip_url=zip_url(base_url=base_url, generation_id=gid) if len(images) > 1 else "",
        images=images,
    )


def _before_alt(photo: Image | None) -> str:
    if photo is None:
        return ""
    return "Your product photo" + (f" ({photo.filename})" if photo.filename else "")
