"""Share links in the browser: the owner creates one, a visitor (no sign-in) opens it and the
page carries OpenGraph tags; revoked, it answers 404 at once — and so does every image
address it showed, while the owner's own gallery keeps its pictures."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import (
    API,
    BASE,
    open_page,
    product_jpeg,
    record_measurement,
    shot,
    sign_up,
)

pytestmark = pytest.mark.e2e

# Every address the page names, resolved against it: src, href, srcset candidates and any
# meta content that is an address (og:image, twitter:image, og:url, ...).
_SHOWN_URLS_JS = """() => {
  const urls = new Set();
  const add = (value) => { try { urls.add(new URL(value, document.baseURI).href); } catch (e) {} };
  for (const el of document.querySelectorAll('*')) {
    for (const attr of ['src', 'href', 'poster', 'data-src']) {
      const value = el.getAttribute(attr);
      if (value) add(value);
    }
    for (const attr of ['srcset', 'imagesrcset']) {
      const value = el.getAttribute(attr);
      if (value) value.split(',').forEach((c) => c.trim() && add(c.trim().split(/\\s+/)[0]));
    }
  }
  for (const meta of document.querySelectorAll('meta[content]')) {
    const value = meta.getAttribute('content');
    if (/^(https?:)?\\//.test(value)) add(value);
  }
  for (const img of document.images) add(img.currentSrc || img.src);
  return [...urls];
}"""


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
    assert og["og:image"]
    assert httpx.get(og["og:image"], timeout=10).status_code == 200
    visitor.get_by_role("img").first.wait_for()
    assert visitor.evaluate("() => document.images[0].naturalWidth") > 0
    # The app's icon, served by the backend beside the page.
    assert httpx.get(f"{API}/favicon.ico", timeout=10).status_code == 200
    shot(visitor, "share-page")

    # Everything the page showed, but the app's own pages and its icon.
    shown = sorted(
        u
        for u in visitor.evaluate(_SHOWN_URLS_JS)
        if not u.startswith(BASE) and u != f"{API}/favicon.ico"
    )
    assert og["og:image"] in shown and url in shown
    for shown_url in shown:
        assert httpx.get(shown_url, timeout=10).status_code == 200, shown_url

    pg.locator(".share-link").first.get_by_role("button", name="Revoke").click()
    revoked_at = time.perf_counter()
    while httpx.get(url, timeout=5).status_code != 404:
        assert time.perf_counter() - revoked_at < 5
        time.sleep(0.05)
    gone_s = time.perf_counter() - revoked_at
    assert gone_s < 1.0
    alive = set(shown)
    while alive:
        alive = {u for u in alive if httpx.get(u, timeout=5).status_code not in (403, 404)}
        assert time.perf_counter() - revoked_at < 5, f"still served after Revoke: {alive}"
        if alive:
            time.sleep(0.05)
    all_gone_s = time.perf_counter() - revoked_at
    assert og["og:image"].startswith(f"{API}/api/share/")  # through the token, not signed
    record_measurement(
        "share_link",
        {
            "revoke_to_404_s": round(gone_s, 3),
            "revoke_to_every_shown_url_dead_s": round(all_gone_s, 3),
            "shown_urls": len(shown),
        },
    )
    visitor.reload()
    assert visitor.get_by_text("This link is no longer available").is_visible()
    shot(visitor, "share-page-revoked")
    visitor.context.close()

    # The owner's own gallery still shows the picture (its private signed URLs live on).
    pg.keyboard.press("Escape")
    open_page(pg, "/gallery")
    card_image = pg.locator(".generation-card img").first
    card_image.wait_for()
    pg.wait_for_function(
        "() => { const i = document.querySelector('.generation-card img');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    src = card_image.get_attribute("src")
    assert src and httpx.get(src, timeout=10).status_code == 200
