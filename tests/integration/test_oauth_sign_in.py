"""Signing in with a provider, the whole redirect flow: our API in-process, the providers as
real HTTP servers (oidc-provider-mock as the generic issuer and, by GOOGLE_DISCOVERY_URL, as
Google; a fake GitHub), on SQLite and PostgreSQL. The account rules: who gets which account."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select
from starlette.types import ASGIApp

from stylestudio.db import session_scope
from stylestudio.models import (
    AuditLogEntry,
    CreditLedgerEntry,
    OAuthIdentity,
    OAuthLogin,
    User,
    UserSession,
)
from stylestudio.services.accounts import accounts
from stylestudio.services.accounts.oauth_accounts import configured_providers, provider_buttons
from stylestudio.services.billing.billing import get_billing_settings
from stylestudio.services.errors import DomainError
from stylestudio.settings import Settings
from tests.support.fake_github import FakeGitHub
from tests.support.fake_github import fake_github as fake_github
from tests.support.oidc_provider import (
    API_URL,
    APP_URL,
    CLIENT_ID,
    CLIENT_SECRET,
    USER_AGENT,
    Browser,
    MockIssuer,
    configured_api,
    query_of,
    running_oidc_provider,
)
from tests.support.oidc_provider import oidc_provider as oidc_provider


@dataclass(frozen=True)
class Providers:
    api: ASGIApp
    oidc: MockIssuer  # OIDC_ISSUER_URL
    google: MockIssuer  # GOOGLE_DISCOVERY_URL
    github: FakeGitHub


@pytest.fixture
def providers(
    db: Engine, oidc_provider: MockIssuer, fake_github: FakeGitHub
) -> Iterator[Providers]:
    with (
        running_oidc_provider() as google,
        configured_api(
            db.url.render_as_string(hide_password=False),
            OIDC_ISSUER_URL=oidc_provider.issuer,
            OIDC_CLIENT_ID=CLIENT_ID,
            OIDC_CLIENT_SECRET=CLIENT_SECRET,
            OIDC_NAME="Acme SSO",
            GOOGLE_CLIENT_ID="google-client",
            GOOGLE_CLIENT_SECRET="google-secret",
            GOOGLE_DISCOVERY_URL=google.discovery_url,
            GITHUB_CLIENT_ID=fake_github.client_id,
            GITHUB_CLIENT_SECRET=fake_github.client_secret,
            GITHUB_BASE_URL=fake_github.base_url,
            GITHUB_API_URL=fake_github.base_url,
        ) as api,
    ):
        yield Providers(api=api, oidc=oidc_provider, google=google, github=fake_github)


def _count(db: Engine, model: type) -> int:
    with session_scope(db, write=False) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def _user(db: Engine, email: str) -> User:
    with session_scope(db, write=False) as session:
        user = session.exec(select(User).where(User.email == email)).one()
        session.expunge(user)
        return user


def _free_trial(db: Engine) -> int:
    with session_scope(db, write=False) as session:
        return get_billing_settings(session).free_trial_credits


def _signed_in_as(db: Engine, browser: Browser) -> accounts.CurrentUser | None:
    with session_scope(db, write=False) as session:
        return accounts.resolve_session(session, token=browser.cookie("ss_session"))


async def test_a_new_identity_gets_an_account_with_its_free_trial_and_an_httponly_session(
    db: Engine, providers: Providers
) -> None:
    providers.oidc.set_user("ada-1", email="Ada@Example.com", email_verified=True, name="Ada")
    async with Browser(providers.api) as browser:
        start = await browser.follow(f"{API_URL}/api/auth/oauth/oidc/start?next=/gallery?tab=mine")
        assert start.status_code == 302
        binding = start.headers["set-cookie"].lower()
        assert binding.startswith("ss_oauth=") and "httponly" in binding
        assert "path=/api/auth/oauth" in binding and "samesite=lax" in binding
        assert "max-age=600" in binding
        authorize = start.headers["location"]
        sent = query_of(authorize)
        assert authorize.startswith(f"{providers.oidc.issuer}/oauth2/authorize?")
        assert sent["redirect_uri"] == f"{API_URL}/api/auth/oauth/oidc/callback"
        assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
        assert sent["nonce"] and sent["state"] and sent["client_id"] == CLIENT_ID
        assert browser.cookie("ss_oauth") == sent["state"]
        with session_scope(db, write=False) as session:
            login = session.exec(select(OAuthLogin)).one()
        assert login.state_hash == accounts.hash_token(sent["state"]) != sent["state"]
        assert login.nonce == sent["nonce"] and login.next_path == "/gallery?tab=mine"

        callback = await browser.follow(await browser.approve(authorize, "ada-1"))

        assert callback.status_code == 303
        assert callback.headers["location"] == f"{APP_URL}/gallery?tab=mine"
        set_cookies = callback.headers.get_list("set-cookie")
        session_cookie = next(c for c in set_cookies if c.startswith("ss_session="))
        assert "httponly" in session_cookie.lower() and "samesite=lax" in session_cookie.lower()
        assert browser.cookie("ss_oauth") is None  # the binding cookie is cleared
        current = _signed_in_as(db, browser)
    assert current is not None and current.email == "ada@example.com"
    assert current.name == "Ada"
    assert current.credits == _free_trial(db) == 10
    user = _user(db, "ada@example.com")
    assert user.email_verified_at is not None and user.password_hash is None
    with session_scope(db, write=False) as session:
        identity = session.exec(select(OAuthIdentity)).one()
        assert session.exec(select(OAuthLogin.used_at)).one() is not None
        user_session = session.exec(select(UserSession)).one()
    assert (identity.provider, identity.subject, identity.user_id) == ("oidc", "ada-1", user.id)
    assert identity.email_verified and identity.email == "ada@example.com"
    assert user_session.user_agent == USER_AGENT


async def test_the_same_identity_again_is_the_same_account_without_a_second_free_trial(
    db: Engine, providers: Providers
) -> None:
    providers.oidc.set_user("ada-1", email="ada@example.com", email_verified=True)
    async with Browser(providers.api) as first, Browser(providers.api) as second:
        await first.sign_in("oidc", "ada-1")
        # The provider changed the address since: the identity follows, no new account.
        providers.oidc.set_user("ada-1", email="ada@new.example", email_verified=True)
        await second.sign_in("oidc", "ada-1")
        one, two = _signed_in_as(db, first), _signed_in_as(db, second)
    assert one is not None and two is not None and one.id == two.id
    assert two.credits == _free_trial(db)
    assert _count(db, User) == 1 and _count(db, UserSession) == 2
    with session_scope(db, write=False) as session:
        identity = session.exec(select(OAuthIdentity)).one()
        grants = session.exec(
            select(func.count())
            .select_from(CreditLedgerEntry)
            .where(CreditLedgerEntry.user_id == one.id)
        ).one()
    assert identity.email == "ada@new.example" and grants == 1


async def test_a_verified_email_from_another_provider_links_to_the_existing_account(
    db: Engine, providers: Providers
) -> None:
    with session_scope(db) as session:
        owner = accounts.sign_up(session, email="ada@example.com", password="a-long-password")
        owner_id = owner.id
    providers.google.set_user("g-123", email="ADA@example.com", email_verified=True)
    async with Browser(providers.api) as browser:
        response = await browser.sign_in("google", "g-123")
        current = _signed_in_as(db, browser)
    assert response.headers["location"] == f"{APP_URL}/upload"
    assert current is not None and current.id == owner_id
    assert current.credits == _free_trial(db)  # the trial of sign-up, not a second one
    assert _user(db, "ada@example.com").email_verified_at is not None
    with session_scope(db, write=False) as session:
        identity = session.exec(select(OAuthIdentity)).one()
    assert (identity.provider, identity.subject, identity.user_id) == ("google", "g-123", owner_id)


async def test_linking_an_account_nobody_had_verified_drops_its_unproven_password(
    db: Engine, providers: Providers
) -> None:
    """Someone signs up in advance with ada's address and a password of theirs; when ada
    signs in with a provider that verified the address, that password and its sessions
    stop working (the account was never proven to be theirs)."""
    with session_scope(db) as session:
        squatter = accounts.sign_up(session, email="ada@example.com", password="squatters-pw")
        assert squatter.id is not None
        squatter_token = accounts.start_session(session, user_id=squatter.id)
    providers.google.set_user("g-ada", email="ada@example.com", email_verified=True)
    async with Browser(providers.api) as browser:
        await browser.sign_in("google", "g-ada")
        assert _signed_in_as(db, browser) is not None
    with session_scope(db, write=False) as session:
        assert accounts.resolve_session(session, token=squatter_token) is None
    assert _user(db, "ada@example.com").password_hash is None
    with session_scope(db, write=False) as session, pytest.raises(DomainError):
        accounts.authenticate(session, email="ada@example.com", password="squatters-pw")


async def test_an_unverified_email_never_links_to_an_existing_account(
    db: Engine, providers: Providers
) -> None:
    with session_scope(db) as session:
        accounts.sign_up(session, email="ada@example.com", password="a-long-password")
    providers.oidc.set_user("mallory", email="ada@example.com", email_verified=False)
    async with Browser(providers.api) as browser:
        response = await browser.sign_in("oidc", "mallory")
        assert browser.cookie("ss_session") is None
    assert response.headers["location"] == f"{APP_URL}/login?error=email_in_use"
    assert _count(db, UserSession) == 0 and _count(db, OAuthIdentity) == 0
    assert _count(db, User) == 1
    assert _user(db, "ada@example.com").email_verified_at is None


async def test_an_unverified_unused_email_gets_its_own_unverified_account(
    db: Engine, providers: Providers
) -> None:
    providers.oidc.set_user("bob-1", email="bob@example.com", email_verified=False)
    async with Browser(providers.api) as browser:
        await browser.sign_in("oidc", "bob-1")
        current = _signed_in_as(db, browser)
    assert current is not None and current.email == "bob@example.com"
    assert _user(db, "bob@example.com").email_verified_at is None
    with session_scope(db, write=False) as session:
        assert session.exec(select(OAuthIdentity.email_verified)).one() is False


async def test_github_signs_in_with_its_primary_verified_email_and_links_by_it(
    db: Engine, providers: Providers
) -> None:
    providers.oidc.set_user("ada-1", email="ada@example.com", email_verified=True)
    github = providers.github
    octo = github.add_user("octoada", email="Ada@Example.com", verified=True, name="Ada L.")
    github.sign_in_as("octoada")
    async with Browser(providers.api) as browser:
        await browser.sign_in("oidc", "ada-1")
        authorize = await browser.start("github", next_path="/credits")
        sent = query_of(authorize)
        assert authorize.startswith(f"{github.base_url}/login/oauth/authorize?")
        assert sent["code_challenge_method"] == "S256" and "nonce" not in sent
        assert sent["scope"] == "read:user user:email"
        callback = await browser.follow(authorize)
        assert callback.status_code == 302
        response = await browser.follow(callback.headers["location"])
        current = _signed_in_as(db, browser)
    assert response.headers["location"] == f"{APP_URL}/credits"
    assert current is not None and current.email == "ada@example.com"
    assert _count(db, User) == 1
    exchange = github.token_requests[-1]
    assert exchange["code_verifier"] and exchange["client_secret"] == github.client_secret
    with session_scope(db, write=False) as session:
        linked = session.exec(select(OAuthIdentity).where(OAuthIdentity.provider == "github")).one()
    assert linked.subject == str(octo.id) and linked.email_verified


async def test_github_with_an_unverified_primary_email_gets_no_link(
    db: Engine, providers: Providers
) -> None:
    with session_scope(db) as session:
        accounts.sign_up(session, email="ada@example.com", password="a-long-password")
    providers.github.add_user("impostor", email="ada@example.com", verified=False)
    providers.github.sign_in_as("impostor")
    async with Browser(providers.api) as browser:
        callback = await browser.follow(await browser.start("github"))
        response = await browser.follow(callback.headers["location"])
    assert response.headers["location"] == f"{APP_URL}/login?error=email_in_use"
    assert _count(db, UserSession) == 0 and _count(db, OAuthIdentity) == 0


async def test_a_suspended_account_is_refused(db: Engine, providers: Providers) -> None:
    providers.oidc.set_user("ada-1", email="ada@example.com", email_verified=True)
    async with Browser(providers.api) as browser:
        await browser.sign_in("oidc", "ada-1")
    with session_scope(db) as session:
        user = session.exec(select(User)).one()
        user.is_disabled = True
        session.add(user)
    async with Browser(providers.api) as browser:
        response = await browser.sign_in("oidc", "ada-1")
    assert response.headers["location"] == f"{APP_URL}/login?error=account_disabled"
    assert _count(db, UserSession) == 1  # the one from before the suspension


@pytest.mark.parametrize(
    "next_path", ["https://evil.example/", "//evil.example", "/\\evil.example"]
)
async def test_next_never_leaves_our_site(db: Engine, providers: Providers, next_path: str) -> None:
    providers.oidc.set_user("ada-1", email="ada@example.com", email_verified=True)
    async with Browser(providers.api) as browser:
        response = await browser.sign_in("oidc", "ada-1", next_path=next_path)
    assert response.status_code == 303
    assert response.headers["location"] == f"{APP_URL}/upload"


async def test_only_configured_providers_are_offered(db: Engine, providers: Providers) -> None:
    offered = [(p.key, p.label) for p in configured_providers()]
    assert offered == [("google", "Google"), ("github", "GitHub"), ("oidc", "Acme SSO")]
    # The sign-in pages' buttons: one a provider, each starting that provider's sign-in.
    buttons = provider_buttons(api_url=f"{API_URL}/", next_path="/upload")
    assert [(b.key, b.label) for b in buttons] == offered
    assert buttons[2].url == f"{API_URL}/api/auth/oauth/oidc/start?next=/upload"
    # A client id without its secret is not a configured provider.
    partial = Settings(
        GITHUB_CLIENT_ID="id-only", GITHUB_CLIENT_SECRET="", GOOGLE_CLIENT_ID="", OIDC_ISSUER_URL=""
    )
    assert configured_providers(partial) == []
    async with Browser(providers.api) as browser:
        response = await browser.follow(f"{API_URL}/api/auth/oauth/facebook/start")
    assert response.status_code == 303
    assert response.headers["location"] == f"{APP_URL}/login?error=provider_unknown"
    with session_scope(db, write=False) as session:
        assert session.exec(select(func.count(col(OAuthLogin.id)))).one() == 0


# -- Account takeover through an unverified identity (issue 14, defect 8) -------------------


def _identities(db: Engine, user_id: int) -> list[tuple[str, str, bool]]:
    with session_scope(db, write=False) as session:
        rows = session.exec(
            select(OAuthIdentity)
            .where(OAuthIdentity.user_id == user_id)
            .order_by(col(OAuthIdentity.id))
        ).all()
    return [(i.provider, i.subject, i.email_verified) for i in rows]


def _live_sessions(db: Engine, user_id: int) -> int:
    with session_scope(db, write=False) as session:
        return session.exec(
            select(func.count())
            .select_from(UserSession)
            .where(UserSession.user_id == user_id, col(UserSession.revoked_at).is_(None))
        ).one()


async def _github_sign_in(browser: Browser) -> httpx.Response:
    callback = await browser.follow(await browser.start("github"))
    return await browser.follow(callback.headers["location"])


async def test_an_unverified_identity_loses_the_account_a_verified_one_claims(
    db: Engine, providers: Providers
) -> None:
    """Mallory signs in first, at the provider, as victor@ marked unverified: an account is
    made for it. Victor signs in with the address verified: he gets that account, and
    Mallory's identity no longer opens it (her session ended, her identity is gone, her
    next sign-in is refused)."""
    email = "victor@example.com"
    providers.oidc.set_user("mallory", email=email, email_verified=False)
    providers.oidc.set_user("victor", email=email, email_verified=True)
    async with Browser(providers.api) as mallory, Browser(providers.api) as victor:
        await mallory.sign_in("oidc", "mallory")
        squatted = _signed_in_as(db, mallory)
        assert squatted is not None and squatted.email == email

        await victor.sign_in("oidc", "victor")
        owner = _signed_in_as(db, victor)
        assert owner is not None and owner.id == squatted.id  # the address's account
        assert _signed_in_as(db, mallory) is None  # her session ended with the claim
        assert _identities(db, owner.id) == [("oidc", "victor", True)]

        async with Browser(providers.api) as again:
            refused = await again.sign_in("oidc", "mallory")
            assert refused.headers["location"] == f"{APP_URL}/login?error=email_in_use"
            assert again.cookie("ss_session") is None
    assert _live_sessions(db, owner.id) == 1  # Victor's only
    assert _identities(db, owner.id) == [("oidc", "victor", True)]
    with session_scope(db, write=False) as session:
        [audit] = session.exec(
            select(AuditLogEntry).where(AuditLogEntry.action == "account_claimed")
        ).all()
    assert audit.target_id == str(owner.id)
    assert audit.details["identities_removed"] == ["oidc:mallory"]
    assert audit.details["by"] == "oidc:victor" and audit.details["sessions_ended"] == 1


async def test_the_same_takeover_across_two_providers_github_then_google(
    db: Engine, providers: Providers
) -> None:
    email = "victor@example.com"
    octo = providers.github.add_user("mallory-gh", email=email, verified=False)
    providers.github.sign_in_as("mallory-gh")
    providers.google.set_user("g-victor", email=email, email_verified=True)
    async with Browser(providers.api) as mallory, Browser(providers.api) as victor:
        await _github_sign_in(mallory)
        squatted = _signed_in_as(db, mallory)
        assert squatted is not None
        assert _identities(db, squatted.id) == [("github", str(octo.id), False)]

        await victor.sign_in("google", "g-victor")
        owner = _signed_in_as(db, victor)
        assert owner is not None and owner.id == squatted.id
        assert _identities(db, owner.id) == [("google", "g-victor", True)]
        assert _signed_in_as(db, mallory) is None

        async with Browser(providers.api) as again:
            refused = await _github_sign_in(again)
            assert refused.headers["location"] == f"{APP_URL}/login?error=email_in_use"
            assert again.cookie("ss_session") is None
    assert _live_sessions(db, owner.id) == 1


async def test_a_never_verified_identity_left_on_a_verified_account_cannot_sign_in(
    db: Engine, providers: Providers
) -> None:
    """A database from before the fix still holds such links: the sign-in is refused."""
    email = "victor@example.com"
    providers.oidc.set_user("mallory", email=email, email_verified=False)
    providers.google.set_user("g-victor", email=email, email_verified=True)
    async with Browser(providers.api) as victor:
        await victor.sign_in("google", "g-victor")
        owner = _signed_in_as(db, victor)
    assert owner is not None
    with session_scope(db) as session:  # linked the way the old code left it
        session.add(
            OAuthIdentity(
                user_id=owner.id,
                provider="oidc",
                subject="mallory",
                email=email,
                email_verified=False,
            )
        )
    async with Browser(providers.api) as mallory:
        refused = await mallory.sign_in("oidc", "mallory")
        assert refused.headers["location"] == f"{APP_URL}/login?error=identity_unverified"
        assert mallory.cookie("ss_session") is None
    assert _live_sessions(db, owner.id) == 1


async def test_an_identity_once_verified_keeps_signing_in_when_the_provider_stops_saying_so(
    db: Engine, providers: Providers
) -> None:
    """The owner's own identity is not locked out when their provider later reports the
    address unverified (a changed address, say): it was proven when it was linked."""
    email = "ada@example.com"
    providers.oidc.set_user("ada-1", email=email, email_verified=True)
    providers.google.set_user("g-ada", email=email, email_verified=True)
    async with Browser(providers.api) as first:
        await first.sign_in("oidc", "ada-1")
        await first.sign_in("google", "g-ada")
        owner = _signed_in_as(db, first)
    assert owner is not None
    providers.oidc.set_user("ada-1", email=email, email_verified=False)
    async with Browser(providers.api) as second:
        response = await second.sign_in("oidc", "ada-1")
        assert response.headers["location"] == f"{APP_URL}/upload"
        assert (current := _signed_in_as(db, second)) is not None and current.id == owner.id
    assert _identities(db, owner.id) == [("oidc", "ada-1", True), ("google", "g-ada", True)]


async def test_an_identity_whose_provider_verifies_the_address_later_keeps_its_account(
    db: Engine, providers: Providers
) -> None:
    providers.oidc.set_user("bob-1", email="bob@example.com", email_verified=False)
    async with Browser(providers.api) as browser:
        await browser.sign_in("oidc", "bob-1")
        first = _signed_in_as(db, browser)
    assert first is not None
    providers.oidc.set_user("bob-1", email="bob@example.com", email_verified=True)
    async with Browser(providers.api) as browser:
        await browser.sign_in("oidc", "bob-1")
        again = _signed_in_as(db, browser)
    assert again is not None and again.id == first.id
    assert _identities(db, first.id) == [("oidc", "bob-1", True)]  # it claimed, not removed
    assert _user(db, "bob@example.com").email_verified_at is not None
