"""HTTP routes next to Reflex's own: health and media (webhooks and OAuth come later)."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from stylestudio.adapters.storage import LocalStorage, StorageError
from stylestudio.db import get_engine
from stylestudio.runtime import get_storage
from stylestudio.services.health import database_status
from stylestudio.services.media import EXTENSIONS

_CONTENT_TYPES = {ext: ctype for ctype, ext in EXTENSIONS.items()}


async def health(_request: Request) -> JSONResponse:
    db = await asyncio.to_thread(database_status, get_engine())
    ok = db["database"] == "ok"
    return JSONResponse(
        {"status": "ok" if ok else "degraded", **db}, status_code=200 if ok else 503
    )


async def media(request: Request) -> Response:
    """Stored images by key. Keys are random and unguessable (signed URLs come later)."""
    key = request.path_params["key"]
    storage = get_storage()
    if not isinstance(storage, LocalStorage):
        return Response(status_code=404)
    try:
        path = storage.path_of(key)
    except StorageError:
        return Response(status_code=404)
    if not path.is_file():
        return Response(status_code=404)
    ext = key.rsplit(".", 1)[-1].lower()
    return FileResponse(
        path,
        media_type=_CONTENT_TYPES.get(ext, "application/octet-stream"),
        headers={
            "Cache-Control": "private, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )


def build_api() -> Starlette:
    return Starlette(
        routes=[
            Route("/api/health", health, methods=["GET"]),
            Route("/api/media/{key:path}", media, methods=["GET"]),
        ]
    )
