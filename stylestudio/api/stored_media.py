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
# The store is away (S3 down, throttled, misconfigured): not a missing image, and never
# cached; the browser may ask again shortly.
_UNAVAILABLE_HEADERS = {"Cache-Control": "no-store", "Retry-After": "5"}


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
    try:
        opened = await asyncio.to_thread(storage.open, key)
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
    if _matches(request.headers.get("if-none-match", ""), opened.etag):
        opened.close()
        return NotModifiedResponse(Headers(validators))
    return StreamingResponse(
        _chunks(opened),
        media_type=media_type,
        headers={**validators, "Content-Length": str(opened.size_bytes)},
    )


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
