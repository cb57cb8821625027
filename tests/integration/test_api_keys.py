"""REST API keys: shown once, stored as a hash, scoped, limited, revocable, audited, and dead
the moment their account is suspended or deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from stylestudio.db import session_scope
from stylestudio.models import ApiKey, AuditLogEntry, User
from stylestudio.services.accounts import account_self_service, api_keys
from stylestudio.services.errors import (
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
    ValidationError,
)
from stylestudio.settings import get_settings
from tests.support.builders import new_user
from tests.support.databases import writes_through


def _create(db: Engine, user_id: int, *scopes: str, name: str = "catalog script") -> str:
    with session_scope(db) as session:
        created = api_keys.create_api_key(
            session, user_id=user_id, name=name, scopes=list(scopes or api_keys.SCOPES)
        )
    return created.secret


def _auth(db: Engine, secret: str, address: str = "203.0.113.7") -> api_keys.ApiPrincipal:
    """As a REST API request authenticates (a read, and a write only when a use is due)."""
    return api_keys.authenticate_api_request(db, secret, address=address)


def test_a_key_is_shown_once_stored_as_a_hash_and_acts_for_its_owner(db: Engine) -> None:
    user_id = new_user(db)
    secret = _create(db, user_id, "read", "generate")
    assert secret.startswith("ss_live_") and len(secret) >= 8 + 43
    with session_scope(db) as session:
        [row] = session.exec(select(ApiKey)).all()
        assert secret not in (row.key_hash, row.prefix, row.name)
        assert row.prefix == secret[:16]
        assert row.key_hash == api_keys.hash_key(secret)
        [view] = api_keys.list_api_keys(session, user_id=user_id)
    assert view.scopes == ("generate", "read") and view.status == "active"
    assert view.last_used_at == ""
    assert secret not in repr(view)

    principal = _auth(db, secret)
    assert principal.user_id == user_id
    assert principal.scopes == {"generate", "read"}
    principal.require("read")
    with pytest.raises(ForbiddenError, match="credits:read"):
        principal.require("credits:read")
    with session_scope(db) as session:
        [view] = api_keys.list_api_keys(session, user_id=user_id)
    assert view.last_used_at != "" and view.last_used_ip == "203.0.113.7"


@pytest.mark.parametrize(
    "secret",
    ["", "ss_live_", "ss_live_" + "A" * 43, "sk_live_whatever", "ss_live_" + "x" * 5000],
)
def test_unknown_and_malformed_keys_are_refused_alike(db: Engine, secret: str) -> None:
    user_id = new_user(db)
    real = _create(db, user_id)
    with pytest.raises(UnauthorizedError) as refused:
        _auth(db, secret)
    assert real not in str(refused.value)


def test_a_revoked_key_stops_at_once_and_revoking_is_the_owners_alone(db: Engine) -> None:
    owner, stranger = new_user(db), new_user(db, "stranger@example.com")
    secret = _create(db, owner)
    key_id = _auth(db, secret).key_id
    with session_scope(db) as session, pytest.raises(NotFoundError):
        api_keys.revoke_api_key(session, user_id=stranger, key_id=key_id)
    _auth(db, secret)  # still alive
    with session_scope(db) as session:
        api_keys.revoke_api_key(session, user_id=owner, key_id=key_id, address="198.51.100.2")
    with session_scope(db) as session:
        api_keys.revoke_api_key(session, user_id=owner, key_id=key_id)  # twice: no change
    with pytest.raises(UnauthorizedError):
        _auth(db, secret)
    with session_scope(db) as session:
        actions = [
            (e.action, e.target_id, e.actor_user_id, e.ip_address)
            for e in session.exec(select(AuditLogEntry).order_by(col(AuditLogEntry.id))).all()
            if e.target_type == "api_key"
        ]
    assert actions == [
        ("api_key.create", str(key_id), owner, None),
        ("api_key.revoke", str(key_id), owner, "198.51.100.2"),
    ]


def test_suspending_or_deleting_the_account_stops_its_keys(db: Engine) -> None:
    suspended, deleted = new_user(db, "s@example.com"), new_user(db, "d@example.com")
    key_s, key_d = _create(db, suspended), _create(db, deleted)
    with session_scope(db) as session:
        user = session.get(User, suspended)
        assert user is not None
        user.is_disabled = True
        session.add(user)
    with pytest.raises(UnauthorizedError):
        _auth(db, key_s)
    with session_scope(db) as session:
        account_self_service.delete_account(session, user_id=deleted, confirm_email="d@example.com")
    with pytest.raises(UnauthorizedError):
        _auth(db, key_d)
    with session_scope(db) as session:
        assert session.exec(select(ApiKey).where(ApiKey.user_id == deleted)).all() == []
        with pytest.raises(ForbiddenError):
            api_keys.create_api_key(session, user_id=suspended, name="again", scopes=["read"])


def test_names_scopes_and_the_per_user_limit(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    user_id = new_user(db)
    for name, scopes, message in [
        ("  ", ["read"], "name"),
        ("x" * 101, ["read"], "100 characters"),
        ("script", [], "at least one scope"),
        ("script", ["read", "admin"], "Unknown scope: admin"),
    ]:
        with session_scope(db) as session, pytest.raises(ValidationError, match=message):
            api_keys.create_api_key(session, user_id=user_id, name=name, scopes=scopes)
    monkeypatch.setattr(get_settings(), "api_keys_per_user", 2)
    first = _create(db, user_id, name="one")
    _create(db, user_id, name="two")
    with session_scope(db) as session, pytest.raises(ValidationError, match="Revoke one first"):
        api_keys.create_api_key(session, user_id=user_id, name="three", scopes=["read"])
    with session_scope(db) as session:
        api_keys.revoke_api_key(session, user_id=user_id, key_id=_auth(db, first).key_id)
    _create(db, user_id, name="three")  # a revoked key no longer counts


def test_a_key_used_again_within_the_minute_writes_nothing(db: Engine) -> None:
    user_id = new_user(db)
    secret = _create(db, user_id)
    start = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

    def updates_when_used(seconds: int, address: str = "203.0.113.7") -> int:
        with writes_through(db) as writes:
            api_keys.authenticate_api_request(
                db, secret, address=address, now=start + timedelta(seconds=seconds)
            )
        if not any(w.startswith("UPDATE") for w in writes):
            assert writes == []  # not even SQLite's write lock
        return sum(w.startswith("UPDATE api_keys") for w in writes)

    def last_use() -> tuple[str, str]:
        with session_scope(db, write=False) as session:
            [view] = api_keys.list_api_keys(session, user_id=user_id)
        return view.last_used_at, view.last_used_ip

    assert updates_when_used(0) == 1  # never used: recorded
    assert updates_when_used(1) == 0
    assert updates_when_used(59) == 0
    assert last_use() == ("2026-05-01T12:00:00Z", "203.0.113.7")
    assert updates_when_used(60) == 1  # a minute on
    assert updates_when_used(61, address="198.51.100.9") == 1  # another address
    assert updates_when_used(62, address="198.51.100.9") == 0
    assert last_use() == ("2026-05-01T12:01:01Z", "198.51.100.9")

    # Two requests that both found the use due: the one that writes second changes nothing.
    key_id = _auth(db, secret, address="198.51.100.9").key_id  # now: the real clock
    recorded = last_use()
    with session_scope(db) as session:
        api_keys.record_key_use(
            session, key_id=key_id, address="198.51.100.9", now=start + timedelta(seconds=90)
        )
    assert last_use() == recorded

    # One write session (scripts, tests) records the use in that session, as before.
    with session_scope(db) as session:
        api_keys.authenticate_api_key(
            session, secret, address="192.0.2.1", now=start + timedelta(seconds=200)
        )
    assert last_use() == ("2026-05-01T12:03:20Z", "192.0.2.1")
