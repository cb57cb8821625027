"""Uploads and stored images: storage (with the thumbnails and placeholders made by
`imaging`), cleanup of files whose transaction did not commit, and signed expiring URLs."""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import quote

from itsdangerous import BadSignature, TimestampSigner
from sqlalchemy import event
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

from stylestudio.adapters.storage import MediaStorage
from stylestudio.models import Image, ImageCategory, UsageAction
from stylestudio.services.errors import NotFoundError
from stylestudio.services.media.imaging import Previews, make_previews, prepare_for_storage
from stylestudio.services.usage import record_usage
from stylestudio.settings import get_settings

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}

# Signed media URLs: see media_url.
MEDIA_URL_LIFETIME_S = 3600
MEDIA_URL_BUCKET_S = 600  # URLs are stable (cacheable) for this long: issue times are floored
MEDIA_URL_MAX_LIFETIME_S = 7 * 24 * 3600
MEDIA_URL_SALT = "stylestudio.media"

log = logging.getLogger(__name__)

_PENDING_FILES = "stylestudio.media.pending_files"
_LISTENING = "stylestudio.media.listening"


def new_storage_key(*, user_id: int, category: ImageCategory, content_type: str) -> str:
    return f"{category.value}/{user_id}/{uuid.uuid4().hex}.{EXTENSIONS.get(content_type, 'bin')}"


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


def delete_files_after_commit(storage: MediaStorage, keys: Sequence[str], *, what: str) -> int:
    """Delete the files of rows already deleted and committed (never before the commit: a
    rollback would leave rows without files). A file that cannot be deleted now is logged and
    left to `stylestudio media sweep`, which finds files no row names. Returns how many went."""
    deleted = 0
    for key in keys:
        try:
            storage.delete(key)
            deleted += 1
        except Exception:
            log.exception("could not delete %s of %s; the media sweep will", key, what)
    return deleted


class StoredPreviews(NamedTuple):
    thumbnail_key: str
    blur_data_url: str | None


def put_with_previews(
    session: Session,
    *,
    storage: MediaStorage,
    key: str,
    data: bytes,
    content_type: str,
    previews: Previews | None = None,
) -> StoredPreviews:
    """Store an image and its grid thumbnail; return the thumbnail's key and the blur
    placeholder to keep on the image's row. The previews are made from `data` (one decode)
    unless given.

    Both files are deleted again unless the session's transaction commits.
    """
    thumb_key = key.rsplit(".", 1)[0] + ".thumb.jpg"
    if previews is None:
        previews = make_previews(data)
    discard_unless_committed(session, storage=storage, keys=(key, thumb_key))
    storage.put(key, data, content_type=content_type)
    storage.put(thumb_key, previews.thumbnail, content_type="image/jpeg")
    return StoredPreviews(thumb_key, previews.blur_data_url)


def store_upload(
    session: Session,
    *,
    storage: MediaStorage,
    user_id: int,
    data: bytes,
    filename: str,
    category: ImageCategory,
) -> Image:
    """Validate an uploaded image and store it, upright, without metadata and at most
    DISPLAY_MAX_SIDE pixels long (see `imaging.prepare_for_storage`), with its thumbnail and
    blur placeholder; nothing is written if it is rejected. The row describes the stored file.

    The files are deleted again if the session's transaction does not commit.
    """
    label = {ImageCategory.MODEL: "The model image"}.get(category, "The product image")
    # One decode: the checks, the stored picture, its thumbnail and its placeholder.
    clean = prepare_for_storage(data, label=label, max_bytes=MAX_UPLOAD_BYTES)
    key = new_storage_key(user_id=user_id, category=category, content_type=clean.content_type)
    thumb_key, blur_data_url = put_with_previews(
        session,
        storage=storage,
        key=key,
        data=clean.data,
        content_type=clean.content_type,
        previews=clean.previews,
    )
    image = Image(
        user_id=user_id,
        category=category,
        filename=(filename or "").replace("\x00", "")[-255:],  # PostgreSQL text holds no NUL
        content_type=clean.content_type,
        size_bytes=len(clean.data),
        width=clean.width,
        height=clean.height,
        storage_key=key,
        thumbnail_key=thumb_key,
        blur_data_url=blur_data_url,
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


def media_url_maker(
    *, base_url: str, expires_in: int = MEDIA_URL_LIFETIME_S, now: float | None = None
) -> Callable[[str | None], str]:
    """`media_url` for many keys at once (a page of them): the clock, the secret and the
    lifetime are read once, then each key costs a cache lookup."""
    stamp = _bucket(expires_in, now)
    secret = get_settings().secret_key

    def url(key: str | None) -> str:
        return _media_url(secret, base_url, key, expires_in, stamp) if key else ""

    return url


@lru_cache(maxsize=65_536)
def _media_url(secret: str, base_url: str, key: str, expires_in: int, stamp: int) -> str:
    """A whole URL per key and time bucket: a page of URLs costs dictionary lookups."""
    sig = _signature(secret, key, expires_in, stamp)
    return f"{base_url.rstrip('/')}/api/media/{quote(key, safe='/')}?sig={sig}"
