"""Which session cookie each websocket carried, kept in this process's memory and nowhere else.

Reflex saves every tab's router data — the websocket handshake's headers included — with the
tab's state, to disk or to Redis, and logs it with a failed event. The session cookie must
never rest or print there, so the event namespace below takes the `Cookie` (and any
`Authorization`) header out of the handshake's headers before Reflex builds router data from
them, and keeps the session token here, keyed by the socket's id (`router.session.session_id`).
A socket lives in one process, and so does this map; the entry goes when the socket closes.

An upload reaches Reflex over HTTP, perhaps in a process the tab's socket is not connected to:
the upload guard resolves the upload request's own cookie and lends its token here, keyed by
the tab's client token, for as long as the upload's handler runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from reflex.app import App, EventNamespace
from reflex_base import constants

from stylestudio.api.session_cookie import session_token_from, sign_in_nonce_from

# sid -> the session token its handshake carried ("" when it carried none).
_socket_tokens: dict[str, str] = {}
# sid -> the sign-in nonce its handshake carried (the login form's browser binding).
_socket_nonces: dict[str, str] = {}
# sid -> the user id this socket's session was last found to own the tab's state for.
_checked_owner: dict[str, int] = {}
# client token -> session tokens of uploads in flight for that tab (one per request).
_upload_tokens: dict[str, list[str]] = {}

# Headers that carry credentials: never part of router data.
_CREDENTIAL_HEADERS = ("cookie", "authorization")


def connect(sid: str, cookie_header: str | None) -> None:
    """Remember the session token of a socket's handshake (none: an anonymous socket)."""
    _socket_tokens[sid] = session_token_from(cookie_header) or ""
    _socket_nonces[sid] = sign_in_nonce_from(cookie_header) or ""
    _checked_owner.pop(sid, None)


def disconnect(sid: str) -> None:
    _socket_tokens.pop(sid, None)
    _socket_nonces.pop(sid, None)
    _checked_owner.pop(sid, None)


def sign_in_nonce(sid: str) -> str | None:
    """The sign-in nonce cookie the socket's handshake carried
    (services/accounts/sign_in_tickets.py)."""
    return _socket_nonces.get(sid) or None


def session_token(sid: str, client_token: str) -> tuple[bool, str | None]:
    """(known, token): the session token an event of this tab may act with.

    `known` is False when neither a socket of this process nor an upload in flight speaks
    for the tab (its socket closed, or lives in another process): nothing can be said
    about who is there, which is not the same as "nobody signed in".
    """
    if sid in _socket_tokens:
        return True, _socket_tokens[sid] or None
    uploads = _upload_tokens.get(client_token)
    if uploads:
        return True, uploads[-1]
    return False, None


def owner_checked(sid: str) -> int | None:
    return _checked_owner.get(sid)


def mark_owner_checked(sid: str, user_id: int) -> None:
    if sid in _socket_tokens:
        _checked_owner[sid] = user_id


@contextmanager
def upload_session(client_token: str, token: str) -> Iterator[None]:
    """The upload request's session speaks for the tab while its handler runs."""
    _upload_tokens.setdefault(client_token, []).append(token)
    try:
        yield
    finally:
        tokens = _upload_tokens[client_token]
        tokens.remove(token)
        if not tokens:
            del _upload_tokens[client_token]


class CookieFreeEventNamespace(EventNamespace):
    """Reflex's event namespace, minus the credentials in the headers it hands to state."""

    def _build_static_router_data(self, sid: str, environ: dict) -> dict[str, Any]:
        data = super()._build_static_router_data(sid, environ)
        headers: dict[str, str] = data[constants.RouteVar.HEADERS]
        connect(sid, headers.get("cookie"))
        for name in _CREDENTIAL_HEADERS:
            headers.pop(name, None)
        return data

    def on_disconnect(self, sid: str) -> Any:
        disconnect(sid)
        return super().on_disconnect(sid)


def install(app: App) -> None:
    """Serve the app's websocket events through `CookieFreeEventNamespace`."""
    current = app.event_namespace
    if current is None or isinstance(current, CookieFreeEventNamespace) or app.sio is None:
        return
    namespace = CookieFreeEventNamespace(current.namespace, app)
    app._event_namespace = namespace
    app.sio.register_namespace(namespace)
