"""Deleting an account from /account: the browser lands on the sign-in page, which says the
account is gone, and the old password no longer signs in."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import BASE, open_page, shot, sign_up

pytestmark = pytest.mark.e2e


def test_deleting_the_account_says_so(page: Any) -> None:
    email, password = "leaving.e2e@example.com", "leaving-password-1"
    sign_up(page, email, password)
    open_page(page, "/account")
    page.get_by_label("Type your email to confirm").fill(email)
    page.get_by_role("button", name="Delete account").click()
    page.wait_for_url(f"{BASE}/login?account=deleted")
    page.get_by_text("Your account is deleted").wait_for()
    shot(page, "account-deleted")

    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").wait_for()
    assert "/login" in page.url
