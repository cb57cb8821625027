"""An admin adjusts a user's credits with a reason and suspends them, in Chromium: the user
sees the credits; once suspended, their open tab is signed out and signing in is refused.
The admin's audit log and newest users follow each change without a reload."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    BASE,
    RunningApp,
    balance,
    open_page,
    shot,
    sign_in,
    sign_up,
)

pytestmark = pytest.mark.e2e


def test_adjust_credits_then_suspend_and_restore(
    page: Any, browser: Any, app_server: RunningApp
) -> None:
    email, password = "suspend.me.e2e@example.com", "suspend-me-pass-1"
    sign_up(page, email, password)
    admin_context = browser.new_context(viewport={"width": 1280, "height": 900})
    admin = admin_context.new_page()
    try:
        sign_in(admin, ADMIN_EMAIL, ADMIN_PASSWORD)
        open_page(admin, "/admin")
        users = admin.locator("#users")
        users.get_by_label("Search users").fill("suspend.me")
        users.locator(f".admin-user-row[data-email='{email}']").wait_for()

        adjust = admin.locator("#adjust-credits")
        adjust.get_by_label("User email").fill(email)
        adjust.get_by_label("Credits change").fill("5")
        adjust.get_by_label("Adjustment reason").fill("welcome bonus")
        adjust.get_by_role("button", name="Adjust credits").click()
        admin.locator("#users-message").get_by_text("now has 15").wait_for()
        # Without a reload: the audit log names the user by email, the newest users show
        # the new balance, and the user's last sign-in (their sign-up) is known.
        admin.locator("#audit-log").get_by_text(f"Credits adjusted: {email}").wait_for()
        admin.locator(f"#newest-users .newest-user[data-email='{email}']").get_by_text(
            "15", exact=True
        ).wait_for()
        row = users.locator(f".admin-user-row[data-email='{email}']")
        assert row.locator(".last-sign-in").inner_text().strip() not in ("", "—")
        open_page(page, "/credits")
        page.wait_for_function(
            "document.querySelector('#credit-balance')?.innerText === '15 credits'"
        )
        assert balance(page) == 15

        suspend = admin.locator("#suspend-user")
        suspend.get_by_label("Suspend email").fill(email)
        suspend.get_by_label("Suspend reason").fill("payment fraud")
        suspend.get_by_role("button", name="Suspend").click()
        admin.locator("#users-message").get_by_text("suspended").wait_for()
        shot(admin, "admin-users")

        open_page(page, "/upload")  # the user's open tab: the session has ended
        page.wait_for_url(f"{BASE}/login*")  # perhaps by way of the sign-in nonce (?browser=)
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("alert").wait_for()
        assert "/login" in page.url

        restore = admin.locator("#restore-user")
        restore.get_by_label("Restore email").fill(email)
        restore.get_by_label("Restore reason").fill("cleared")
        restore.get_by_role("button", name="Restore").click()
        admin.locator("#users-message").get_by_text("restored").wait_for()
        sign_in(page, email, password)
        assert balance(page) == 15
        audit = admin.locator("#audit-log")
        audit.get_by_text(f"User restored: {email}").wait_for()  # no reload needed
        assert f"User suspended: {email}" in audit.inner_text()
        assert " user " not in audit.inner_text()  # never "user 5"
    finally:
        admin_context.close()
