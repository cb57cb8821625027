"""Sign-in with a provider: `GET /api/auth/oauth/{provider}/start` sends the browser to the
provider, `GET /api/auth/oauth/{provider}/callback` brings it back signed in.

The start binds the sign-in's `state` to this browser with a short-lived HttpOnly cookie
(`ss_oauth`, sent only to these paths); the callback needs both. That is what stops login
CSRF here (as the sign-in nonce does for password tickets, services/accounts/sign_in_tickets.py):
a callback URL (code and state) taken from the attacker's own sign-in and opened in the
victim's browser finds no matching `ss_oauth` there and sets no session cookie. Every
refusal creates no session and goes to `/login?error=<code>` (messages in
`services.accounts.oauth_accounts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from stylestudio.adapters.oauth import OAuthProvider, OAuthProviderError, find_provider
from stylestudio.api.session_cookie import frontend_url, safe_next, set_session_cookie
from stylestudio.db import get_engine, session_scope
from stylestudio.services.accounts import oauth_accounts
from stylestudio.services.accounts.accounts import SessionRequest
from stylestudio.services.accounts.oauth_accounts import LOGIN_TTL, OAuthSignInError
from stylestudio.settings import get_settings

OAUTH_COOKIE = "ss_oauth"
OAUTH_COOKIE_PATH = "/api/auth/oauth"
log = logging.getLogger(__name__)


def oauth_routes() -> list[Route]:
    return [
        Route("/api/auth/oauth/{provider}/start", start, methods=["GET"]),
        Route("/api/auth/oauth/{provider}/callback", callback, methods=["GET"]),
    ]


def callback_url(provider: str) -> str:
    """The `redirect_uri` registered with the provider for `provider`."""
    return f"{get_settings().api_url.rstrip('/')}/api/auth/oauth/{provider}/callback"


async def start(request: Request) -> Response:
    key = request.path_params["provider"]
    provider = find_provider(get_settings(), key)
    if provider is None:
        return _refuse("provider_unknown", f"{key!r} is not a configured provider", key)
    next_path = safe_next(request.query_params.get("next"))
    pending = oauth_accounts.new_pending_login()
    try:
        url = await provider.authorization_url(
            redirect_uri=callback_url(key),
            state=pending.state,
            nonce=pending.nonce,
            code_verifier=pending.code_verifier,
        )
    except OAuthProviderError as exc:
        return _refuse(exc.code, exc.reason, key)
    await asyncio.to_thread(_begin_login, key, pending, next_path)
    response = RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        OAUTH_COOKIE,
        pending.state,
        max_age=int(LOGIN_TTL.total_seconds()),
        path=OAUTH_COOKIE_PATH,
        httponly=True,
        secure=get_settings().environment == "production",
        # Lax: the provider's redirect back is a top-level GET, which carries it.
        samesite="lax",
    )
    return response


def _begin_login(provider: str, pending: oauth_accounts.PendingLogin, next_path: str) -> None:
    with session_scope(get_engine()) as session:
        oauth_accounts.begin_login(session, provider=provider, pending=pending, next_path=next_path)


async def callback(request: Request) -> Response:
    key = request.path_params["provider"]
    provider = find_provider(get_settings(), key)
    if provider is None:
        return _refuse("provider_unknown", f"{key!r} is not a configured provider", key)
    params = request.query_params
    if "error" in params:
        # Refused at the provider (some leave the state out of this answer). If the sign-in
        # is ours it is claimed all the same, so it cannot be used again.
        with contextlib.suppress(OAuthSignInError):
            await _claim(request, key)
        reason = f"{params.get('error')}: {params.get('error_description', '')}"
        return _refuse("provider_error", reason[:300], key)
    try:
        login = await _claim(request, key)
    except OAuthSignInError as exc:
        return _refuse(exc.error, exc.reason, key)
    code = params.get("code")
    if not code:
        return _refuse("exchange_failed", "the callback has no code", key)
    try:
        token = await _sign_in(request, provider, key, code, login)
    except OAuthProviderError as exc:
        return _refuse(exc.code, exc.reason, key)
    except OAuthSignInError as exc:
        return _refuse(exc.error, exc.reason, key)
    response = RedirectResponse(
        frontend_url(login.next_path), status_code=303, headers={"Cache-Control": "no-store"}
    )
    set_session_cookie(response, token)
    _clear_oauth_cookie(response)
    return response


async def _claim(request: Request, key: str) -> oauth_accounts.ClaimedLogin:
    return await asyncio.to_thread(
        oauth_accounts.claim_login,
        db=get_engine(),
        provider=key,
        state=request.query_params.get("state"),
        browser_state=request.cookies.get(OAUTH_COOKIE),
    )


async def _sign_in(
    request: Request,
    provider: OAuthProvider,
    key: str,
    code: str,
    login: oauth_accounts.ClaimedLogin,
) -> str:
    identity = await provider.fetch_identity(
        code=code,
        redirect_uri=callback_url(key),
        code_verifier=login.code_verifier,
        nonce=login.nonce,
    )
    session_request = SessionRequest(
        days=get_settings().session_days,
        ip_address=get_settings().client_address(
            request.client.host if request.client else None,
            request.headers.get("x-forwarded-for"),
        ),
        user_agent=request.headers.get("user-agent"),
    )
    return await asyncio.to_thread(
        oauth_accounts.finish_login,
        db=get_engine(),
        provider=key,
        identity=identity,
        request=session_request,
    )


def _refuse(error: str, reason: str, provider: str) -> Response:
    log.warning("oauth sign-in with %s refused (%s): %s", provider, error, reason)
    response = RedirectResponse(
        frontend_url(f"/login?error={error}"),
        status_code=303,
        headers={"Cache-Control": "no-store"},
    )
    _clear_oauth_cookie(response)
    return response


def _clear_oauth_cookie(response: Response) -> None:
    response.delete_cookie(
        OAUTH_COOKIE,
        path=OAUTH_COOKIE_PATH,
        httponly=True,
        secure=get_settings().environment == "production",
        samesite="lax",
    )
