"""The account page's services: sessions, password, export and delete. SQLite and
PostgreSQL."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from stylestudio.adapters.local_engine.engine import LocalEngine
from stylestudio.adapters.storage import MediaStorage
from stylestudio.db import session_scope
from stylestudio.models import (
    AuditLogEntry,
    CreditLedgerEntry,
    Generation,
    Image,
    OAuthIdentity,
    User,
    UserSession,
)
from stylestudio.services.accounts import account_self_service, accounts, sign_in_tickets
from stylestudio.services.billing import credits
from stylestudio.services.errors import InvalidCredentialsError, NotFoundError, ValidationError
from stylestudio.services.generation.generation_worker import run_next_generation_job
from tests.support.builders import PASSWORD, new_generation, new_upload, new_user


def _session(db: Engine, user_id: int, agent: str = "Mozilla/5.0 (X11; Linux) Chrome/120") -> str:
    with session_scope(db) as session:
        return accounts.start_session(session, user_id=user_id, user_agent=agent)


def _current(db: Engine, token: str) -> accounts.CurrentUser:
    with session_scope(db, write=False) as session:
        user = accounts.resolve_session(session, token=token)
    assert user is not None
    return user


def _files(storage: MediaStorage) -> set[str]:
    return {f.key for f in storage.list_files()}


def test_sessions_listed_revoked_and_ended_by_a_new_password(db: Engine) -> None:
    user = new_user(db, "me@example.com")
    other = new_user(db, "other@example.com")
    laptop, phone = _session(db, user), _session(db, user, "Mozilla/5.0 (iPhone) Safari/605")
    theirs = _session(db, other)
    me = _current(db, laptop)
    with session_scope(db, write=False) as session:
        rows = account_self_service.list_sessions(
            session, user_id=user, current_session_id=me.session_id
        )
    assert {r.device for r in rows} == {"Chrome on Linux", "Safari on iPhone"}
    assert [r.current for r in rows if r.id == me.session_id] == [True]
    phone_id = _current(db, phone).session_id
    with session_scope(db) as session, pytest.raises(NotFoundError):
        account_self_service.revoke_session(
            session, user_id=other, session_id=phone_id
        )  # another user's session: not found, and it stays
    with session_scope(db) as session:
        account_self_service.revoke_session(session, user_id=user, session_id=phone_id)
    with session_scope(db, write=False) as session:
        assert accounts.resolve_session(session, token=phone) is None
        assert accounts.resolve_session(session, token=laptop) is not None

    tablet = _session(db, user)
    with session_scope(db) as session:
        account_self_service.set_password(
            session,
            user_id=user,
            password_hash=accounts.hash_password("a brand new password"),
            keep_session_id=me.session_id,
        )
    with session_scope(db, write=False) as session:
        assert accounts.resolve_session(session, token=tablet) is None  # ended
        assert accounts.resolve_session(session, token=laptop) is not None  # this one stays
        assert accounts.resolve_session(session, token=theirs) is not None
    with pytest.raises(InvalidCredentialsError):
        sign_in_tickets.password_sign_in(db=db, email="me@example.com", password=PASSWORD)
    assert (
        sign_in_tickets.password_sign_in(
            db=db, email="me@example.com", password="a brand new password"
        )
        == user
    )


def test_sign_out_everywhere(db: Engine) -> None:
    user = new_user(db, "me@example.com")
    tokens = [_session(db, user) for _ in range(3)]
    with session_scope(db) as session:
        assert sign_in_tickets.end_all_sessions(session, user_id=user) == 3
    with session_scope(db, write=False) as session:
        assert all(accounts.resolve_session(session, token=t) is None for t in tokens)


def test_sign_in_tickets_are_single_use_and_short_lived(db: Engine) -> None:
    user = new_user(db, "me@example.com")
    request = accounts.SessionRequest(user_agent="test")
    nonce = sign_in_tickets.new_browser_nonce()
    with session_scope(db) as session:
        ticket = sign_in_tickets.issue_ticket(session, user_id=user, browser_nonce=nonce)
    with session_scope(db) as session:
        token = sign_in_tickets.redeem_ticket(
            session, ticket=ticket, browser_nonce=nonce, request=request
        )
    assert _current(db, token).id == user
    for replay in (ticket, "x" * 43, None, 42):
        with session_scope(db) as session, pytest.raises(NotFoundError):
            sign_in_tickets.redeem_ticket(
                session, ticket=replay, browser_nonce=nonce, request=request
            )
    with session_scope(db, write=False) as session:
        assert session.exec(select(func.count()).select_from(UserSession)).one() == 1


def test_export_holds_every_image_and_the_json(db: Engine, any_storage: MediaStorage) -> None:
    storage = any_storage  # local files, then an S3 bucket
    user = new_user(db, "me@example.com")
    for n in range(2):
        new_generation(db, user_id=user, image_id=new_upload(db, storage, user), key=f"g{n}")
    while run_next_generation_job(db=db, storage=storage, engine=LocalEngine(), worker_id="w"):
        pass
    with session_scope(db, write=False) as session:
        data = account_self_service.export_zip(session, user_id=user, storage=storage)
        keys = [i.storage_key for i in session.exec(select(Image).where(Image.user_id == user))]
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = archive.namelist()
    assert len([n for n in names if n.startswith("images/")]) == len(keys) == 4
    images = {n: archive.read(n) for n in names if n.startswith("images/")}
    assert sorted(images.values()) == sorted(storage.get(k) for k in keys)
    exported = json.loads(archive.read("style-studio.json"))
    assert exported["account"]["email"] == "me@example.com"
    assert len(exported["generations"]) == 2
    assert [e["kind"] for e in exported["credit_ledger"]].count("spend") == 2
    assert "password_hash" not in json.dumps(exported)


def test_delete_account_removes_files_and_rows_and_keeps_the_books(
    db: Engine, any_storage: MediaStorage
) -> None:
    storage = any_storage  # local files, then an S3 bucket
    user = new_user(db, "leaving@example.com")
    stays = new_user(db, "stays@example.com")
    for who, key in ((user, "a"), (stays, "b")):
        new_generation(db, user_id=who, image_id=new_upload(db, storage, who), key=key)
    while run_next_generation_job(db=db, storage=storage, engine=LocalEngine(), worker_id="w"):
        pass
    token = _session(db, user)
    with session_scope(db, write=False) as session:
        mine = [
            k
            for i in session.exec(select(Image).where(Image.user_id == user))
            for k in (i.storage_key, i.thumbnail_key)
            if k
        ]
        ledger_before = session.exec(
            select(func.count()).where(col(CreditLedgerEntry.user_id) == user)
        ).one()
    before = _files(storage)
    with session_scope(db) as session, pytest.raises(ValidationError):
        account_self_service.delete_account(session, user_id=user, confirm_email="wrong@x.y")
    with session_scope(db) as session:
        keys = account_self_service.delete_account(
            session, user_id=user, confirm_email=" Leaving@Example.com "
        )
    for key in keys:
        storage.delete(key)
    assert sorted(keys) == sorted(mine)
    assert _files(storage) == before - set(mine)  # the other user's files are all there
    with session_scope(db, write=False) as session:
        gone = session.get(User, user)
        assert gone is not None and gone.email == f"deleted-{user}@deleted.invalid"
        assert gone.is_disabled and gone.password_hash is None
        assert session.exec(select(func.count()).where(col(Image.user_id) == user)).one() == 0
        assert session.exec(select(func.count()).where(col(Generation.user_id) == user)).one() == 0
        assert accounts.resolve_session(session, token=token) is None
        assert (
            session.exec(select(func.count()).where(col(CreditLedgerEntry.user_id) == user)).one()
            == ledger_before
        )  # the books keep their lines, on an anonymous account
        for someone in (stays, user):
            assert credits.ledger_sum(session, user_id=someone) == credits.balance(
                session, user_id=someone
            )
    with pytest.raises(InvalidCredentialsError):
        sign_in_tickets.password_sign_in(db=db, email="leaving@example.com", password=PASSWORD)


def test_last_seen_is_refreshed_when_it_is_due(db: Engine) -> None:
    from datetime import timedelta

    user = new_user(db, "me@example.com")
    token = _session(db, user)
    assert _current(db, token).seen_recently
    with session_scope(db) as session:
        row = session.exec(select(UserSession)).one()
        row.last_seen_at = row.last_seen_at - accounts.SEEN_EVERY - timedelta(seconds=1)
        session.add(row)
    stale = _current(db, token)
    assert not stale.seen_recently
    with session_scope(db) as session:
        accounts.touch_session(session, session_id=stale.session_id)
    assert _current(db, token).seen_recently


def _link(db: Engine, user_id: int, provider: str, subject: str, *, verified: bool) -> None:
    with session_scope(db) as session:
        session.add(
            OAuthIdentity(
                user_id=user_id,
                provider=provider,
                subject=subject,
                email="me@example.com",
                email_verified=verified,
            )
        )


def _methods(db: Engine, user_id: int) -> list[account_self_service.SignInMethod]:
    with session_scope(db, write=False) as session:
        return account_self_service.sign_in_methods(session, user_id=user_id)


def test_sign_in_methods_are_listed_distinctly_and_removed_but_never_the_last(
    db: Engine,
) -> None:
    user = new_user(db, "me@example.com")  # with a password
    other = new_user(db, "other@example.com")
    _link(db, user, "oidc", "mallory-1", verified=False)
    _link(db, user, "oidc", "victor-1", verified=True)
    here, elsewhere = _session(db, user), _session(db, user)
    me = _current(db, here)

    methods = _methods(db, user)
    assert [(m.provider, m.subject, m.verified) for m in methods] == [
        ("Password", "", False),
        ("oidc", "mallory-1", False),
        ("oidc", "victor-1", True),
    ]  # the same provider and address twice, told apart by the provider's id
    assert len({m.key for m in methods}) == 3 and all(m.removable for m in methods)
    assert methods[1].added_at.endswith("Z") or "+00:00" in methods[1].added_at
    mallory = methods[1].key

    # Another user's method, or nonsense: not found, nothing changes.
    for key in (mallory, "identity-999999", 2**70, None, ["password"]):
        actor = other if key == mallory else user
        with session_scope(db) as session, pytest.raises(NotFoundError):
            account_self_service.remove_sign_in_method(
                session, user_id=actor, key=key, keep_session_id=me.session_id
            )
    assert len(_methods(db, user)) == 3

    with session_scope(db) as session:
        removed = account_self_service.remove_sign_in_method(
            session, user_id=user, key=mallory, keep_session_id=me.session_id
        )
    assert removed == "oidc (me@example.com)"
    assert [m.subject for m in _methods(db, user)] == ["", "victor-1"]
    with session_scope(db, write=False) as session:
        assert accounts.resolve_session(session, token=elsewhere) is None  # ended
        assert accounts.resolve_session(session, token=here) is not None  # this one stays
        [audit] = session.exec(
            select(AuditLogEntry).where(AuditLogEntry.action == "sign_in_method_removed")
        ).all()
    assert audit.actor_user_id == user and audit.target_id == str(user)
    assert audit.details == {"method": "oidc:mallory-1", "sessions_ended": 1}

    with session_scope(db) as session:
        account_self_service.remove_sign_in_method(
            session, user_id=user, key="password", keep_session_id=me.session_id
        )
    with pytest.raises(InvalidCredentialsError):
        sign_in_tickets.password_sign_in(db=db, email="me@example.com", password=PASSWORD)
    [last] = _methods(db, user)
    assert last.subject == "victor-1" and not last.removable
    with session_scope(db) as session, pytest.raises(ValidationError):
        account_self_service.remove_sign_in_method(
            session, user_id=user, key=last.key, keep_session_id=me.session_id
        )
    assert [m.key for m in _methods(db, user)] == [last.key]
