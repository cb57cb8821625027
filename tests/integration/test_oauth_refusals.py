"""Refused sign-ins, each through the real redirect flow: no session is created, the browser
lands on `/login?error=<code>`, and the message for that code exists."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select
from starlette.types import ASGIApp

from stylestudio.db import session_scope
from stylestudio.models import OAuthLogin, User, UserSession, utcnow
from stylestudio.services.accounts.accounts import hash_token
from stylestudio.services.accounts.oauth_accounts import OAUTH_ERRORS
from tests.support.fake_github import FakeGitHub
from tests.support.fake_github import fake_github as fake_github
from tests.support.oidc_provider import (
    APP_URL,
    CLIENT_ID,
    CLIENT_SECRET,
    Browser,
    MockIssuer,
    configured_api,
    query_of,
    with_query,
)
from tests.support.oidc_provider import oidc_provider as oidc_provider


@dataclass(frozen=True)
class Setup:
    api: ASGIApp
    oidc: MockIssuer
    github: FakeGitHub


@pytest.fixture
def setup(db: Engine, oidc_provider: MockIssuer, fake_github: FakeGitHub) -> Iterator[Setup]:
    oidc_provider.set_user("ada-1", email="ada@example.com", email_verified=True)
    fake_github.add_user("octoada", email="ada@example.com")
    fake_github.sign_in_as("octoada")
    with configured_api(
        db.url.render_as_string(hide_password=False),
        OIDC_ISSUER_URL=oidc_provider.issuer,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=CLIENT_SECRET,
        GITHUB_CLIENT_ID=fake_github.client_id,
        GITHUB_CLIENT_SECRET=fake_github.client_secret,
        GITHUB_BASE_URL=fake_github.base_url,
        GITHUB_API_URL=fake_github.base_url,
    ) as api:
        yield Setup(api=api, oidc=oidc_provider, github=fake_github)


def _sessions(db: Engine) -> int:
    with session_scope(db, write=False) as session:
        return session.exec(select(func.count()).select_from(UserSession)).one()


def _assert_refused(response: httpx.Response, error: str, browser: Browser) -> None:
    assert response.status_code == 303
    assert response.headers["location"] == f"{APP_URL}/login?error={error}"
    assert error in OAUTH_ERRORS
    assert not any(c.startswith("ss_session=") for c in response.headers.get_list("set-cookie"))
    assert browser.cookie("ss_session") is None


async def test_a_tampered_or_missing_state_is_refused(db: Engine, setup: Setup) -> None:
    async with Browser(setup.api) as browser:
        callback = await browser.approve(await browser.start("oidc"), "ada-1")
        tampered = await browser.follow(with_query(callback, state="A" * 43))
        _assert_refused(tampered, "state_mismatch", browser)
        await browser.start("oidc")  # the refusal cleared the cookie; a new sign-in sets it
        missing = await browser.follow(
            callback.split("?")[0] + f"?code={query_of(callback)['code']}"
        )
        _assert_refused(missing, "state_mismatch", browser)
    assert _sessions(db) == 0


async def test_a_state_the_server_never_issued_is_refused(db: Engine, setup: Setup) -> None:
    async with Browser(setup.api) as browser:
        callback = await browser.approve(await browser.start("oidc"), "ada-1")
        forged = "F" * 43
        browser.set_oauth_cookie(forged)  # a cookie and a state that agree, but are not ours
        response = await browser.follow(with_query(callback, state=forged))
        _assert_refused(response, "state_expired", browser)
    assert _sessions(db) == 0


async def test_a_callback_taken_to_another_browser_signs_nobody_in(
    db: Engine, setup: Setup
) -> None:
    async with (
        Browser(setup.api) as victim,
        Browser(setup.api) as attacker,
        Browser(setup.api) as busy,
    ):
        # The attacker's own sign-in, its callback URL delivered to other browsers.
        callback = await attacker.approve(await attacker.start("oidc"), "ada-1")
        _assert_refused(await victim.follow(callback), "state_mismatch", victim)
        await busy.start("oidc")  # this browser has its own sign-in (its own ss_oauth)
        _assert_refused(await busy.follow(callback), "state_mismatch", busy)
        # Neither attempt burnt the attacker's sign-in: it still works in its own browser.
        assert (await attacker.follow(callback)).status_code == 303
    assert _sessions(db) == 1


async def test_a_replayed_callback_url_is_refused(db: Engine, setup: Setup) -> None:
    async with Browser(setup.api) as browser:
        authorize = await browser.start("oidc")
        state = query_of(authorize)["state"]
        callback = await browser.approve(authorize, "ada-1")
        assert (await browser.follow(callback)).status_code == 303
        browser.client.cookies.delete("ss_session")
        # The cookie was cleared; even with it put back, the state is used.
        _assert_refused(await browser.follow(callback), "state_mismatch", browser)
        browser.set_oauth_cookie(state)
        _assert_refused(await browser.follow(callback), "state_expired", browser)
    assert _sessions(db) == 1


async def test_a_used_code_under_a_fresh_state_is_refused(db: Engine, setup: Setup) -> None:
    async with Browser(setup.api) as browser:
        first = await browser.approve(await browser.start("oidc"), "ada-1")
        assert (await browser.follow(first)).status_code == 303
        browser.client.cookies.delete("ss_session")
        fresh_state = query_of(await browser.start("oidc"))["state"]
        replay = with_query(first, state=fresh_state)
        _assert_refused(await browser.follow(replay), "exchange_failed", browser)
    assert _sessions(db) == 1


async def test_a_code_delivered_with_another_sign_ins_state_fails_the_nonce(
    db: Engine, setup: Setup
) -> None:
    async with Browser(setup.api) as browser:
        code_a = query_of(await browser.approve(await browser.start("oidc"), "ada-1"))["code"]
        callback_b = await browser.approve(await browser.start("oidc"), "ada-1")
        # Login B's state (and cookie) with login A's code: A's ID token carries A's nonce.
        # (The mock ignores PKCE, so only the nonce catches it here.)
        response = await browser.follow(with_query(callback_b, code=code_a))
        _assert_refused(response, "token_invalid", browser)
    assert _sessions(db) == 0


async def test_github_refuses_a_code_under_another_sign_ins_verifier(
    db: Engine, setup: Setup
) -> None:
    async with Browser(setup.api) as browser:
        first = await browser.follow(await browser.start("github"))
        code_a = query_of(first.headers["location"])["code"]
        second = await browser.follow(await browser.start("github"))
        response = await browser.follow(with_query(second.headers["location"], code=code_a))
        _assert_refused(response, "exchange_failed", browser)
    assert setup.github.token_requests[-1]["code"] == code_a  # GitHub itself refused it
    assert _sessions(db) == 0


async def test_a_sign_in_without_a_pkce_verifier_is_refused_and_burnt(
    db: Engine, setup: Setup
) -> None:
    async with Browser(setup.api) as browser:
        authorize = await browser.start("oidc")
        state_hash = hash_token(query_of(authorize)["state"])
        with session_scope(db) as session:
            session.execute(
                sa.update(OAuthLogin)
                .where(col(OAuthLogin.state_hash) == state_hash)
                .values(code_verifier="")
            )
        response = await browser.follow(await browser.approve(authorize, "ada-1"))
        _assert_refused(response, "login_invalid", browser)
    with session_scope(db, write=False) as session:
        login = session.exec(select(OAuthLogin)).one()
    assert login.used_at is not None
    assert _sessions(db) == 0


async def test_an_expired_sign_in_is_refused(db: Engine, setup: Setup) -> None:
    async with Browser(setup.api) as browser:
        authorize = await browser.start("oidc")
        with session_scope(db) as session:
            session.execute(
                sa.update(OAuthLogin).values(expires_at=utcnow() - timedelta(seconds=1))
            )
        response = await browser.follow(await browser.approve(authorize, "ada-1"))
        _assert_refused(response, "state_expired", browser)
    assert _sessions(db) == 0


async def test_a_state_of_one_provider_does_not_open_another(db: Engine, setup: Setup) -> None:
    async with Browser(setup.api) as browser:
        callback = await browser.approve(await browser.start("oidc"), "ada-1")
        wrong_door = callback.replace("/oauth/oidc/", "/oauth/github/")
        _assert_refused(await browser.follow(wrong_door), "state_expired", browser)
    assert _sessions(db) == 0


@pytest.mark.parametrize("provider", ["oidc", "github"])
async def test_a_refusal_at_the_provider_is_refused_here(
    db: Engine, setup: Setup, provider: str
) -> None:
    async with Browser(setup.api) as browser:
        authorize = await browser.start(provider)
        if provider == "github":
            setup.github.deny_next()
            callback = (await browser.follow(authorize)).headers["location"]
        else:
            callback = await browser.deny(authorize)
        assert query_of(callback)["error"] == "access_denied"
        _assert_refused(await browser.follow(callback), "provider_error", browser)
    assert _sessions(db) == 0
    with session_scope(db, write=False) as session:
        assert session.exec(select(func.count()).select_from(User)).one() == 0
        used_at = session.exec(select(OAuthLogin.used_at)).one()
    # GitHub sends the state back with the refusal, so that sign-in is spent. (The mock OIDC
    # provider leaves it out, against RFC 6749 4.1.2.1: its sign-in just expires.)
    assert (used_at is not None) == (provider == "github")
