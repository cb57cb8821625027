"""HTTP endpoints that set and clear the session cookie (see api/session_cookie.py).

- `GET /api/auth/begin?next=/login` gives this browser its sign-in nonce cookie (if it has
  none) and sends it back to `next`: the sign-in pages need it before their form works.
- `GET /api/auth/session?ticket=...&next=/path` redeems a sign-in ticket (services/
  accounts/sign_in_tickets.py) with this browser's sign-in nonce, sets the HttpOnly cookie and sends
  the browser on to `next` on this site; a full page load, so the page's new websocket
  carries the cookie. A ticket issued to another browser is refused and sets nothing.
- `GET /api/auth/signed-out` clears the cookie (the session already ended in the database,
  in the sign-out event), gives a fresh sign-in nonce and sends the browser to /login.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from stylestudio.adapters.storage import StorageUnavailable
from stylestudio.api.session_cookie import (
    clear_session_cookie,
    clear_sign_in_nonce_cookie,
    frontend_url,
    safe_next,
    session_token_from,
    set_session_cookie,
    set_sign_in_nonce_cookie,
    sign_in_nonce_from,
)
from stylestudio.api.stored_media import store_unavailable
from stylestudio.db import get_engine, session_scope
from stylestudio.runtime import get_storage
from stylestudio.services.accounts import account_self_service, accounts, sign_in_tickets
from stylestudio.services.errors import DomainError
from stylestudio.settings import get_settings

_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
log = logging.getLogger(__name__)


def session_request(request: Request) -> accounts.SessionRequest:
    """Where a sign-in comes from, as recorded on its session (device, address)."""
    return accounts.SessionRequest(
        days=get_settings().session_days,
        ip_address=get_settings().client_address(
            request.client.host if request.client else None,
            request.headers.get("x-forwarded-for"),
        ),
        user_agent=request.headers.get("user-agent"),
    )


async def begin_sign_in(request: Request) -> Response:
    """Give this browser a sign-in nonce (a fresh random one; the request cannot choose it)
    unless it holds one, then back to the sign-in page it came from."""
    target = safe_next(request.query_params.get("next"), default="/login")
    response = RedirectResponse(frontend_url(target), 303, headers=_NO_STORE)
    held = sign_in_nonce_from(request.headers.get("cookie"))
    if sign_in_tickets.usable_nonce(held) is None:
        set_sign_in_nonce_cookie(response, sign_in_tickets.new_browser_nonce())
    return response


async def open_session(request: Request) -> Response:
    ticket = request.query_params.get("ticket")
    target = safe_next(request.query_params.get("next"))
    nonce = sign_in_nonce_from(request.headers.get("cookie"))
    details = session_request(request)

    def redeem() -> str:
        with session_scope(get_engine()) as session:
            return sign_in_tickets.redeem_ticket(
                session, ticket=ticket, browser_nonce=nonce, request=details
            )

    try:
        token = await asyncio.to_thread(redeem)
    except DomainError:
        log.warning(
            "sign-in ticket refused (unknown, used, expired, or issued to another browser; "
            "this request %s a sign-in nonce)",
            "carries" if nonce else "has no",
        )
        return RedirectResponse(frontend_url("/login?error=expired"), 303, headers=_NO_STORE)
    response = RedirectResponse(frontend_url(target), 303, headers=_NO_STORE)
    set_session_cookie(response, token)
    clear_sign_in_nonce_cookie(response)  # used up: the next sign-in gets a new one
    return response


async def signed_out(request: Request) -> Response:
    # Only a fixed word travels here, never a message or a URL (no open redirect).
    deleted = request.query_params.get("then") == "deleted"
    target = "/login?account=deleted" if deleted else "/login"
    response = RedirectResponse(frontend_url(target), 303, headers=_NO_STORE)
    clear_session_cookie(response)
    # /login's form needs one: given here, it needs no detour through /api/auth/begin.
    set_sign_in_nonce_cookie(response, sign_in_tickets.new_browser_nonce())
    return response


async def export_data(request: Request) -> Response:
    """`Export my data`: a zip of every image and a JSON of the account, for the signed-in
    user of this browser (the HttpOnly cookie comes with this same-site download)."""
    token = session_token_from(request.headers.get("cookie"))

    def build() -> bytes | None:
        with session_scope(get_engine(), write=False) as session:
            user = accounts.resolve_session(session, token=token)
            if user is None:
                return None
            return account_self_service.export_zip(session, user_id=user.id, storage=get_storage())

    try:
        data = await asyncio.to_thread(build)
    except StorageUnavailable as exc:
        return store_unavailable(exc, "export")
    if data is None:
        return Response("Sign in to export your data.", status_code=401, headers=_NO_STORE)
    return Response(
        data,
        media_type="application/zip",
        headers={
            **_NO_STORE,
            "Content-Disposition": 'attachment; filename="style-studio-export.zip"',
        },
    )


def auth_routes() -> list[Route]:
    return [
        Route("/api/auth/begin", begin_sign_in, methods=["GET"]),
        Route("/api/auth/session", open_session, methods=["GET"]),
        Route("/api/auth/signed-out", signed_out, methods=["GET"]),
        Route("/api/account/export", export_data, methods=["GET"]),
    ]


def session_url(ticket: str, next_path: str = "/upload") -> str:
    """Where a sign-in event sends the browser: the backend redeems the ticket."""
    query = urlencode({"ticket": ticket, "next": safe_next(next_path)})
    return f"{get_settings().api_url.rstrip('/')}/api/auth/session?{query}"


def begin_url(next_path: str = "/login") -> str:
    """Where a sign-in page sends a browser that has no sign-in nonce yet."""
    query = urlencode({"next": safe_next(next_path, default="/login")})
    return f"{get_settings().api_url.rstrip('/')}/api/auth/begin?{query}"


def export_url() -> str:
    return f"{get_settings().api_url.rstrip('/')}/api/account/export"


def signed_out_url(*, account_deleted: bool = False) -> str:
    url = f"{get_settings().api_url.rstrip('/')}/api/auth/signed-out"
    return url + "?then=deleted" if account_deleted else url
