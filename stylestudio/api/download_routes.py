"""`Download all` in the viewer: `GET <api>/api/generations/<id>/download` gives the zip of
every variation of one generation to its owner, signed in in this browser (the HttpOnly
session cookie comes with this same-site download, as with the account export)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stylestudio.adapters.storage import StorageUnavailable
from stylestudio.api.session_cookie import session_token_from
from stylestudio.api.stored_media import store_unavailable
from stylestudio.db import get_engine, session_scope
from stylestudio.runtime import get_storage
from stylestudio.services.accounts import accounts
from stylestudio.services.errors import NotFoundError
from stylestudio.services.library.generation_downloads import generation_zip

_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


async def download_generation(request: Request) -> Response:
    token = session_token_from(request.headers.get("cookie"))
    raw_id = request.path_params["generation_id"]
    generation_id = int(raw_id) if raw_id.isascii() and raw_id.isdigit() else 0

    def build() -> tuple[str, bytes] | None:
        with session_scope(get_engine(), write=False) as session:
            user = accounts.resolve_session(session, token=token)
            if user is None:
                return None
            return generation_zip(
                session, user_id=user.id, generation_id=generation_id, storage=get_storage()
            )

    try:
        built = await asyncio.to_thread(build)
    except NotFoundError as exc:  # another user's generation looks like a missing one
        return Response(exc.message, status_code=404, headers=_NO_STORE)
    except StorageUnavailable as exc:
        return store_unavailable(exc, "download all")
    if built is None:
        return Response("Sign in to download your images.", status_code=401, headers=_NO_STORE)
    name, data = built
    return Response(
        data,
        media_type="application/zip",
        headers={**_NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


def download_routes() -> list[Route]:
    return [
        Route("/api/generations/{generation_id}/download", download_generation, methods=["GET"])
    ]
