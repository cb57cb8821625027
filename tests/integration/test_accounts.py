"""Accounts: sign-up, sign-in, sessions and the admin role, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import extract_parameters, profiles
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from stylestudio.db import session_scope
from stylestudio.models import CreditLedgerEntry, User, UserRole, UserSession, utcnow
from stylestudio.services.accounts import accounts, admin_rights
from stylestudio.services.billing import credits
from stylestudio.services.errors import (
    EmailAlreadyRegisteredError,
    ForbiddenError,
    InvalidCredentialsError,
    UnauthorizedError,
    ValidationError,
)
from stylestudio.settings import get_settings
from tests.support.builders import new_user

PASSWORD = "correct horse battery"


def _counts(db: Engine) -> tuple[int, int]:
    with session_scope(db, write=False) as session:
        users = session.exec(select(func.count()).select_from(User)).one()
        ledger = session.exec(select(func.count()).select_from(CreditLedgerEntry)).one()
    return users, ledger


def test_sign_up_then_sign_in(db: Engine) -> None:
    user_id = new_user(db, "  Ada@Example.COM ", password=PASSWORD, name="Ada")
    with session_scope(db) as session:
        user = accounts.authenticate(session, email="ada@example.com", password=PASSWORD)
        assert user.id == user_id
        assert user.email == "ada@example.com"
        assert user.name == "Ada"
        assert user.last_login_at is not None
        assert user.role == UserRole.USER
        assert credits.balance(session, user_id=user_id) == 10


@pytest.mark.parametrize("again", ["ada@example.com", "ADA@example.com", "  Ada@Example.Com  "])
def test_duplicate_email_is_refused_and_changes_nothing(db: Engine, again: str) -> None:
    new_user(db, "ada@example.com", password=PASSWORD)
    with pytest.raises(EmailAlreadyRegisteredError) as info, session_scope(db) as session:
        accounts.sign_up(session, email=again, password="another password")
    assert info.value.message == "An account with this email already exists. Sign in instead."
    assert _counts(db) == (1, 1)
    with session_scope(db, write=False) as session:
        entry = session.exec(select(CreditLedgerEntry)).one()
        assert entry.idempotency_key.startswith("free-trial:user:")
        assert entry.amount == 10


def test_wrong_password_and_unknown_email_get_the_same_message(db: Engine) -> None:
    new_user(db, "ada@example.com", password=PASSWORD)
    with pytest.raises(InvalidCredentialsError) as wrong, session_scope(db) as session:
        accounts.authenticate(session, email="ada@example.com", password="not the password")
    with pytest.raises(InvalidCredentialsError) as unknown, session_scope(db) as session:
        accounts.authenticate(session, email="nobody@example.com", password=PASSWORD)
    with pytest.raises(InvalidCredentialsError) as malformed, session_scope(db) as session:
        accounts.authenticate(session, email="not-an-email", password=PASSWORD)
    assert wrong.value.message == unknown.value.message == malformed.value.message
    assert wrong.value.message == "Email or password is incorrect."


@pytest.mark.parametrize(
    ("email", "password", "fragment"),
    [
        ("ada@example.com", "short", "at least 8 characters"),
        ("ada@example.com", "", "at least 8 characters"),
        ("ada@example.com", "x" * 257, "at most 256 characters"),
        ("not-an-email", PASSWORD, "valid email"),
        ("ada@example", PASSWORD, "valid email"),
        ("", PASSWORD, "valid email"),
    ],
)
def test_invalid_sign_up_creates_nothing(
    db: Engine, email: str, password: str, fragment: str
) -> None:
    with pytest.raises(ValidationError) as info, session_scope(db) as session:
        accounts.sign_up(session, email=email, password=password)
    assert fragment in info.value.message
    assert _counts(db) == (0, 0)


def test_password_is_stored_as_argon2id_hash(db: Engine) -> None:
    user_id = new_user(db, "ada@example.com", password=PASSWORD)
    with session_scope(db, write=False) as session:
        user = session.get(User, user_id)
        assert user is not None and user.password_hash is not None
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


@pytest.mark.real_password_hashing
def test_production_hashes_at_the_recommended_cost_and_checks_the_hash(db: Engine) -> None:
    """The other tests hash cheaply (tests/conftest.py); production's hash is argon2id at
    RFC 9106's low-memory profile, the library's default, and a sign-in checks it."""
    user_id = new_user(db, "ada@example.com", password=PASSWORD)
    with session_scope(db, write=False) as session:
        user = session.get(User, user_id)
        assert user is not None and user.password_hash is not None
        stored = user.password_hash
    cost = profiles.RFC_9106_LOW_MEMORY
    assert extract_parameters(stored) == cost
    assert stored.startswith(f"$argon2id$v=19$m={cost.memory_cost},t={cost.time_cost},p=4$")
    login = accounts.verify_login(
        accounts.LoginAccount(user_id=user_id, password_hash=stored, is_disabled=False),
        password=PASSWORD,
    )
    assert login.new_password_hash is None  # already at the current cost: no rehash
    with pytest.raises(InvalidCredentialsError):
        accounts.verify_login(
            accounts.LoginAccount(user_id=user_id, password_hash=stored, is_disabled=False),
            password=PASSWORD + "x",
        )


def test_session_round_trip(db: Engine) -> None:
    user_id = new_user(db, "ada@example.com", password=PASSWORD)
    with session_scope(db) as session:
        token = accounts.start_session(session, user_id=user_id, user_agent="pytest")
    with session_scope(db, write=False) as session:
        current = accounts.resolve_session(session, token=token)
        assert current is not None
        assert current.id == user_id
        assert current.email == "ada@example.com"
        assert current.credits == 10
        assert current.is_admin is False
        # Only the hash of the token is stored.
        stored = session.exec(select(UserSession.token_hash)).all()
        assert stored == [accounts.hash_token(token)]
        assert token not in stored

    with session_scope(db) as session:
        accounts.end_session(session, token=token)
    with session_scope(db, write=False) as session:
        assert accounts.resolve_session(session, token=token) is None
        with pytest.raises(UnauthorizedError):
            accounts.require_user(session, token=token)


def test_unknown_or_missing_token_resolves_to_nobody(db: Engine) -> None:
    user_id = new_user(db, "ada@example.com", password=PASSWORD)
    with session_scope(db) as session:
        accounts.start_session(session, user_id=user_id)
    with session_scope(db, write=False) as session:
        assert accounts.resolve_session(session, token="not-a-real-token") is None
        assert accounts.resolve_session(session, token="") is None
        assert accounts.resolve_session(session, token=None) is None


def test_expired_session_resolves_to_nobody(db: Engine) -> None:
    user_id = new_user(db, "ada@example.com", password=PASSWORD)
    with session_scope(db) as session:
        token = accounts.start_session(session, user_id=user_id)
        fresh = accounts.start_session(session, user_id=user_id)
    with session_scope(db) as session:
        row = session.exec(
            select(UserSession).where(UserSession.token_hash == accounts.hash_token(token))
        ).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
    with session_scope(db, write=False) as session:
        assert accounts.resolve_session(session, token=token) is None
        assert accounts.resolve_session(session, token=fresh) is not None


def test_disabled_user_session_resolves_to_nobody(db: Engine) -> None:
    user_id = new_user(db, "ada@example.com", password=PASSWORD)
    with session_scope(db) as session:
        token = accounts.start_session(session, user_id=user_id)
    with session_scope(db) as session:
        user = session.get(User, user_id)
        assert user is not None
        user.is_disabled = True
        session.add(user)
    with session_scope(db, write=False) as session:
        assert accounts.resolve_session(session, token=token) is None
    with pytest.raises(InvalidCredentialsError), session_scope(db) as session:
        accounts.authenticate(session, email="ada@example.com", password=PASSWORD)


def test_require_admin_refuses_a_normal_user(db: Engine) -> None:
    user_id = new_user(db, "ada@example.com", password=PASSWORD)
    with session_scope(db) as session:
        token = accounts.start_session(session, user_id=user_id)
    with session_scope(db, write=False) as session:
        with pytest.raises(ForbiddenError):
            admin_rights.require_admin(session, token=token)
        with pytest.raises(UnauthorizedError):
            admin_rights.require_admin(session, token=None)


def test_an_address_from_the_admin_list_signs_up_as_a_normal_user(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Until addresses are verified, anyone could sign up with the listed address first.
    monkeypatch.setenv("STYLESTUDIO_ADMIN_EMAILS", "boss@example.com")
    get_settings.cache_clear()
    try:
        token = accounts.register(
            db=db,
            email="Boss@Example.com",
            password=PASSWORD,
            request=accounts.SessionRequest(),
        )
    finally:
        get_settings.cache_clear()
    with session_scope(db, write=False) as session:
        with pytest.raises(ForbiddenError):
            admin_rights.require_admin(session, token=token)
        assert accounts.count_admins(session) == 0


def test_set_role_promotes_and_takes_effect_on_the_next_request(db: Engine) -> None:
    user_id = new_user(db, "ada@example.com", password=PASSWORD)
    with session_scope(db) as session:
        token = accounts.start_session(session, user_id=user_id)
    with pytest.raises(ForbiddenError), session_scope(db, write=False) as session:
        admin_rights.require_admin(session, token=token)

    with session_scope(db) as session:
        user = accounts.set_role(session, email="ADA@example.com", role=UserRole.ADMIN)
        assert user.id == user_id
    with session_scope(db, write=False) as session:
        assert admin_rights.require_admin(session, token=token).user_id == user_id
        assert accounts.count_admins(session) == 1

    with session_scope(db) as session:
        accounts.set_role(session, email="ada@example.com", role=UserRole.USER)
    with pytest.raises(ForbiddenError), session_scope(db, write=False) as session:
        admin_rights.require_admin(session, token=token)
