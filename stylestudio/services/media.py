"""Uploads and stored images: validation by decoding, re-encoding without metadata, storage,
thumbnails, and signed expiring URLs."""

from __future__ import annotations

import hashlib
import io
import logging
import re
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

from itsdangerous import BadSignature, TimestampSigner
from PIL import Image as PILImage
from PIL import ImageCms, ImageOps, UnidentifiedImageError
from sqlalchemy import event
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

from stylestudio.adapters.storage import MediaStorage
from stylestudio.models import Image, ImageCategory, UsageAction
from stylestudio.services.errors import InvalidImageError, NotFoundError
from stylestudio.services.usage import record_usage
from stylestudio.settings import get_settings

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
JPEG_QUALITY = 92
WEBP_QUALITY = 90
THUMBNAIL_QUALITY = 85

# Signed media URLs: see media_url.
MEDIA_URL_LIFETIME_S = 3600
MEDIA_URL_BUCKET_S = 600  # URLs are stable (cacheable) for this long: issue times are floored
MEDIA_URL_MAX_LIFETIME_S = 7 * 24 * 3600
MEDIA_URL_SALT = "stylestudio.media"

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

    The declared type and the extension are ignored: only what decodes counts. The size is
    the one as stored in the file, before any EXIF orientation.
    """
    im, fmt = _decode(data, label=label, max_bytes=MAX_UPLOAD_BYTES)
    with im:
        width, height = im.size
    return ImageInfo(content_type=ACCEPTED_FORMATS[fmt], width=width, height=height)


def _decode(data: bytes, *, label: str, max_bytes: int | None) -> tuple[PILImage.Image, str]:
    """The fully decoded image (the caller closes it) and its Pillow format, or
    InvalidImageError: empty, over `max_bytes`, not JPEG/PNG/WebP, too many pixels, corrupt."""
    if not data:
        raise InvalidImageError(f"{label} is empty.")
    if max_bytes is not None and len(data) > max_bytes:
        mb = len(data) / (1024 * 1024)
        raise InvalidImageError(f"{label} is {mb:.1f} MB; the limit is 10 MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            im = PILImage.open(io.BytesIO(data))
            try:
                fmt = im.format or ""
                width, height = im.size
                if fmt not in ACCEPTED_FORMATS:
                    raise InvalidImageError(
                        f"{label} is a {fmt or 'unknown'} file; use a JPEG, PNG or WebP image."
                    )
                if width * height > MAX_PIXELS:
                    raise InvalidImageError(f"{label} has too many pixels ({width}×{height}).")
                im.load()  # a truncated or corrupt body fails here, not later in a worker
            except BaseException:
                im.close()
                raise
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
    return im, fmt


# --------------------------------------------------------------------------- re-encoding


@dataclass(frozen=True)
class _Clean:
    data: bytes
    content_type: str
    width: int
    height: int
    thumbnail: bytes


def reencode_without_metadata(
    data: bytes, *, label: str = "The file", max_bytes: int | None = None
) -> tuple[bytes, str, int, int]:
    """Decode `data` and encode it again, upright and without any metadata.

    Returns (bytes, content type, width, height) of the new file. The EXIF orientation is
    applied to the pixels; an embedded colour profile is applied (converted to sRGB); then
    everything else goes: EXIF (GPS included), XMP, comments, ICC profiles, PNG text chunks,
    a JPEG's second (MPO) picture, any bytes appended after the image, and frames after the
    first. Same family of format: JPEG (and MPO) -> JPEG quality 92, PNG -> PNG, WebP -> WebP
    quality 90. Raises InvalidImageError as `validate_image` does (no byte limit unless
    `max_bytes` is given; the pixel limit always applies).
    """
    clean = _reencode(data, label=label, max_bytes=max_bytes, thumbnail=False)
    return clean.data, clean.content_type, clean.width, clean.height


def _reencode(data: bytes, *, label: str, max_bytes: int | None, thumbnail: bool) -> _Clean:
    source, fmt = _decode(data, label=label, max_bytes=max_bytes)
    with source:
        im = _upright(source)
        im = _in_srgb(im, source.info.get("icc_profile"))
        content_type = ACCEPTED_FORMATS[fmt]
        im = _for_format(im, content_type)
        out = io.BytesIO()
        im.info = {}  # JPEG comments and PNG ICC profiles are otherwise written from here
        if content_type == "image/jpeg":
            im.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
        elif content_type == "image/png":
            im.save(out, "PNG")
        else:
            im.save(out, "WEBP", quality=WEBP_QUALITY)
        width, height = im.size
        thumb = _thumbnail_jpeg(im, THUMBNAIL_SIZE) if thumbnail else b""
    return _Clean(out.getvalue(), content_type, width, height, thumb)


def _upright(im: PILImage.Image) -> PILImage.Image:
    """The image with its EXIF orientation applied (in place: no copy when upright)."""
    try:
        ImageOps.exif_transpose(im, in_place=True)
    except Exception:  # unreadable EXIF: keep the pixels as stored rather than refuse a photo
        log.warning("ignoring an unreadable EXIF orientation", exc_info=True)
    return im


_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _in_srgb(im: PILImage.Image, icc: object) -> PILImage.Image:
    """Pixels converted from an embedded colour profile to sRGB (the profile is then dropped,
    and browsers assume sRGB). A profile that cannot be applied is just dropped."""
    if not isinstance(icc, bytes) or not icc or im.mode not in ("RGB", "RGBA", "CMYK"):
        return im
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(
            im, profile, _SRGB, outputMode="RGBA" if im.mode == "RGBA" else "RGB"
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        log.info("dropping a colour profile that cannot be applied")
        return im
    return converted if converted is not None else im


_KEPT_PNG_MODES = ("1", "L", "LA", "I", "I;16", "RGB", "RGBA")


def _for_format(im: PILImage.Image, content_type: str) -> PILImage.Image:
    """A mode the output format stores: JPEG gets L or RGB; PNG and WebP keep alpha."""
    has_alpha = "A" in im.getbands() or "transparency" in im.info
    if content_type == "image/jpeg":
        return im if im.mode in ("L", "RGB") else im.convert("RGB")
    if content_type == "image/png" and im.mode in _KEPT_PNG_MODES and "transparency" not in im.info:
        return im
    target = "RGBA" if has_alpha else "RGB"
    return im if im.mode == target else im.convert(target)


def _thumbnail_jpeg(im: PILImage.Image, size: int) -> bytes:
    """A JPEG of `im` fitting in size×size, on white where it was transparent; no metadata."""
    width, height = im.size
    if width <= size and height <= size:
        target = (width, height)
    elif width >= height:
        target = (size, max(1, round(height * size / width)))
    else:
        target = (max(1, round(width * size / height)), size)
    if im.mode not in ("L", "LA", "RGB", "RGBA"):  # palettes, CMYK, 16-bit: resize in RGBA
        im = im.convert("RGBA")
    thumb = im.resize(target, PILImage.Resampling.BICUBIC, reducing_gap=2.0)
    if thumb.mode not in ("RGB", "L"):
        rgba = thumb.convert("RGBA")
        thumb = PILImage.new("RGB", thumb.size, (255, 255, 255))
        thumb.paste(rgba, mask=rgba.getchannel("A"))
    thumb = thumb.convert("RGB")
    thumb.info = {}
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=THUMBNAIL_QUALITY)
    return out.getvalue()


def new_storage_key(*, user_id: int, category: ImageCategory, content_type: str) -> str:
    return f"{category.value}/{user_id}/{uuid.uuid4().hex}.{EXTENSIONS.get(content_type, 'bin')}"


def make_thumbnail(data: bytes, *, size: int = THUMBNAIL_SIZE) -> bytes:
    """A small JPEG for grids, upright and without metadata."""
    with PILImage.open(io.BytesIO(data)) as source:
        # A JPEG decodes straight at a fraction of its size (1/2 to 1/8): no full decode.
        source.draft("RGB", (size, size))
        source.load()
        return _thumbnail_jpeg(_upright(source), size)


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
    session: Session,
    *,
    storage: MediaStorage,
    key: str,
    data: bytes,
    content_type: str,
    thumbnail: bytes | None = None,
) -> str:
    """Store an image and its grid thumbnail (made from `data` unless given); return the
    thumbnail's key.

    Both files are deleted again unless the session's transaction commits.
    """
    thumb_key = key.rsplit(".", 1)[0] + ".thumb.jpg"
    if thumbnail is None:
        thumbnail = make_thumbnail(data)
    discard_unless_committed(session, storage=storage, keys=(key, thumb_key))
    storage.put(key, data, content_type=content_type)
    storage.put(thumb_key, thumbnail, content_type="image/jpeg")
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
    """Validate, re-encode without metadata (see `reencode_without_metadata`) and store an
    uploaded image; nothing is written if it is rejected. The row describes the stored file.

    The files are deleted again if the session's transaction does not commit.
    """
    label = {ImageCategory.MODEL: "The model image"}.get(category, "The product image")
    # One decode: the checks of validate_image, the clean file and its thumbnail.
    clean = _reencode(data, label=label, max_bytes=MAX_UPLOAD_BYTES, thumbnail=True)
    key = new_storage_key(user_id=user_id, category=category, content_type=clean.content_type)
    thumb_key = put_with_thumbnail(
        session,
        storage=storage,
        key=key,
        data=clean.data,
        content_type=clean.content_type,
        thumbnail=clean.thumbnail,
    )
    image = Image(
        user_id=user_id,
        category=category,
        filename=(filename or "")[-255:],
        content_type=clean.content_type,
        size_bytes=len(clean.data),
        width=clean.width,
        height=clean.height,
        storage_key=key,
        thumbnail_key=thumb_key,
    )
    session.add(image)
    session.flush()
    record_usage(
        session,
        action=UsageAction.IMAGE_UPLOADED,
        user_id=user_id,
        details={"image_id": image.id, "category": category.value, "bytes": len(clean.data)},
    )
    return image


def get_owned_image(session: Session, *, user_id: int, image_id: int) -> Image:
    """An image of this user's, or NotFoundError (another user's image is not revealed)."""
    image = session.get(Image, image_id)
    if image is None or image.user_id != user_id:
        raise NotFoundError("That image no longer exists. Upload it again.")
    return image


# --------------------------------------------------------------------------- signed URLs


class _MediaSigner(TimestampSigner):
    """itsdangerous' timestamp signer on a given clock, floored to `bucket` seconds."""

    def __init__(self, *, now: float | None, bucket: int) -> None:
        super().__init__(
            get_settings().secret_key, salt=MEDIA_URL_SALT, digest_method=hashlib.sha256
        )
        self._now = now
        self._bucket = bucket

    def get_timestamp(self) -> int:
        now = int(time.time() if self._now is None else self._now)
        return now - now % self._bucket


