"""The session cookie: set and cleared only by HTTP responses of ours, `HttpOnly` (no page
script can read it), `SameSite=Lax`, `Secure` in production. The Reflex event handlers read it
from the headers of the websocket handshake; it never enters Reflex state.

Beside it, the sign-in nonce cookie (`ss_signin`): a random value this browser holds before
it signs in, `HttpOnly`, `SameSite=Strict`, two hours; a sign-in ticket is bound to it (see
services/accounts/sign_in_tickets.py for why)."""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from starlette.responses import Response

from stylestudio.settings import get_settings

SESSION_COOKIE = "ss_session"
SIGN_IN_NONCE_COOKIE = "ss_signin"
# Outlives a sign-in page left open for a while; renewed at every sign-out and sign-in.
SIGN_IN_NONCE_MAX_AGE_S = 2 * 3600


def set_session_cookie(response: Response, token: str) -> None:
    settings = get_settings()
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_days * 24 * 3600,
        path="/",
        httponly=True,
        secure=settings.environment == "production",
        samesite="lax",
    )


def clear_session_cookie(response: Response) -> None:
    settings = get_settings()
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        secure=settings.environment == "production",
        samesite="lax",
    )


def set_sign_in_nonce_cookie(response: Response, nonce: str) -> None:
    response.set_cookie(
        SIGN_IN_NONCE_COOKIE,
        nonce,
        max_age=SIGN_IN_NONCE_MAX_AGE_S,
        path="/",  # the websocket handshake (/_event) and /api/auth/session both need it
        httponly=True,
        secure=get_settings().environment == "production",
        # Strict: no navigation another site starts carries it, even through our redirects.
        samesite="strict",
    )


def clear_sign_in_nonce_cookie(response: Response) -> None:
    response.delete_cookie(
        SIGN_IN_NONCE_COOKIE,
        path="/",
        httponly=True,
        secure=get_settings().environment == "production",
        samesite="strict",
    )


def session_token_from(cookie_header: str | None) -> str | None:
    """The session token in a `Cookie` header, if any (a malformed header has none)."""
    return _cookie_from(cookie_header, SESSION_COOKIE)


def sign_in_nonce_from(cookie_header: str | None) -> str | None:
    """The sign-in nonce in a `Cookie` header, if any."""
    return _cookie_from(cookie_header, SIGN_IN_NONCE_COOKIE)


def _cookie_from(cookie_header: str | None, name: str) -> str | None:
    if not cookie_header or len(cookie_header) > 8192:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return None
    morsel = jar.get(name)
    value = morsel.value if morsel is not None else ""
    return value if 0 < len(value) <= 128 else None


def safe_next(value: object, default: str = "/upload") -> str:
    """A same-site path to go to after signing in: a path on this site, never another site
    (no scheme, no host, no `//` or `\\` tricks), else `default`."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 500:
        return default
    if value.startswith(("//", "/\\")) or "\\" in value or any(ord(c) < 32 for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def frontend_url(path: str) -> str:
    """An absolute URL of the page at `path` (a `safe_next` path)."""
    return get_settings().public_url.rstrip("/") + path
