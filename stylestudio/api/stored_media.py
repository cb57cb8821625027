"""One stored object as an HTTP answer, streamed from whichever storage is configured
(local files or S3), with its validators: a browser that holds the same bytes gets a 304."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from email.utils import format_datetime

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.staticfiles import NotModifiedResponse

from stylestudio.adapters.storage import (
    MediaStorage,
    OpenedFile,
    StorageError,
    StorageUnavailable,
)

log = logging.getLogger(__name__)
# Up to this size an object is read whole (display images and thumbnails); beyond, streamed.
READ_WHOLE_BYTES = 4 * 1024 * 1024
# The store is away (S3 down, throttled, misconfigured): not a missing image, and never
# cached; the browser may ask again shortly.
_UNAVAILABLE_HEADERS = {"Cache-Control": "no-store", "Retry-After": "5"}
STORE_DOWN_MESSAGE = "The image store is not answering. Nothing is lost: try again in a moment."


def store_unavailable(exc: StorageUnavailable, what: str) -> Response:
    """503 (with Retry-After) for a download the store could not serve: the images are not
    gone, so never 404 or 500."""
    log.warning("media store unavailable for %s: %s", what, exc)
    return Response(STORE_DOWN_MESSAGE, status_code=503, headers=_UNAVAILABLE_HEADERS)


async def stored_media_response(
    request: Request,
    storage: MediaStorage,
    key: str,
    *,
    media_type: str,
    headers: Mapping[str, str],
) -> Response | None:
    """The object's bytes (200), or 304 when the request's If-None-Match holds its ETag, or
    503 when the store does not answer; None when there is no such object: the caller says
    404."""
    if_none_match = request.headers.get("if-none-match", "")
    try:
        opened, body = await asyncio.to_thread(_open, storage, key, if_none_match)
    except StorageUnavailable as exc:
        log.warning("media store unavailable: %s", exc)
        return Response(status_code=503, headers=_UNAVAILABLE_HEADERS)
    except StorageError:
        return None
    validators = {
        **headers,
        "ETag": opened.etag,
        "Last-Modified": format_datetime(opened.modified_at, usegmt=True),
    }
    if _matches(if_none_match, opened.etag):
        return NotModifiedResponse(Headers(validators))
    if body is not None:
        return Response(body, media_type=media_type, headers=validators)
    return StreamingResponse(
        _chunks(opened),
        media_type=media_type,
        headers={**validators, "Content-Length": str(opened.size_bytes)},
    )


def _open(storage: MediaStorage, key: str, if_none_match: str) -> tuple[OpenedFile, bytes | None]:
    """The object, and (unless the browser has it already) its bytes when it is small: one
    thread hop for the common image instead of one per chunk. A large one is streamed."""
    opened = storage.open(key)
    if _matches(if_none_match, opened.etag):
        opened.close()
        return opened, None
    if opened.size_bytes > READ_WHOLE_BYTES:
        return opened, None
    try:
        return opened, b"".join(opened.chunks)
    finally:
        opened.close()


def _matches(if_none_match: str, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _chunks(opened: OpenedFile) -> Iterator[bytes]:
    # Starlette reads a plain iterator in its thread pool, so a slow S3 read never blocks
    # the event loop; the object is released however the response ends.
    try:
        yield from opened.chunks
    finally:
        opened.close()
