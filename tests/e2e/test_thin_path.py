"""The thin path in real Chromium against a running Style Studio."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    API,
    BASE,
    RunningApp,
    balance,
    open_page,
    product_jpeg,
    received,
    shot,
    sign_in,
    sign_out,
    sign_up,
)

pytestmark = pytest.mark.e2e


def test_sign_up_upload_generate_and_see_it_in_the_gallery(page, tmp_path: Path) -> None:
    pg = page
    sign_up(pg, "shopper@example.com", "shopper-password-1")
    pg.wait_for_function("document.querySelector('#credit-balance')?.innerText === '10 credits'")
    assert balance(pg) == 10

    pg.locator("#product input[type=file]").set_input_files(str(product_jpeg(tmp_path / "bag.jpg")))
    pg.get_by_text("bag.jpg").wait_for()
    pg.get_by_label("Prompt", exact=True).fill("A blue bottle on a warm backdrop")
    pg.get_by_label("Style").select_option("fashion")
    pg.get_by_label("Quality").select_option("high")
    pg.get_by_label("Aspect ratio").select_option("16:9")
    cost = pg.locator("#generation-cost")
    pg.wait_for_function("document.querySelector('#generation-cost').innerText === '2 credits'")
    assert cost.inner_text() == "2 credits"  # ceil(1.5 high x 1.2 16:9)
    shot(pg, "upload")

    url_before = pg.url
    pg.get_by_role("button", name="Generate", exact=True).click()
    status = pg.locator(".generation-status").first
    status.wait_for()
    pg.locator(".generation-status[data-status=completed]").wait_for(timeout=90_000)
    assert pg.url == url_before  # live update, no reload
    pg.wait_for_function("document.querySelector('#credit-balance')?.innerText === '8 credits'")
    assert balance(pg) == 8
    shot(pg, "upload-completed")

    open_page(pg, "/gallery")
    card = pg.locator(".generation-card").first
    card.wait_for()
    assert pg.locator(".generation-card").count() == 1
    assert card.locator(".generation-status").get_attribute("data-status") == "completed"
    assert "Fashion" in card.inner_text()
    img_src = card.locator("img").first.get_attribute("src")
    assert img_src and httpx.get(img_src, timeout=30).headers["content-type"] == "image/jpeg"
    shot(pg, "gallery")

    open_page(pg, "/explore")
    pg.get_by_text("Nothing featured yet").wait_for()
    shot(pg, "explore")
    open_page(pg, "/credits")
    pg.get_by_text("Credit packs").wait_for()
    pg.get_by_text("Free trial credits").first.wait_for()
    assert pg.locator("#credits-page-balance").inner_text() == "8 credits"
    shot(pg, "credits")

    # /admin refuses a normal user on the server: no dashboard data reaches the page (the
    # newest users' list would carry the admin's own address).
    open_page(pg, "/admin")
    pg.get_by_text("Administrators only").wait_for()
    assert not received(pg, ADMIN_EMAIL)


def test_bad_upload_and_wrong_password_get_clear_messages(page, tmp_path: Path) -> None:
    pg = page
    sign_up(pg, "seller@example.com", "seller-password-1")
    fake = tmp_path / "notes.jpg"
    fake.write_bytes(b"%PDF-1.4 this is not a photo")
    pg.locator("#product input[type=file]").set_input_files(str(fake))
    pg.locator("#upload-error").wait_for()
    assert "not an image we can read" in pg.locator("#upload-error").inner_text()
    assert pg.get_by_role("button", name="Generate", exact=True).is_disabled()

    sign_out(pg)
    pg.get_by_label("Email").fill("seller@example.com")
    pg.get_by_label("Password").fill("wrong-password")
    pg.get_by_role("button", name="Sign in").click()
    pg.get_by_text("Email or password is incorrect.").wait_for()
    assert pg.url == f"{BASE}/login"


def test_admin_sees_the_dashboard(page) -> None:
    pg = page
    sign_up(pg, "dashboard.newcomer@example.com", "newcomer-password-1")
    sign_out(pg)
    sign_in(pg, ADMIN_EMAIL, ADMIN_PASSWORD)
    open_page(pg, "/admin")
    pg.get_by_text("Newest users").wait_for()
    newest = pg.locator("#newest-users")
    newest.get_by_role("cell", name="dashboard.newcomer@example.com", exact=True).wait_for()
    shot(pg, "admin")


def test_health_and_readiness_report_ok(app_server: RunningApp) -> None:
    assert httpx.get(f"{API}/api/health").json() == {"status": "ok"}
    ready = httpx.get(f"{API}/api/ready")
    body = ready.json()
    assert ready.status_code == 200, body
    assert body["status"] == "ready" and body["failed"] == []
    assert (body["database"], body["redis"], body["storage"]) == ("ok", "ok", "ok")