_TOKEN = re.compile(r"([0-9]{1,7})\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", re.ASCII)


def sign_media_key(
    key: str, *, expires_in: int = MEDIA_URL_LIFETIME_S, now: float | None = None
) -> str:
    """The `sig` of a media URL for exactly `key`: "<expires_in>.<timestamp>.<signature>".

    The timestamp is `now` (default: the current time) floored to MEDIA_URL_BUCKET_S, so
    every URL issued for a key within one 10-minute bucket is the same (browsers cache it).
    """
    stamp = _bucket(expires_in, now)
    return _signature(get_settings().secret_key, key, expires_in, stamp)


def _bucket(expires_in: int, now: float | None) -> int:
    """The start of the 10-minute bucket `now` (default: the current time) falls in."""
    if not 1 <= expires_in <= MEDIA_URL_MAX_LIFETIME_S:
        raise ValueError(f"expires_in must be 1 to {MEDIA_URL_MAX_LIFETIME_S} seconds")
    moment = int(time.time() if now is None else now)
    return moment - moment % MEDIA_URL_BUCKET_S


@lru_cache(maxsize=65_536)
def _signature(secret: str, key: str, expires_in: int, stamp: int) -> str:
    """One key's signature for one time bucket: the same for 10 minutes, so a page of URLs
    costs dictionary lookups, not HMACs (the secret is part of the cache key)."""
    payload = f"{key}.{expires_in}".encode()
    signed = _MediaSigner(now=stamp, bucket=MEDIA_URL_BUCKET_S).sign(payload)
    return signed[len(key.encode()) + 1 :].decode("ascii")


