"""Sessions a page script cannot steal: the cookie is HttpOnly, set by the backend, new at
every sign-in, dead after `Sign out`, and `Sign out everywhere` ends the other browsers'."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import (
    API,
    BASE,
    CHROMIUM,
    CHROMIUM_FLAGS,
    RunningApp,
    open_page,
    record_measurement,
    sign_in,
    sign_out,
    sign_up,
)

pytestmark = pytest.mark.e2e

SESSION = "ss_session"


def _session_cookie(context: Any) -> dict[str, Any]:
    [cookie] = [c for c in context.cookies() if c["name"] == SESSION]
    return dict(cookie)


def _studio_or_login(context: Any) -> str:
    """Open /upload in a new tab of `context`: where the app sends that browser."""
    pg = context.new_page()
    try:
        open_page(pg, "/upload")
        # Signed in: the header's balance. Signed out: on_load sends the tab to /login (and
        # on through the backend for a sign-in nonce, if the browser has none).
        pg.locator("#credit-balance, #auth-submit").first.wait_for()
        return "/login" if "/login" in pg.url else "/upload"
    finally:
        pg.close()


def test_the_session_cookie_is_http_only_new_each_time_and_dead_after_sign_out(
    page: Any, browser: Any, app_server: RunningApp
) -> None:
    pg = page
    email, password = "cookie.e2e@example.com", "cookie-password-1"
    sign_up(pg, email, password)
    first = _session_cookie(pg.context)
    assert first["httpOnly"] is True
    assert first["sameSite"] == "Lax"
    assert SESSION not in pg.evaluate("document.cookie")
    # Nor is the token anywhere in what the backend sent the page (state included).
    assert first["value"] not in pg.content()

    sign_out(pg)
    # The cookie captured before `Sign out`, replayed in another browser: dead.
    thief = browser.new_context()
    thief.add_cookies([first])  # as captured: name, value, domain, path, flags
    assert _studio_or_login(thief) == "/login"
    thief.close()

    sign_in(pg, email, password)
    second = _session_cookie(pg.context)
    assert second["value"] != first["value"]  # a new token at every sign-in
    assert SESSION not in pg.evaluate("document.cookie")
    sign_out(pg)
    sign_in(pg, email, password)
    third = _session_cookie(pg.context)
    assert third["value"] not in (first["value"], second["value"])
    record_measurement(
        "session_cookie",
        {
            "http_only": first["httpOnly"],
            "same_site": first["sameSite"],
            "in_document_cookie": SESSION in pg.evaluate("document.cookie"),
            "distinct_tokens_over_three_sign_ins": len(
                {first["value"], second["value"], third["value"]}
            ),
        },
    )


def test_sign_out_everywhere_ends_the_other_browsers_sessions(
    page: Any, browser: Any, app_server: RunningApp
) -> None:
    email, password = "everywhere.e2e@example.com", "everywhere-password-1"
    sign_up(page, email, password)
    other_browser = browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
    try:
        laptop = other_browser.new_context()
        sign_in(laptop.new_page(), email, password)
        assert _studio_or_login(laptop) == "/upload"

        page.get_by_role("button", name="Account menu").click()
        page.get_by_text("Sign out everywhere").click()
        page.wait_for_url(f"{BASE}/login")
        assert _studio_or_login(laptop) == "/login"
        assert _studio_or_login(page.context) == "/login"
        laptop.close()
    finally:
        other_browser.close()


def test_a_sign_in_ticket_opened_in_another_browser_signs_nobody_in(
    page: Any, browser: Any, app_server: RunningApp
) -> None:
    """Login CSRF: Mallory stops her own sign-in before the redirect, keeps the ticket URL and
    makes Victor's browser open it. Victor gets no session; the ticket still signs Mallory in
    in her own browser."""
    email, password = "mallory.e2e@example.com", "mallory-password-1"
    sign_up(page, email, password)
    sign_out(page)
    open_page(page, "/login")
    [nonce] = [c for c in page.context.cookies() if c["name"] == "ss_signin"]
    assert nonce["httpOnly"] is True and nonce["sameSite"] == "Strict"
    assert "ss_signin" not in page.evaluate("document.cookie")

    # Mallory's browser stops at the redirect to the backend: she keeps the URL.
    page.route(f"{API}/api/auth/session*", lambda route: route.abort())
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_request(f"{API}/api/auth/session*") as redirect:
        page.get_by_role("button", name="Sign in").click()
    ticket_url = redirect.value.url
    assert "ticket=" in ticket_url
    page.unroute(f"{API}/api/auth/session*")

    victor = browser.new_context()
    try:
        tab = victor.new_page()
        open_page(tab, "/login")  # Victor's browser has a sign-in nonce of its own
        tab.goto(ticket_url)
        tab.wait_for_url(f"{BASE}/login?error=expired*")
        tab.get_by_role("alert").wait_for()
        assert "took too long or was already used" in tab.get_by_role("alert").inner_text()
        assert SESSION not in [c["name"] for c in victor.cookies()]
        assert _studio_or_login(victor) == "/login"
        # A browser with no cookie at all: the same.
        stranger = browser.new_context()
        stranger.new_page().goto(ticket_url)
        assert SESSION not in [c["name"] for c in stranger.cookies()]
        stranger.close()
    finally:
        victor.close()

    page.goto(ticket_url)  # the browser the ticket was issued to
    page.wait_for_url(f"{BASE}/upload")
    page.locator("#credit-balance").wait_for()
    assert _session_cookie(page.context)["httpOnly"] is True
    assert "ss_signin" not in [c["name"] for c in page.context.cookies()]  # used up
    record_measurement(
        "sign_in_ticket_binding",
        {"other_browser_signed_in": False, "own_browser_signed_in": True},
    )
