"""/account's Developers section in a real browser: a key created with two scopes shows its
secret once, the secret works against the app's database, is gone after a reload, and stops
working once revoked; the section fits a phone."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine

from stylestudio.db import create_db_engine, session_scope
from stylestudio.services.accounts import api_keys
from stylestudio.services.errors import UnauthorizedError
from tests.e2e.conftest import BASE, RunningApp, open_page, shot, sign_up
from tests.e2e.test_accessibility import _violations

pytestmark = pytest.mark.e2e

SECRET_FIELD = "#api-key-secret"


def _authenticate(engine: Engine, secret: str) -> frozenset[str] | None:
    """The key's scopes when the service lets it in, else None."""
    try:
        with session_scope(engine) as session:
            return api_keys.authenticate_api_key(session, secret, address="203.0.113.7").scopes
    except UnauthorizedError:
        return None


def _page_width(pg: Any) -> int:
    return int(pg.evaluate("document.documentElement.scrollWidth"))


def test_create_copy_once_and_revoke_an_api_key(page: Any, app_server: RunningApp) -> None:
    pg = page
    sign_up(pg, "api.keys.e2e@example.com", "api-keys-password-1")
    open_page(pg, "/account")
    section = pg.locator("#developers")
    section.get_by_text("No keys yet.").wait_for()
    assert section.locator(SECRET_FIELD).is_hidden()
    reference = pg.locator("#api-reference")
    assert (reference.get_attribute("href") or "").endswith("/api/v1/docs")

    # An empty name is refused, with a message, and nothing is created.
    pg.get_by_role("button", name="Create key").click()
    pg.locator("#api-keys-message").get_by_text("Give the key a name").wait_for()
    assert pg.locator(".api-key").count() == 0

    # generate + read are ticked by default: untick read, tick credits:read.
    pg.get_by_label("Key name").fill("Catalogue sync")
    pg.get_by_role("checkbox", name="read Read generations").click()
    pg.get_by_role("checkbox", name="credits:read").click()
    pg.get_by_role("button", name="Create key").click()
    pg.get_by_text("Copy this key now: it will not be shown again.").wait_for()
    pg.wait_for_function(
        f"document.querySelector('{SECRET_FIELD}').value.startsWith('{api_keys.KEY_MARK}')"
    )
    secret = pg.locator(SECRET_FIELD).input_value()
    assert len(secret) > 40
    assert pg.locator(SECRET_FIELD).get_attribute("readonly") is not None
    # `Copy` puts it on the clipboard (read back in the page, which the test allows).
    pg.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=BASE)
    pg.get_by_role("button", name="Copy").click()
    pg.get_by_text("Copied to the clipboard.").wait_for()
    assert pg.evaluate("navigator.clipboard.readText()") == secret
    assert pg.locator("#api-keys-message").count() == 0  # the earlier error went
    row = pg.locator(".api-key").first
    assert row.get_attribute("data-status") == "active"
    row.get_by_text(secret[: api_keys.PREFIX_LENGTH] + "…").wait_for()
    badges = row.locator(".rt-Badge").all_inner_texts()
    assert "generate" in badges and "credits:read" in badges and "read" not in badges
    row.get_by_text("never used").wait_for()
    # The name field is empty again for the next key; the secret stays until `Done`.
    assert pg.get_by_label("Key name").input_value() == ""
    shot(pg, "account-api-key-created")
    # The secret's panel and a listed key, named for assistive technology too (the
    # accessibility test sees the section empty).
    assert _violations(pg, "/account with a new key") == []

    engine = create_db_engine(f"sqlite:///{app_server.data_dir / 'stylestudio.db'}")
    try:
        assert _authenticate(engine, secret) == frozenset({"generate", "credits:read"})

        # A reload: the secret is not shown again (nor kept anywhere to show); the key is
        # listed with its last use.
        pg.reload()
        open_page(pg, "/account")
        row = pg.locator(".api-key").first
        row.get_by_text("from 203.0.113.7").wait_for()
        assert pg.locator(SECRET_FIELD).input_value() == ""
        assert pg.locator(SECRET_FIELD).is_hidden()
        assert secret not in pg.content()
        assert not pg.get_by_text("Copy this key now").is_visible()

        # On a phone: nothing scrolls sideways, with the secret shown too.
        pg.set_viewport_size({"width": 390, "height": 844})
        pg.get_by_label("Key name").fill("Phone key with a rather long name for a narrow screen")
        pg.get_by_role("button", name="Create key").click()
        pg.get_by_text("Copy this key now: it will not be shown again.").wait_for()
        pg.wait_for_function(f"document.querySelector('{SECRET_FIELD}').value !== ''")
        pg.locator("#developers").scroll_into_view_if_needed()
        assert _page_width(pg) <= 390, _page_width(pg)
        shot(pg, "phone-account-api-keys")
        pg.get_by_role("button", name="Copy").click()
        pg.get_by_text("Copied to the clipboard.").wait_for()
        pg.get_by_role("button", name="Done").click()
        pg.get_by_text("Copy this key now").wait_for(state="hidden")
        assert pg.locator(SECRET_FIELD).input_value() == ""
        assert pg.locator("#api-key-copied").inner_text() == ""
        pg.set_viewport_size({"width": 1280, "height": 900})

        # Revoke, confirmed in a dialog: the key stops working and is shown greyed.
        catalogue = pg.locator(".api-key").filter(has_text="Catalogue sync")
        catalogue.get_by_role("button", name="Revoke key Catalogue sync").click()
        dialog = pg.get_by_role("alertdialog")
        dialog.get_by_text("stop working at once").wait_for()
        shot(pg, "account-api-key-revoke-dialog")
        pg.wait_for_timeout(300)  # the dialog's opening animation
        assert _violations(pg, "/account revoke dialog") == []
        dialog.get_by_role("button", name="Revoke key").click()
        catalogue.get_by_text("Revoked").wait_for()
        assert catalogue.get_attribute("data-status") == "revoked"
        assert catalogue.get_by_role("button", name="Revoke key Catalogue sync").count() == 0
        assert _authenticate(engine, secret) is None
        shot(pg, "account-api-keys")
    finally:
        engine.dispose()
