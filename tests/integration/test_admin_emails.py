"""An address listed in STYLESTUDIO_ADMIN_EMAILS becomes an admin only once verified: never
at sign-up, then by the emailed link. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from stylestudio.adapters.storage import LocalStorage
from stylestudio.db import session_scope
from stylestudio.models import Image, User, UserRole
from stylestudio.services.accounts import account_links, accounts
from stylestudio.settings import get_settings
from tests.support.builders import new_generation, new_upload, new_user


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
    boss = new_user(db, listed_admin)
    plain = new_user(db, "plain@example.com")
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


@pytest.fixture
def verification_required(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("STYLESTUDIO_REQUIRE_VERIFIED_EMAIL", "true")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_free_credits_and_publishing_wait_for_a_verified_email(
    db: Engine, storage: LocalStorage, verification_required: None
) -> None:
    from stylestudio.adapters.local_engine.engine import LocalEngine
    from stylestudio.services.billing import credits
    from stylestudio.services.errors import ValidationError
    from stylestudio.services.generation.generation_worker import run_next_generation_job
    from stylestudio.services.moderation import featuring

    user_id = new_user(db, "new@example.com")
    with session_scope(db, write=False) as session:
        assert credits.balance(session, user_id=user_id) == 0  # no trial before verifying
    with session_scope(db) as session:
        credits.grant(session, user_id=user_id, amount=1, idempotency_key="bought-one")
    new_generation(db, user_id=user_id, image_id=new_upload(db, storage, user_id), key="one")
    assert run_next_generation_job(db=db, storage=storage, engine=LocalEngine(), worker_id="w")
    with session_scope(db, write=False) as session:
        image_id = session.exec(
            select(Image.id).where(Image.user_id == user_id, Image.generation_id.is_not(None))  # type: ignore[union-attr]
        ).one()
    with session_scope(db) as session, pytest.raises(ValidationError, match="Verify your email"):
        featuring.request_featuring(session, user_id=user_id, image_id=image_id)

    inbox = Inbox()
    account_links.send_verification(db=db, user_id=user_id, mailer=inbox, base_url="http://a")
    match = re.search(r"token=([A-Za-z0-9_-]+)", inbox.sent[0][1])
    assert match
    with session_scope(db) as session:
        account_links.verify_email(session, token=match.group(1))
    with session_scope(db) as session:
        user = session.get(User, user_id)
        assert user is not None
        accounts.mark_email_verified(session, user=user)  # again: no second trial
    with session_scope(db, write=False) as session:
        assert credits.balance(session, user_id=user_id) == 10  # the trial, once
    with session_scope(db) as session:
        featuring.request_featuring(session, user_id=user_id, image_id=image_id)
