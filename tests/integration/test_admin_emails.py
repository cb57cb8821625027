"""An address listed in STYLESTUDIO_ADMIN_EMAILS becomes an admin only once verified: never
at sign-up, then by the emailed link. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from stylestudio.db import session_scope
from stylestudio.models import User, UserRole
from stylestudio.services import account_links
from stylestudio.settings import get_settings
from tests.integration.test_generation_flow import _user


class Inbox:
    """A Mailer that keeps what it is given (the Mailer protocol's simplest implementation)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        self.sent.append((to, text))


@pytest.fixture
def listed_admin(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("STYLESTUDIO_ADMIN_EMAILS", "boss@example.com, other@example.com")
    get_settings.cache_clear()
    yield "boss@example.com"
    get_settings.cache_clear()


def _role(db: Engine, user_id: int) -> UserRole:
    with session_scope(db, write=False) as session:
        user = session.get(User, user_id)
        assert user is not None
        return user.role


def test_a_listed_address_becomes_admin_when_verified(db: Engine, listed_admin: str) -> None:
    boss = _user(db, listed_admin)
    plain = _user(db, "plain@example.com")
    assert _role(db, boss) == UserRole.USER  # signing up proves nothing
    inbox = Inbox()
    for user_id in (boss, plain):
        assert account_links.send_verification(
            db=db, user_id=user_id, mailer=inbox, base_url="http://app.test"
        )
    for _to, text in inbox.sent:
        match = re.search(r"token=([A-Za-z0-9_-]+)", text)
        assert match
        with session_scope(db) as session:
            account_links.verify_email(session, token=match.group(1))
    assert _role(db, boss) == UserRole.ADMIN
    assert _role(db, plain) == UserRole.USER  # not listed: verified, still a user
