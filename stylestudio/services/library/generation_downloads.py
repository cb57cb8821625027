"""Downloading a generation's images: file names a person can tell apart
(`fashion-red-mug-on-linen-42-1.jpg`, after the style, the prompt's first words and the id),
and every variation of one generation as a zip, for its owner only."""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass

from sqlmodel import Session, col, select

from stylestudio.adapters.storage import MediaStorage
from stylestudio.models import Generation, Image, ImageCategory
from stylestudio.services.errors import NotFoundError
from stylestudio.services.ids import is_row_id

PROMPT_WORDS = 4
MAX_STEM = 80
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# What a file name given back in a download URL may be (anything else: the default name).
_STEM = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
DEFAULT_STEM = "style-studio"


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()  # é -> e
    return _NOT_SLUG.sub("-", plain.lower()).strip("-")


def download_stem(*, style: str, prompt: str, generation_id: int, variation: int | None) -> str:
    """A file name without extension: style, up to four words of the prompt, the
    generation's id and (for one image) its variation number, e.g. `fashion-red-mug-42-1`."""
    words = [w for w in (_slug(word) for word in prompt.split()) if w][:PROMPT_WORDS]
    head = "-".join(p for p in (_slug(style), *words) if p)[: MAX_STEM - 16].strip("-")
    tail = f"{generation_id}" + (f"-{variation}" if variation is not None else "")
    return f"{head}-{tail}" if head else f"{DEFAULT_STEM}-{tail}"


def safe_stem(value: object) -> str:
    """A file name asked for in a download URL, if it is one `download_stem` could make
    (lowercase letters, digits and dashes); else the default. The URL's signature covers
    the file, not its name: whoever holds the URL may name their own download."""
    if isinstance(value, str) and _STEM.fullmatch(value):
        return value
    return DEFAULT_STEM


@dataclass(frozen=True)
class DownloadFile:
    name: str  # with extension
    data: bytes


def generation_files(
    session: Session, *, user_id: int, generation_id: object, storage: MediaStorage
) -> tuple[str, list[DownloadFile]]:
    """Every result image of one of the user's generations, in variation order, named as
    `download_stem` names them; and the stem of the whole set. Another user's generation,
    or one without results, is not found."""
    generation = session.get(Generation, generation_id) if is_row_id(generation_id) else None
    if generation is None or generation.user_id != user_id or generation.id is None:
        raise NotFoundError("That generation does not exist.")
    keys = session.exec(
        select(Image.storage_key)
        .where(
            Image.generation_id == generation.id,
            Image.category == ImageCategory.GENERATED,
        )
        .order_by(col(Image.image_order), col(Image.id))
    ).all()
    if not keys:
        raise NotFoundError("That generation has no images to download.")
    files = [
        DownloadFile(
            name=download_stem(
                style=generation.style,
                prompt=generation.prompt,
                generation_id=generation.id,
                variation=number,
            )
            + "."
            + key.rsplit(".", 1)[-1].lower(),
            data=storage.get(key),
        )
        for number, key in enumerate(keys, start=1)
    ]
    stem = download_stem(
        style=generation.style,
        prompt=generation.prompt,
        generation_id=generation.id,
        variation=None,
    )
    return stem, files


def generation_zip(
    session: Session, *, user_id: int, generation_id: object, storage: MediaStorage
) -> tuple[str, bytes]:
    """`Download all`: the zip's file name and bytes (images stored, not recompressed: a
    JPEG does not shrink, and the bytes in the zip are the bytes of each `Download`)."""
    stem, files = generation_files(
        session, user_id=user_id, generation_id=generation_id, storage=storage
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for file in files:
            archive.writestr(file.name, file.data)
    return f"{stem}.zip", out.getvalue()
