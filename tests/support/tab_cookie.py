"""A tab's websocket as the browser opened it, with or without the session cookie: what the
state's handlers read the session from (`router.headers.cookie`)."""

from __future__ import annotations

from typing import Any

from reflex.istate.data import HeaderData

from stylestudio.api.session_cookie import SESSION_COOKIE


def connect_with_cookie(root: Any, token: str | None) -> None:
    """As if the tab's websocket handshake had carried this session cookie (None: none)."""
    root.rx_router_headers = HeaderData(cookie=f"{SESSION_COOKIE}={token}" if token else "")
