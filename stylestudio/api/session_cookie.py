"""The session cookie: set and cleared only by HTTP responses of ours, `HttpOnly` (no page
script can read it), `SameSite=Lax`, `Secure` in production. The Reflex event handlers read it
from the headers of the websocket handshake; it never enters Reflex state."""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from starlette.responses import Response

from stylestudio.settings import get_settings

SESSION_COOKIE = "ss_session"


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


def session_token_from(cookie_header: str | None) -> str | None:
    """The session token in a `Cookie` header, if any (a malformed header has none)."""
    if not cookie_header or len(cookie_header) > 8192:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return None
    morsel = jar.get(SESSION_COOKIE)
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
