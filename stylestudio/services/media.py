"""Uploads and stored images: validation by decoding, storage, thumbnails, URLs."""

from __future__ import annotations

import io
import logging
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError
from sqlalchemy import event
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

from stylestudio.adapters.storage import MediaStorage
from stylestudio.models import Image, ImageCategory, UsageAction
from stylestudio.services.errors import InvalidImageError, NotFoundError
from stylestudio.services.usage import record_usage

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 50_000_000  # beyond this a "photo" is a decompression bomb, not a product shot
# MPO is how Pillow names a JPEG carrying a second picture, as many phone cameras write.
ACCEPTED_FORMATS = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
THUMBNAIL_SIZE = 512

log = logging.getLogger(__name__)

_PENDING_FILES = "stylestudio.media.pending_files"
_LISTENING = "stylestudio.media.listening"


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int
    height: int


def validate_image(data: bytes, *, label: str = "The file") -> ImageInfo:
    """Decode `data` with Pillow; raise InvalidImageError with a message for the user.

    The declared type and the extension are ignored: only what decodes counts.
    """
    if not data:
        raise InvalidImageError(f"{label} is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        mb = len(data) / (1024 * 1024)
        raise InvalidImageError(f"{label} is {mb:.1f} MB; the limit is 10 MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data)) as probe:
                fmt = probe.format or ""
                width, height = probe.size
                if fmt not in ACCEPTED_FORMATS:
                    raise InvalidImageError(
                        f"{label} is a {fmt or 'unknown'} file; use a JPEG, PNG or WebP image."
                    )
                if width * height > MAX_PIXELS:
                    raise InvalidImageError(f"{label} has too many pixels ({width}×{height}).")
                probe.load()  # a truncated or corrupt body fails here, not later in a worker
    except InvalidImageError:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        PILImage.DecompressionBombError,
        PILImage.DecompressionBombWarning,
    ):
        raise InvalidImageError(
            f"{label} is not an image we can read; use a JPEG, PNG or WebP image."
        ) from None
    return ImageInfo(content_type=ACCEPTED_FORMATS[fmt], width=width, height=height)


def new_storage_key(*, user_id: int, category: ImageCategory, content_type: str) -> str:
    return f"{category.value}/{user_id}/{uuid.uuid4().hex}.{EXTENSIONS.get(content_type, 'bin')}"


def make_thumbnail(data: bytes, *, size: int = THUMBNAIL_SIZE) -> bytes:
    """A small JPEG for grids, upright and without metadata."""
    with PILImage.open(io.BytesIO(data)) as source:
        # A JPEG decodes straight at a fraction of its size (1/2 to 1/8): no full decode.
        source.draft("RGB", (size, size))
        im: PILImage.Image = ImageOps.exif_transpose(source)
        im.thumbnail((size, size))
        if im.mode not in ("RGB", "L"):
            rgba = im.convert("RGBA")
            im = PILImage.new("RGB", im.size, (255, 255, 255))
            im.paste(rgba, mask=rgba.getchannel("A"))
        out = io.BytesIO()
        im.convert("RGB").save(out, "JPEG", quality=85)
        return out.getvalue()


def discard_unless_committed(
    session: Session, *, storage: MediaStorage, keys: Sequence[str]
) -> None:
    """Delete `keys` from `storage` when the session's transaction ends without committing.

    Call it before writing the files: a failure anywhere after that point, the final COMMIT
    included, then leaves no file behind. Files kept by a commit whose row was rolled back to
    a savepoint are left to `stylestudio media sweep`.
    """
    # Why session events rather than a context manager around "write + commit": the commit
    # usually belongs to the caller (session_scope, the UI's in_session), after this service
    # has returned. Only the session knows whether its transaction committed, so the cleanup
    # rides on it and holds whoever commits, and whatever fails (flush, COMMIT, later code).
    if session.get_transaction() is None:
        session.begin()  # no connection yet: SQLite's write lock is not taken here
    pending: list[tuple[MediaStorage, str]] = session.info.setdefault(_PENDING_FILES, [])
    pending.extend((storage, key) for key in keys)
    if not session.info.get(_LISTENING):
        event.listen(session, "after_commit", _keep_pending_files)
        event.listen(session, "after_transaction_end", _discard_pending_files)
        session.info[_LISTENING] = True


def _keep_pending_files(session: Session) -> None:
    # after_commit also fires when a savepoint is released; only the outermost COMMIT counts.
    if not session.in_nested_transaction():
        session.info.pop(_PENDING_FILES, None)


def _discard_pending_files(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    for storage, key in session.info.pop(_PENDING_FILES, []):
        try:
            storage.delete(key)
        except Exception:  # the original error matters more; the sweep removes it later
            log.exception("could not delete %s after a rolled-back transaction", key)


def put_with_thumbnail(
    session: Session, *, storage: MediaStorage, key: str, data: bytes, content_type: str
) -> str:
    """Store an image and its grid thumbnail; return the thumbnail's key.

    Both files are deleted again unless the session's transaction commits.
    """
    thumb_key = key.rsplit(".", 1)[0] + ".thumb.jpg"
    discard_unless_committed(session, storage=storage, keys=(key, thumb_key))
    storage.put(key, data, content_type=content_type)
    storage.put(thumb_key, make_thumbnail(data), content_type="image/jpeg")
    return thumb_key


def store_upload(
    session: Session,
    *,
    storage: MediaStorage,
    user_id: int,
    data: bytes,
    filename: str,
    category: ImageCategory,
) -> Image:
    """Validate and store an uploaded image; nothing is written if it is rejected.

    The files are deleted again if the session's transaction does not commit.
    """
    label = {ImageCategory.MODEL: "The model image"}.get(category, "The product image")
    info = validate_image(data, label=label)
    key = new_storage_key(user_id=user_id, category=category, content_type=info.content_type)
    thumb_key = put_with_thumbnail(
        session, storage=storage, key=key, data=data, content_type=info.content_type
    )
    image = Image(
        user_id=user_id,
        category=category,
        filename=(filename or "")[-255:],
        content_type=info.content_type,
        size_bytes=len(data),
        width=info.width,
        height=info.height,
        storage_key=key,
        thumbnail_key=thumb_key,
    )
    session.add(image)
    session.flush()
    record_usage(
        session,
        action=UsageAction.IMAGE_UPLOADED,
        user_id=user_id,
        details={"image_id": image.id, "category": category.value, "bytes": len(data)},
    )
    return image


def get_owned_image(session: Session, *, user_id: int, image_id: int) -> Image:
    """An image of this user's, or NotFoundError (another user's image is not revealed)."""
    image = session.get(Image, image_id)
    if image is None or image.user_id != user_id:
        raise NotFoundError("That image no longer exists. Upload it again.")
    return image


def media_url(key: str | None, *, base_url: str) -> str:
    return f"{base_url.rstrip('/')}/api/media/{key}" if key else ""
