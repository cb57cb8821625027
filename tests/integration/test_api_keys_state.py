"""/account's Developers section through Reflex's own event processing: a key created from
the page reaches the browser once, as a client-side event, and never the tab's state (which
Reflex saves to Redis or disk); it works, is listed, and is refused once revoked; another
user's tab cannot revoke it. Against SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import reflex as rx
from reflex.state import BaseState
from reflex_base.utils.format import format_ref
from sqlalchemy.engine import Engine

from stylestudio.db import session_scope
from stylestudio.services.accounts import api_keys
from stylestudio.services.errors import UnauthorizedError
from stylestudio.settings import get_settings
from stylestudio.state.account import AccountState
from stylestudio.state.api_keys import SECRET_FIELD_ID, ApiKeysState
from tests.support.app_states import app_db as app_db
from tests.support.builders import new_signed_in_user
from tests.support.event_processing import AppEvents, event_name, new_tab

FIELD_REF = format_ref(SECRET_FIELD_ID)
SECRET = re.compile(re.escape(api_keys.KEY_MARK) + r"[A-Za-z0-9_-]{43}")


def _works(db: Engine, secret: str) -> frozenset[str] | None:
    try:
        with session_scope(db) as session:
            return api_keys.authenticate_api_key(session, secret).scopes
    except UnauthorizedError:
        return None


async def _stored(app: AppEvents, tab: str) -> bytes:
    """Every state of the tab as the Redis or disk state manager would write it."""
    root = await app.manager.get_state(rx.BaseStateToken(ident=tab, cls=ApiKeysState))
    await root.get_state(ApiKeysState)
    pending: list[BaseState] = [root]
    written = b""
    while pending:
        state = pending.pop()
        written += state._serialize()
        pending.extend(state.substates.values())
    return written


async def test_a_key_is_shown_once_never_stored_and_dies_when_revoked(app_db: Engine) -> None:
    _owner, owner_session = new_signed_in_user(app_db, "keys.owner@example.com")
    _other, other_session = new_signed_in_user(app_db, "keys.other@example.com")
    create, revoke = event_name(ApiKeysState, "create_key"), event_name(ApiKeysState, "revoke_key")
    async with AppEvents() as app:
        tab = new_tab()

        async def send(name: str, payload: dict[str, Any], session: str = owner_session) -> Any:
            answer = await app.send(tab, name, payload, session=session, path="/account")
            assert not answer.exceptions
            return answer

        await send(event_name(AccountState, "open_account"), {})
        assert (await app.state_of(tab, ApiKeysState))["keys"] == []

        # Refused by the service: said in the section, nothing created, nothing sent.
        refused = await send(create, {"form": {"name": "  ", "scope_generate": "on"}})
        view = await app.state_of(tab, ApiKeysState)
        assert view["failed"] and "name" in view["message"]
        assert view["keys"] == [] and not SECRET.search(" ".join(refused.frontend_events))
        refused = await send(create, {"form": {"name": "No scopes"}})
        assert "scope" in (await app.state_of(tab, ApiKeysState))["message"]

        answer = await send(
            create, {"form": {"name": "Sync", "scope_generate": True, "scope_credits_read": "on"}}
        )
        [secret] = {m.group() for e in answer.frontend_events for m in SECRET.finditer(e)}
        [event] = [e for e in answer.frontend_events if secret in e]
        assert event == repr({"ref": FIELD_REF, "value": secret})  # rx.set_value's payload
        view = await app.state_of(tab, ApiKeysState)
        assert (view["created_name"], view["created_prefix"]) == ("Sync", secret[:16])
        assert view["message"] == ""
        [key] = view["keys"]
        assert key.scopes == ("generate", "credits:read") and key.status == "active"
        assert _works(app_db, secret) == frozenset({"generate", "credits:read"})
        stored = await _stored(app, tab)
        assert secret.encode() not in stored and secret[16:].encode() not in stored
        assert secret[:16].encode() in stored  # the look-up worked: the prefix is there

        # `Done` empties the field in the browser; opening the page again forgets the panel.
        done = await send(event_name(ApiKeysState, "dismiss_secret"), {})
        assert repr({"ref": FIELD_REF, "value": ""}) in done.frontend_events
        assert (await app.state_of(tab, ApiKeysState))["created_prefix"] == ""
        await send(create, {"form": {"name": "Second", "scope_read": "on"}})
        await send(event_name(AccountState, "open_account"), {})
        assert (await app.state_of(tab, ApiKeysState))["created_prefix"] == ""

        # Another user's tab cannot revoke it: "not found", and it still works.
        intruder = new_tab()
        await app.send(
            intruder, event_name(AccountState, "open_account"), {}, session=other_session
        )
        answer = await app.send(
            intruder, revoke, {"key_id": key.id}, session=other_session, path="/account"
        )
        assert not answer.exceptions
        assert "does not exist" in (await app.state_of(intruder, ApiKeysState))["message"]
        assert _works(app_db, secret) is not None

        await send(revoke, {"key_id": key.id})
        view = await app.state_of(tab, ApiKeysState)
        assert [k.status for k in view["keys"]] == ["active", "revoked"]
        assert _works(app_db, secret) is None

        # A signed-out tab is sent to /login and creates nothing.
        gone = await app.send(new_tab(), create, {"form": {"name": "x"}}, path="/account")
        assert any("/login" in e for e in gone.frontend_events)


async def test_the_limit_is_said_in_the_section(app_db: Engine, monkeypatch: Any) -> None:
    monkeypatch.setenv("STYLESTUDIO_API_KEYS_PER_USER", "1")
    get_settings.cache_clear()
    _user, session = new_signed_in_user(app_db, "keys.limit@example.com")
    create = event_name(ApiKeysState, "create_key")
    async with AppEvents() as app:
        tab = new_tab()
        for name in ("first", "second"):
            await app.send(
                tab, create, {"form": {"name": name, "scope_read": "on"}}, session=session
            )
        view = await app.state_of(tab, ApiKeysState)
    assert view["failed"] and "Revoke one first" in view["message"]
    assert [k.name for k in view["keys"]] == ["first"]
