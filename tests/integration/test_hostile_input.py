"""Input that costs more than it should: oversized and adversarial text, refused cheaply."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from stylestudio.db import session_scope
from stylestudio.models import User, UserSession
from stylestudio.services.accounts import accounts
from stylestudio.services.errors import InvalidCredentialsError, ValidationError

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
MEGABYTE = 1024 * 1024
# Shapes that make a backtracking email pattern quadratic or worse, at the size one
# websocket message allows.
HOSTILE_EMAILS = [
    "a@" + "a" * MEGABYTE,
    "a@" + "a." * (MEGABYTE // 2),
    "a" * MEGABYTE + "@",
    "@" * MEGABYTE,
    "a@b" + ".c" * (MEGABYTE // 2) + " ",
    "x" * MEGABYTE,
]


def test_no_hostile_email_freezes_the_process() -> None:
    """In a child process with a deadline: a backtracking pattern holds the GIL inside the
    regex engine, so a freeze in this process could not even be timed out."""
    script = (
        "from stylestudio.services.accounts import accounts\n"
        "from stylestudio.services.errors import ValidationError\n"
        "from tests.integration.test_hostile_input import HOSTILE_EMAILS\n"
        "for e in HOSTILE_EMAILS + ['a@b' + '.c' * 126, 'a' * 120 + '@' + 'b' * 120 + '!']:\n"
        "    try:\n"
        "        accounts.normalize_email(e)\n"
        "    except ValidationError:\n"
        "        pass\n"
        "print('done')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done"


@pytest.mark.parametrize("email", HOSTILE_EMAILS, ids=lambda e: f"{e[:6]!r}x{len(e)}")
def test_hostile_email_is_refused_with_a_clear_message(email: str) -> None:
    with pytest.raises(ValidationError) as info:
        accounts.normalize_email(email)
    assert "valid email address" in info.value.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ada@Example.com", "ada@example.com"),
        ("  first.last+shop@mail.sub.example.co.uk ", "first.last+shop@mail.sub.example.co.uk"),
        ("o'brien@example.ie", "o'brien@example.ie"),
    ],
)
def test_real_addresses_still_pass(raw: str, expected: str) -> None:
    assert accounts.normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["a@b", "a@b.", "a@.b", "@b.c", "a b@c.d", "a@@b.c", "a@b..c", ".a@b.c", "", None, 42],
)
def test_malformed_addresses_fail(raw: object) -> None:
    with pytest.raises(ValidationError):
        accounts.normalize_email(raw)


def _counts(db: Engine) -> tuple[int, int]:
    with session_scope(db, write=False) as session:
        users = session.exec(select(func.count()).select_from(User)).one()
        sessions = session.exec(select(func.count()).select_from(UserSession)).one()
    return users, sessions


@pytest.mark.parametrize(
    ("email", "password", "fragment"),
    [
        ("a@" + "a" * MEGABYTE, PASSWORD, "valid email"),
        ("ada@example.com", "p" * MEGABYTE, "at most 256 characters"),
        ({"nested": ["x"] * 1000}, PASSWORD, "valid email"),
        ("ada@example.com", ["not", "text"], "at least 8 characters"),
    ],
)
def test_sign_up_refuses_oversized_or_odd_fields(
    db: Engine, email: object, password: object, fragment: str
) -> None:
    with pytest.raises(ValidationError) as info:
        accounts.register(db=db, email=email, password=password, request=accounts.SessionRequest())
    assert fragment in info.value.message
    assert _counts(db) == (0, 0)


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("a@" + "a" * MEGABYTE, PASSWORD),
        ("ada@example.com", "p" * MEGABYTE),
        (["ada@example.com"], PASSWORD),
    ],
)
def test_sign_in_refuses_oversized_fields_with_the_usual_message(
    db: Engine, email: object, password: object
) -> None:
    with session_scope(db) as session:
        accounts.sign_up(session, email="ada@example.com", password=PASSWORD)
    with pytest.raises(InvalidCredentialsError) as info:
        accounts.sign_in(db=db, email=email, password=password, request=accounts.SessionRequest())
    assert info.value.message == "Email or password is incorrect."
    assert _counts(db) == (1, 0)


def test_names_are_capped(db: Engine) -> None:
    accounts.register(
        db=db,
        email="ada@example.com",
        password=PASSWORD,
        name="N" * MEGABYTE,
        request=accounts.SessionRequest(user_agent="U" * MEGABYTE),
    )
    with session_scope(db, write=False) as session:
        user = session.exec(select(User)).one()
        assert len(user.name) == accounts.MAX_NAME_LENGTH
        row = session.exec(select(UserSession)).one()
        assert row.user_agent is not None and len(row.user_agent) <= 500


class _WriteTransactions:
    """Counts write transactions open on an engine (SQLite BEGIN IMMEDIATE, or any
    transaction that has written on PostgreSQL) by watching the engine's own events."""

    def __init__(self, engine: Engine) -> None:
        self.open = 0
        self.lock = threading.Lock()
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)
        self.engine = engine

    def _begin(self, conn) -> None:
        if conn.get_execution_options().get("stylestudio_begin_immediate"):
            with self.lock:
                self.open += 1
                conn.info["ss_write"] = True

    def _end(self, conn) -> None:
        if conn.info.pop("ss_write", False):
            with self.lock:
                self.open -= 1

    def close(self) -> None:
        event.remove(self.engine, "begin", self._begin)
        event.remove(self.engine, "commit", self._end)
        event.remove(self.engine, "rollback", self._end)


@pytest.mark.parametrize("action", ["sign_in", "register"])
def test_password_hashing_runs_outside_any_write_transaction(
    sqlite_db: Engine, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    """argon2 takes ~50 ms; inside SQLite's write lock it would stall every spend, upload
    and job claim for that long, per sign-in."""
    with session_scope(sqlite_db) as session:
        accounts.sign_up(session, email="ada@example.com", password=PASSWORD)
    writes = _WriteTransactions(sqlite_db)
    seen: list[int] = []
    real_verify, real_hash = PasswordHasher.verify, PasswordHasher.hash

    def verify(self, hash, password):
        seen.append(writes.open)
        return real_verify(self, hash, password)

    def hash_(self, password, *, salt=None):
        seen.append(writes.open)
        return real_hash(self, password, salt=salt)

    monkeypatch.setattr(PasswordHasher, "verify", verify)
    monkeypatch.setattr(PasswordHasher, "hash", hash_)
    try:
        if action == "sign_in":
            token = accounts.sign_in(
                db=sqlite_db,
                email="ada@example.com",
                password=PASSWORD,
                request=accounts.SessionRequest(),
            )
        else:
            token = accounts.register(
                db=sqlite_db,
                email="bob@example.com",
                password=PASSWORD,
                request=accounts.SessionRequest(),
            )
    finally:
        writes.close()
    assert seen, "the password was never checked"
    assert seen == [0] * len(seen)
    with session_scope(sqlite_db, write=False) as session:
        assert accounts.resolve_session(session, token=token) is not None
