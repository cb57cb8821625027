"""The session cookie of a websocket stays in this process's memory, out of the router data
Reflex persists; a tab whose state is another user's than the socket's cookie signs in is
reset before the socket's event is handled. Against SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import reflex as rx
from reflex.istate.manager import StateManager
from reflex_base import constants
from reflex_base.event import Event
from sqlalchemy.engine import Engine

from stylestudio.db import session_scope
from stylestudio.services.accounts import accounts
from stylestudio.state import socket_sessions
from stylestudio.state.session import SessionState, TabOwnerCheck
from tests.support.app_states import app_db as app_db
from tests.support.app_states import state_manager as state_manager
from tests.support.builders import new_signed_in_user
from tests.support.tab_cookie import connect_with_cookie

TOKEN = "live-session-token-" + uuid.uuid4().hex


def test_the_handshake_cookie_is_kept_out_of_router_data_and_forgotten_on_disconnect() -> None:
    namespace = object.__new__(socket_sessions.CookieFreeEventNamespace)
    environ = {
        "asgi.scope": {
            "headers": [
                (b"host", b"localhost:8000"),
                (b"cookie", f"theme=dark; ss_session={TOKEN}".encode()),
                (b"authorization", b"Bearer abc"),
                (b"origin", b"http://localhost:3000"),
            ],
            "client": ("127.0.0.1", 5000),
        }
    }
    data = namespace._build_static_router_data("sid-1", environ)
    headers = data[constants.RouteVar.HEADERS]
    assert "cookie" not in headers and "authorization" not in headers
    assert headers["origin"] == "http://localhost:3000"
    assert TOKEN not in repr(data)
    assert socket_sessions.session_token("sid-1", "tab") == (True, TOKEN)

    socket_sessions.disconnect("sid-1")
    assert socket_sessions.session_token("sid-1", "tab") == (False, None)


async def _event_on(root: Any) -> None:
    """What happens before any handler of an event of this socket runs."""
    await TabOwnerCheck().preprocess(app=None, state=root, event=Event(name="x"))  # type: ignore[arg-type]


@pytest.mark.parametrize("thief", ["no cookie", "another user's cookie", "a revoked cookie"])
async def test_a_socket_without_the_owners_cookie_gets_the_tab_reset(
    app_db: Engine, state_manager: StateManager, thief: str
) -> None:
    owner_id, owner_token = new_signed_in_user(app_db, "owner@example.com")
    _, other_token = new_signed_in_user(app_db, "other@example.com")
    async with state_manager.modify_state(
        rx.BaseStateToken(ident=str(uuid.uuid4()), cls=SessionState)
    ) as root:
        connect_with_cookie(root, owner_token)
        session = await root.get_state(SessionState)
        await session._current_user()  # what every page's on_load does first
        assert (session._user_id, session.user_email) == (owner_id, "owner@example.com")

        # The owner's own socket, reconnected: nothing changes.
        connect_with_cookie(root, owner_token)
        await _event_on(root)
        assert session.user_email == "owner@example.com"

        if thief == "a revoked cookie":
            with session_scope(app_db) as s:
                accounts.end_session(s, token=owner_token)
        cookie = {"no cookie": None, "another user's cookie": other_token}.get(thief, owner_token)
        connect_with_cookie(root, cookie)
        await _event_on(root)
        assert (session._user_id, session.signed_in, session.user_email) == (0, False, "")
