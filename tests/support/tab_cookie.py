"""A tab's websocket as the browser opened it, with or without the session cookie: what the
state's handlers read the session from (this process's socket map, by the socket's id)."""

from __future__ import annotations

import uuid
from typing import Any

from reflex.istate.data import SessionData

from stylestudio.api.session_cookie import SESSION_COOKIE
from stylestudio.state import socket_sessions


def connect_with_cookie(root: Any, token: str | None) -> str:
    """As if the tab had opened a new websocket carrying this session cookie (None: none).
    Returns the socket's id."""
    sid = f"test-socket-{uuid.uuid4().hex}"
    socket_sessions.connect(sid, f"{SESSION_COOKIE}={token}" if token else None)
    root.rx_router_session = SessionData(
        client_token=root.rx_router_session.client_token, session_id=sid
    )
    return sid
