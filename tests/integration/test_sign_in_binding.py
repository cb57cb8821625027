"""Login CSRF: a sign-in ticket opens a session only in the browser that asked for it.

The browser gets its sign-in nonce cookie from `GET /api/auth/begin` (or on the way out of
a sign-out); the sign-in event issues the ticket against the nonce its websocket carried
(done here with the service, as the event does); `GET /api/auth/session?ticket=…` needs the
same nonce in the redeeming request's own cookie. Our API in-process, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import func, select
from starlette.types import ASGIApp

from stylestudio.db import session_scope
from stylestudio.models import UserSession
from stylestudio.services.accounts import accounts, sign_in_tickets
from stylestudio.services.errors import ValidationError
from tests.support.builders import new_user
from tests.support.oidc_provider import API_URL, APP_URL, Browser, configured_api


@pytest.fixture
def api(db: Engine) -> Iterator[ASGIApp]:
    with configured_api(db.url.render_as_string(hide_password=False)) as app:
        yield app


def _ticket_for(db: Engine, user_id: int, browser: Browser) -> str:
    """What the sign-in event does: a ticket against the nonce this browser holds."""
    with session_scope(db) as session:
        return sign_in_tickets.issue_ticket(
            session, user_id=user_id, browser_nonce=browser.cookie("ss_signin")
        )


def _session_url(ticket: str) -> str:
    return f"{API_URL}/api/auth/session?{httpx.QueryParams(ticket=ticket, next='/gallery')}"


def _sets_session(response: httpx.Response) -> bool:
    return any(c.startswith("ss_session=") for c in response.headers.get_list("set-cookie"))


def _sessions(db: Engine) -> int:
    with session_scope(db, write=False) as session:
        return session.exec(select(func.count()).select_from(UserSession)).one()


def _signed_in_as(db: Engine, browser: Browser) -> int | None:
    with session_scope(db, write=False) as session:
        user = accounts.resolve_session(session, token=browser.cookie("ss_session"))
    return user.id if user else None


async def test_begin_gives_a_strict_http_only_nonce_once_and_goes_back(
    db: Engine, api: ASGIApp
) -> None:
    async with Browser(api) as browser:
        first = await browser.follow(f"{API_URL}/api/auth/begin?next=/signup?x=1")
        assert first.status_code == 303
        assert first.headers["location"] == f"{APP_URL}/signup?x=1"
        [cookie] = first.headers.get_list("set-cookie")
        flags = cookie.lower()
        assert flags.startswith("ss_signin=") and "httponly" in flags
        assert "samesite=strict" in flags and "path=/" in flags and "max-age=7200" in flags
        nonce = browser.cookie("ss_signin")
        assert nonce and len(nonce) >= 40
        # A browser that holds one keeps it; nothing in the request chooses its value.
        again = await browser.follow(f"{API_URL}/api/auth/begin?next=//evil.example&nonce=abc")
        assert again.headers["location"] == f"{APP_URL}/login"
        assert again.headers.get_list("set-cookie") == []
        assert browser.cookie("ss_signin") == nonce


async def test_a_ticket_opened_in_another_browser_is_refused_and_still_works_in_its_own(
    db: Engine, api: ASGIApp
) -> None:
    """The attack: Mallory signs in to her own account, keeps the ticket URL and sends it to
    Victor. Victor's browser (with no nonce, or a nonce of its own) gets no cookie."""
    mallory_id = new_user(db, "mallory@example.com")
    async with Browser(api) as mallory, Browser(api) as victor, Browser(api) as careful:
        await mallory.follow(f"{API_URL}/api/auth/begin")
        await careful.follow(f"{API_URL}/api/auth/begin")  # a nonce of its own
        assert careful.cookie("ss_signin") != mallory.cookie("ss_signin")
        url = _session_url(_ticket_for(db, mallory_id, mallory))

        for other in (victor, careful):
            refused = await other.follow(url)
            assert refused.status_code == 303
            assert refused.headers["location"] == f"{APP_URL}/login?error=expired"
            assert not _sets_session(refused)
            assert other.cookie("ss_session") is None
        assert _sessions(db) == 0

        # The browser that asked for it still signs in (the refusals did not use it up).
        opened = await mallory.follow(url)
        assert opened.status_code == 303
        assert opened.headers["location"] == f"{APP_URL}/gallery"
        assert _sets_session(opened)
        assert _signed_in_as(db, mallory) == mallory_id
        assert mallory.cookie("ss_signin") is None  # used up with the ticket
        # ... once.
        replay = await mallory.follow(url)
        assert replay.headers["location"] == f"{APP_URL}/login?error=expired"
        assert not _sets_session(replay)
    assert _sessions(db) == 1


async def test_a_ticket_is_only_issued_against_a_nonce(db: Engine) -> None:
    user_id = new_user(db, "ada@example.com")
    for nonce in (None, "", "short", 42, ["x" * 40]):
        with session_scope(db) as session, pytest.raises(ValidationError):
            sign_in_tickets.issue_ticket(session, user_id=user_id, browser_nonce=nonce)


async def test_signing_out_hands_the_browser_a_fresh_nonce(db: Engine, api: ASGIApp) -> None:
    user_id = new_user(db, "ada@example.com")
    async with Browser(api) as browser:
        await browser.follow(f"{API_URL}/api/auth/begin")
        used = browser.cookie("ss_signin")
        await browser.follow(_session_url(_ticket_for(db, user_id, browser)))
        out = await browser.follow(f"{API_URL}/api/auth/signed-out")
        assert out.headers["location"] == f"{APP_URL}/login"
        fresh = browser.cookie("ss_signin")
        assert fresh and fresh != used
        assert browser.cookie("ss_session") is None
        # ... with which the next sign-in works without a detour through /begin.
        opened = await browser.follow(_session_url(_ticket_for(db, user_id, browser)))
        assert _sets_session(opened) and _signed_in_as(db, browser) == user_id
