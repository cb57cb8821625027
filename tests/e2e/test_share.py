"""Share links in the browser: the owner creates one, a visitor (no sign-in) opens it and the
page carries OpenGraph tags; revoked, it answers 404 at once."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import open_page, product_jpeg, record_measurement, shot, sign_up

pytestmark = pytest.mark.e2e


def test_share_a_result_then_revoke_it(page: Any, browser: Any, tmp_path: Path) -> None:
    pg = page
    sign_up(pg, "sharer.e2e@example.com", "sharer-password-1")
    open_page(pg, "/upload")
    pg.locator("#product input[type=file]").set_input_files(
        str(product_jpeg(tmp_path / "kettle.jpg", color=(150, 40, 40)))
    )
    pg.get_by_text("kettle.jpg").wait_for()
    pg.get_by_label("Prompt", exact=True).fill('A kettle <b>"bold"</b> & steam')
    pg.get_by_role("button", name="Generate", exact=True).click()
    pg.locator(".generation-status[data-status=completed]").wait_for(timeout=90_000)

    open_page(pg, "/gallery")
    pg.locator(".generation-card").first.get_by_role("button", name="Share").click()
    pg.get_by_role("button", name="Create link").click()
    url_box = pg.locator("#share-url")
    url_box.wait_for()
    url = url_box.input_value()
    assert re.fullmatch(r"http://localhost:\d+/s/[A-Za-z0-9_-]{43}", url), url
    shot(pg, "gallery-share")

    visitor = browser.new_context().new_page()
    visitor.goto(url)
    og = {
        prop: visitor.locator(f'meta[property="{prop}"]').get_attribute("content")
        for prop in ("og:title", "og:image", "og:description")
    }
    assert og["og:description"] == 'A kettle <b>"bold"</b> & steam'  # escaped in the HTML
    assert og["og:image"] and "/api/media/" in og["og:image"]
    assert httpx.get(og["og:image"], timeout=10).status_code == 200
    visitor.get_by_role("img").first.wait_for()
    shot(visitor, "share-page")

    pg.locator(".share-link").first.get_by_role("button", name="Revoke").click()
    revoked_at = time.perf_counter()
    while httpx.get(url, timeout=5).status_code != 404:
        assert time.perf_counter() - revoked_at < 5
        time.sleep(0.05)
    gone_s = time.perf_counter() - revoked_at
    assert gone_s < 1.0
    record_measurement("share_link", {"revoke_to_404_s": round(gone_s, 3)})
    visitor.context.close()