def verify_media_signature(key: str, token: str | None, *, now: float | None = None) -> bool:
    """Whether `token` is a `sign_media_key` signature of exactly `key`, made with this app's
    secret, and still valid at `now` (default: the current time).

    A signature made at t, floored to t0 (a multiple of MEDIA_URL_BUCKET_S, t0 <= t), is
    valid while now - t0 <= expires_in + MEDIA_URL_BUCKET_S: for at least `expires_in` and at
    most `expires_in` + 10 minutes after it was issued (default: 60 to 70 minutes). No
    database: a key derivation and an HMAC, both SHA-256.
    """
    if not token or not (match := _TOKEN.fullmatch(token)):
        return False
    lifetime = int(match.group(1))
    if not 1 <= lifetime <= MEDIA_URL_MAX_LIFETIME_S:
        return False
    signer = _MediaSigner(now=now, bucket=1)
    try:
        payload = signer.unsign(f"{key}.{token}", max_age=lifetime + MEDIA_URL_BUCKET_S)
    except BadSignature:  # tampered, another key or secret, expired, or from the future
        return False
    # The payload is "<key>.<lifetime>" as signed; the lifetime has no dot, so this is exact.
    return payload == f"{key}.{lifetime}".encode()


def media_url(
    key: str | None,
    *,
    base_url: str,
    expires_in: int = MEDIA_URL_LIFETIME_S,
    now: float | None = None,
) -> str:
    """`{base_url}/api/media/{key}?sig=...`, served to whoever holds it until it expires
    (see `verify_media_signature`: at least `expires_in`, at most 10 minutes more); "" for
    no key. Hand it only to users allowed to see the image."""
    if not key:
        return ""
    stamp = _bucket(expires_in, now)
    return _media_url(get_settings().secret_key, base_url, key, expires_in, stamp)


@lru_cache(maxsize=65_536)
def _media_url(secret: str, base_url: str, key: str, expires_in: int, stamp: int) -> str:
    """A whole URL per key and time bucket: a page of URLs costs dictionary lookups."""
    sig = _signature(secret, key, expires_in, stamp)
    return f"{base_url.rstrip('/')}/api/media/{quote(key, safe='/')}?sig={sig}"
