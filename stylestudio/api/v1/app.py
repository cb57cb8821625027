"""The REST API's FastAPI app, mounted by api/routes.py at `/api/v1`: its OpenAPI 3.1
document at `/api/v1/openapi.json` and its reference page at `/api/v1/docs` (rendered
here from that document: no scripts, nothing from a CDN)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stylestudio.api.v1 import credits_routes, generation_routes, upload_routes
from stylestudio.api.v1.problems import install_handlers, problem
from stylestudio.api.v1.reference_page import reference_html
from stylestudio.services.media.media import MAX_UPLOAD_BYTES

PREFIX = "/api/v1"
TITLE = "Style Studio API"
DESCRIPTION = (
    "Upload product photos, start generations in any style, poll them and download the "
    "results, with an API key from your account page (`Authorization: Bearer ss_live_…`). "
    "Errors are RFC 9457 problem details with a stable `code`."
)
# A JSON body is small; an upload is a photo and a little multipart framing.
MAX_JSON_BYTES = 64 * 1024
MAX_MULTIPART_BYTES = MAX_UPLOAD_BYTES + 64 * 1024


def body_limit(app: ASGIApp) -> ASGIApp:
    """Refuse a body past its cap with 413 before it is parsed or spooled to disk: a
    declared Content-Length at once, a streamed one at the chunk that passes the cap."""

    async def guard(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "DELETE"):
            await app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        multipart = headers.get(b"content-type", b"").startswith(b"multipart/")
        cap = MAX_MULTIPART_BYTES if multipart else MAX_JSON_BYTES
        declared = headers.get(b"content-length", b"")
        too_large = problem(413, "payload_too_large", f"The body is larger than {cap} bytes.")
        if declared.isdigit() and int(declared) > cap:
            await too_large(scope, receive, send)
            return
        seen = 0
        refused = False

        async def counted() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    refused = True
                    await too_large(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        await app(scope, counted, unless_refused)

    return guard


def build_v1_app() -> FastAPI:
    app = FastAPI(
        title=TITLE,
        version="1.0.0",
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        servers=[{"url": PREFIX}],
        separate_input_output_schemas=False,
    )
    install_handlers(app)
    for module in (credits_routes, upload_routes, generation_routes):
        app.include_router(module.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    def docs(_request: Request) -> HTMLResponse:
        return HTMLResponse(reference_html(app.openapi()), headers={"Cache-Control": "no-cache"})

    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        app.openapi_schema = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            description=app.description,
            routes=app.routes,
            servers=app.servers,
            separate_input_output_schemas=False,
        )
    return app.openapi_schema


def mounted_v1() -> ASGIApp:
    """What api/routes.py mounts at /api/v1."""
    return body_limit(build_v1_app())
