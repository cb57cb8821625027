"""Buying credits in the browser through the offline test checkout (no keys at all)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    BASE,
    RunningApp,
    balance,
    open_page,
    received,
    record_frames,
    record_measurement,
    shot,
    sign_in,
    sign_up,
)

pytestmark = pytest.mark.e2e


def _start(pg: Any, pack: str) -> None:
    open_page(pg, "/credits")
    pg.locator(f".buy-pack[data-pack={pack}]").click()
    pg.wait_for_url(f"{BASE}/checkout/test/**")
    pg.get_by_text("Test mode — no real payment is taken").wait_for()


def _wait_balance(pg: Any, credits: int, timeout_ms: int = 30_000) -> None:
    pg.wait_for_function(
        f"document.querySelector('#credit-balance')?.innerText === '{credits} credits'",
        timeout=timeout_ms,
    )


def _set_free_trial(browser: Any, credits: int) -> None:
    """As the admin, in a window of their own."""
    admin = browser.new_context().new_page()
    sign_in(admin, ADMIN_EMAIL, ADMIN_PASSWORD)
    open_page(admin, "/admin")
    admin.get_by_label("Free-trial credits").fill(str(credits))
    admin.get_by_role("button", name="Save settings").click()
    admin.locator("#billing-message").wait_for()
    admin.context.close()


def test_buy_a_pack_through_the_test_checkout(page: Any, browser: Any) -> None:
    pg = page
    _set_free_trial(browser, 0)  # a buyer who starts with nothing
    try:
        sign_up(pg, "buyer.e2e@example.com", "buyer-password-1")
    finally:
        _set_free_trial(browser, 10)
    assert balance(pg) == 0

    # Cancel and Decline change nothing and say so.
    _start(pg, "starter")
    pg.get_by_role("button", name="Cancel").click()
    pg.wait_for_url(f"{BASE}/credits?cancelled=*")
    pg.locator("#checkout-message").get_by_text("Checkout cancelled").wait_for()
    _start(pg, "starter")
    pg.get_by_role("button", name="Decline").click()
    pg.locator("#checkout-message").get_by_text("Payment declined").wait_for()
    assert balance(pg) == 0

    # Pay: back on /credits the header shows the pack's credits, without a reload.
    _start(pg, "standard")
    assert pg.locator("#checkout-price").inner_text() == "$9.99"
    shot(pg, "test-checkout")
    started = time.perf_counter()
    pg.get_by_role("button", name="Pay", exact=True).click()
    pg.wait_for_url(f"{BASE}/credits?session_id=**")
    navigations: list[str] = []
    pg.on("framenavigated", lambda frame: navigations.append(frame.url))
    _wait_balance(pg, 50, timeout_ms=10_000)
    paid_s = time.perf_counter() - started
    pg.locator("#checkout-message").get_by_text("50 credits added").wait_for()
    assert navigations == []  # live, no reload
    pg.get_by_text("Purchase — Standard pack (50 credits) · $9.99").wait_for()
    record_measurement("test_checkout_pay", {"pay_click_to_header_s": round(paid_s, 2)})
    shot(pg, "credits-after-purchase")

    # Pay later: processing first, then the credits when it settles.
    _start(pg, "starter")
    pg.get_by_role("button", name="Pay later").click()
    pg.locator("#checkout-message").get_by_text(
        "Payment processing — credits arrive when it clears"
    ).wait_for()
    assert balance(pg) == 50
    _wait_balance(pg, 60)
    pg.locator("#checkout-message").get_by_text("10 credits added").wait_for()


def test_admin_changes_a_price_and_the_next_checkout_charges_it(page: Any) -> None:
    pg = page
    sign_in(pg, ADMIN_EMAIL, ADMIN_PASSWORD)
    open_page(pg, "/admin")
    form = pg.locator("form[data-pack=pro]")
    form.get_by_label("Price in dollars").fill("24.50")
    form.get_by_role("button", name="Save").click()
    pg.locator("#billing-message").wait_for()
    pg.locator("#audit-log").get_by_text("24.50").first.wait_for()
    shot(pg, "admin-billing")

    _start(pg, "pro")
    assert pg.locator("#checkout-price").inner_text() == "$24.50"
    pg.get_by_role("button", name="Cancel").click()
    pg.wait_for_url(f"{BASE}/credits?cancelled=*")
    open_page(pg, "/admin")
    # The buyer cancelled: said so, not "expired" (which is the provider closing it).
    pg.locator("#purchases .purchase-status").get_by_text("cancelled", exact=True).first.wait_for()


def test_someone_elses_test_checkout_is_not_found(page: Any, browser: Any) -> None:
    owner = page
    sign_up(owner, "owner.of.checkout@example.com", "owner-password-1")
    _start(owner, "starter")
    url = owner.url
    price = owner.locator("#checkout-price").inner_text()
    assert price.startswith("$")
    other = browser.new_context().new_page()
    record_frames(other)
    sign_up(other, "someone.else@example.com", "someone-password-1")
    other.goto(url)
    other.get_by_text("Checkout not found").wait_for()
    # Nothing of the owner's checkout reached the stranger's tab: not its price, not its owner.
    assert not received(other, price)
    assert not received(other, "owner.of.checkout@example.com")
    other.context.close()


@pytest.mark.backend_restarts
def test_production_without_stripe_keys_says_payments_are_not_configured(
    app_server: RunningApp, page: Any
) -> None:
    pg = page
    app_server.restart_backend(
        STYLESTUDIO_ENV="production", STYLESTUDIO_SECRET_KEY="production-secret-" + "x" * 40
    )
    try:
        sign_up(pg, "prod.buyer@example.com", "prod-buyer-password-1")
        open_page(pg, "/credits")
        pg.locator(".buy-pack[data-pack=standard]").click()
        pg.locator("#checkout-message").get_by_text("Payments are not configured").wait_for()
        assert pg.url == f"{BASE}/credits"
        assert balance(pg) == 0  # in production the free trial waits for a verified email
        shot(pg, "credits-payments-not-configured")
    finally:
        app_server.restart_backend()
