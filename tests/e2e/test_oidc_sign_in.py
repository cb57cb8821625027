"""Signing in through a real OpenID Connect provider, in Chromium: the whole redirect flow
(our start, the provider's form, our callback), an account with the free trial, the same
account the next time, a second provider linking by verified email, an unverified one not."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from tests.e2e.conftest import (
    BASE,
    RunningApp,
    balance,
    open_page,
    record_measurement,
    shot,
    sign_out,
)
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, running_oidc_provider

pytestmark = pytest.mark.e2e


def _continue_with(pg: Any, label: str, subject: str) -> None:
    """From /login: the provider's button, then approve as `subject` on its form."""
    open_page(pg, "/login")
    pg.locator(".oauth-provider", has_text=label).click()
    pg.locator("input[name=sub]").wait_for()
    pg.locator("input[name=sub]").fill(subject)
    pg.get_by_role("button", name="Authorize").click()


def _accounts(app: RunningApp, email: str) -> list[tuple[int, str]]:
    with sqlite3.connect(app.data_dir / "stylestudio.db") as conn:
        return conn.execute(
            "SELECT u.id, i.provider FROM users u LEFT JOIN oauth_identities i "
            "ON i.user_id = u.id WHERE u.email = ? ORDER BY i.provider",
            (email,),
        ).fetchall()


@pytest.mark.backend_restarts
def test_sign_in_with_oidc_then_link_a_second_provider(page: Any, app_server: RunningApp) -> None:
    pg = page
    with running_oidc_provider() as issuer, running_oidc_provider() as google:
        app_server.restart_backend(
            OIDC_ISSUER_URL=issuer.issuer,
            OIDC_CLIENT_ID=CLIENT_ID,
            OIDC_CLIENT_SECRET=CLIENT_SECRET,
            OIDC_NAME="Acme SSO",
            GOOGLE_CLIENT_ID=CLIENT_ID,
            GOOGLE_CLIENT_SECRET=CLIENT_SECRET,
            GOOGLE_DISCOVERY_URL=google.discovery_url,
        )
        try:
            email = "sso.e2e@example.com"
            issuer.set_user("ada-sso", email=email, email_verified=True)
            _continue_with(pg, "Acme SSO", "ada-sso")
            pg.wait_for_url(f"{BASE}/upload")
            pg.locator("#credit-balance").wait_for()
            assert balance(pg) == 10  # a new account, with its free trial
            [(user_id, provider)] = _accounts(app_server, email)
            assert provider == "oidc"
            sign_out(pg)

            _continue_with(pg, "Acme SSO", "ada-sso")  # again: the same account
            pg.wait_for_url(f"{BASE}/upload")
            pg.locator("#credit-balance").wait_for()
            assert balance(pg) == 10  # no second trial
            assert [u for u, _ in _accounts(app_server, email)] == [user_id]
            sign_out(pg)

            # Another provider that verified the same address: linked to that account.
            google.set_user("g-ada", email=email, email_verified=True)
            _continue_with(pg, "Google", "g-ada")
            pg.wait_for_url(f"{BASE}/upload")
            pg.locator("#credit-balance").wait_for()
            assert _accounts(app_server, email) == [(user_id, "google"), (user_id, "oidc")]
            sign_out(pg)

            # One that did not verify it: no link, no session, and the page says why.
            google.set_user("g-mallory", email=email, email_verified=False)
            _continue_with(pg, "Google", "g-mallory")
            pg.wait_for_url(f"{BASE}/login?error=email_in_use")
            pg.get_by_role("alert").wait_for()  # the page's on_load says why
            assert "An account with this email exists" in pg.locator("form").inner_text()
            assert _accounts(app_server, email) == [(user_id, "google"), (user_id, "oidc")]
            record_measurement(
                "oidc_browser", {"account": user_id, "links": ["oidc", "google"], "refused": 1}
            )
        finally:
            app_server.restart_backend()


@pytest.mark.backend_restarts
def test_an_unverified_identity_loses_the_account_and_account_lists_each_method(
    page: Any, browser: Any, app_server: RunningApp
) -> None:
    """Mallory signs in first with victor's address marked unverified; Victor signs in with
    it verified and gets the account; Mallory's identity no longer opens it. /account then
    shows each of Victor's methods apart, and removes one (never the last)."""
    pg = page
    with running_oidc_provider() as issuer, running_oidc_provider() as google:
        app_server.restart_backend(
            OIDC_ISSUER_URL=issuer.issuer,
            OIDC_CLIENT_ID=CLIENT_ID,
            OIDC_CLIENT_SECRET=CLIENT_SECRET,
            OIDC_NAME="Acme SSO",
            GOOGLE_CLIENT_ID=CLIENT_ID,
            GOOGLE_CLIENT_SECRET=CLIENT_SECRET,
            GOOGLE_DISCOVERY_URL=google.discovery_url,
        )
        try:
            email = "victor.e2e@example.com"
            issuer.set_user("mallory", email=email, email_verified=False)
            issuer.set_user("victor", email=email, email_verified=True)
            google.set_user("g-victor", email=email, email_verified=True)
            attacker = browser.new_context()
            mallory = attacker.new_page()
            _continue_with(mallory, "Acme SSO", "mallory")
            mallory.wait_for_url(f"{BASE}/upload")
            mallory.locator("#credit-balance").wait_for()

            _continue_with(pg, "Acme SSO", "victor")
            pg.wait_for_url(f"{BASE}/upload")
            pg.locator("#credit-balance").wait_for()
            sign_out(pg)
            _continue_with(pg, "Google", "g-victor")  # a second way in, linked
            pg.wait_for_url(f"{BASE}/upload")
            pg.locator("#credit-balance").wait_for()
            [(user_id, _), _] = _accounts(app_server, email)
            assert _accounts(app_server, email) == [(user_id, "google"), (user_id, "oidc")]

            # Mallory's tab is signed out, and her identity opens nothing any more.
            mallory.goto(f"{BASE}/upload")
            mallory.wait_for_url(f"{BASE}/login*")
            _continue_with(mallory, "Acme SSO", "mallory")
            mallory.wait_for_url(f"{BASE}/login?error=email_in_use")
            attacker.close()

            open_page(pg, "/account")
            rows = pg.locator(".sign-in-method")
            rows.nth(1).wait_for()
            texts = [rows.nth(i).inner_text() for i in range(rows.count())]
            assert len(texts) == 2
            assert "Acme SSO" in texts[0] and "victor" in texts[0] and "verified" in texts[0]
            assert "Google" in texts[1] and "g-victor" in texts[1]
            assert "mallory" not in pg.locator("#sign-in-methods").inner_text()
            shot(pg, "account-sign-in-methods")

            rows.nth(1).get_by_role("button", name="Remove").click()
            pg.locator("#account-message").wait_for()
            assert "Removed: Google" in pg.locator("#account-message").inner_text()
            pg.wait_for_function("document.querySelectorAll('.sign-in-method').length === 1")
            last = pg.locator(".sign-in-method").get_by_role("button", name="Remove")
            assert last.is_disabled()  # never the last way to sign in
            assert _accounts(app_server, email) == [(user_id, "oidc")]
            shot(pg, "account-sign-in-methods-after-remove")
            record_measurement(
                "unverified_identity_takeover_browser",
                {"attacker_refused": True, "methods_listed": len(texts), "removed": 1},
            )
        finally:
            app_server.restart_backend()
