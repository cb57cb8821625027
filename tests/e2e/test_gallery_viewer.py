"""The gallery's viewer in Chromium: a two-variation card opens both images (arrow keys and
a swipe move between them, Escape closes), `Download` saves one under a readable name,
`Download all` saves a zip of both, byte for byte, and nobody else gets it; before/after
compares with the product photo on a checkerboard (the product is transparent, a scene is
used), never with the scene."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from tests.e2e.conftest import (
    BASE,
    SHOTS,
    open_page,
    product_jpeg,
    record_measurement,
    shot,
    sign_up,
)

pytestmark = pytest.mark.e2e


def _transparent_product(path: Path) -> Path:
    im = Image.new("RGBA", (800, 800), (0, 0, 0, 0))
    ImageDraw.Draw(im).rounded_rectangle((250, 200, 550, 700), radius=50, fill=(200, 30, 40, 255))
    im.save(path, "PNG")
    return path


def _current(pg: Any) -> int:
    return int(pg.locator(".viewer-image[data-current=true]").get_attribute("data-number"))


def _wait_current(pg: Any, number: int) -> None:
    pg.wait_for_function(
        f"document.querySelector('.viewer-image[data-current=true]')?.dataset.number === '{number}'"
    )


def _swipe(pg: Any, dx: int) -> None:
    """A finger's horizontal swipe on the picture (pointer events, as a touch screen sends)."""
    pg.evaluate(
        """(dx) => {
          const stage = document.querySelector('#viewer-stage');
          const r = stage.getBoundingClientRect();
          const y = r.top + r.height / 2, x = r.left + r.width / 2 - dx / 2;
          const opts = (cx) => ({bubbles: true, clientX: cx, clientY: y, pointerType: 'touch'});
          stage.dispatchEvent(new PointerEvent('pointerdown', opts(x)));
          stage.dispatchEvent(new PointerEvent('pointerup', opts(x + dx)));
        }""",
        dx,
    )


def test_the_viewer_shows_both_variations_and_downloads_them(
    page: Any, browser: Any, tmp_path: Path
) -> None:
    pg = page
    sign_up(pg, "viewer.e2e@example.com", "viewer-pass-1")
    pg.locator("#product input[type=file]").set_input_files(
        str(_transparent_product(tmp_path / "red mug.png"))
    )
    pg.wait_for_function("document.querySelectorAll('.product-photo').length === 1")
    pg.locator("#model input[type=file]").set_input_files(
        str(product_jpeg(tmp_path / "loft.jpg", color=(90, 140, 90)))
    )
    pg.get_by_text("loft.jpg").wait_for()
    pg.get_by_label("Style").select_option("fashion")
    pg.locator("#variations").select_option("2")
    pg.locator("#prompt").fill("Red mug on a linen sheet")
    pg.get_by_role("button", name="Generate", exact=True).click()
    pg.wait_for_function(
        "document.querySelector('.studio-result')?.dataset.status === 'completed'",
        timeout=120_000,
    )
    generation_id = int(pg.locator(".studio-result").get_attribute("data-generation"))
    # The studio's before/after: the product photo, on its own opaque checkerboard.
    studio_before = pg.locator(".studio-result .before-image")
    assert "/api/media/product/" in (studio_before.get_attribute("src") or "")

    open_page(pg, "/gallery")
    card = pg.locator(f".generation-card[data-generation='{generation_id}']")
    opener = card.get_by_role("button", name=re.compile(r"^Open the viewer: Fashion, 2 images"))
    opener.click()
    viewer = pg.get_by_role("dialog")
    viewer.wait_for()
    images = viewer.locator(".viewer-image")
    pg.wait_for_function("document.querySelectorAll('.viewer-image').length === 2")
    # Both variations are there, each with a thumbnail to pick it and a real alt text.
    thumbs = viewer.get_by_role("button", name=re.compile(r"^Show image \d$"))
    assert thumbs.count() == 2 and all(thumbs.nth(i).is_visible() for i in range(2))
    sources = [images.nth(i).get_attribute("src") or "" for i in range(2)]
    assert len(set(sources)) == 2 and all("/api/media/generated/" in s for s in sources)
    assert images.nth(0).get_attribute("alt") == (
        "Fashion product shot: Red mug on a linen sheet (1 of 2)"
    )
    assert _current(pg) == 1 and images.nth(0).is_visible() and not images.nth(1).is_visible()
    assert "Red mug on a linen sheet" in viewer.locator("#viewer-prompt").inner_text()
    settings = viewer.locator("#viewer-settings").inner_text()
    for expected in ("Fashion", "Standard", "1:1", "Variations", "2"):
        assert expected in settings, settings
    shot(pg, "viewer-desktop")

    # Keys and a swipe move between them.
    pg.keyboard.press("ArrowRight")
    _wait_current(pg, 2)
    assert images.nth(1).is_visible() and not images.nth(0).is_visible()
    pg.keyboard.press("ArrowLeft")
    _wait_current(pg, 1)
    _swipe(pg, -160)
    _wait_current(pg, 2)
    _swipe(pg, 160)
    _wait_current(pg, 1)
    thumbs.nth(1).click()
    _wait_current(pg, 2)

    # The originals, as stored.
    originals = [httpx.get(s, timeout=10).content for s in sources]
    assert originals[0] != originals[1] and all(o[:2] == b"\xff\xd8" for o in originals)

    # `Download`: this image, under a readable name.
    with pg.expect_download() as one:
        viewer.get_by_role("link", name="Download", exact=True).click()
    saved = one.value
    assert saved.suggested_filename == f"fashion-red-mug-on-a-{generation_id}-2.jpg"
    assert Path(saved.path()).read_bytes() == originals[1]

    # `Download all`: a zip of both, byte for byte.
    with pg.expect_download() as everything:
        viewer.get_by_role("link", name="Download all (zip)").click()
    bundle = everything.value
    assert bundle.suggested_filename == f"fashion-red-mug-on-a-{generation_id}.zip"
    archive = zipfile.ZipFile(io.BytesIO(Path(bundle.path()).read_bytes()))
    assert archive.namelist() == [
        f"fashion-red-mug-on-a-{generation_id}-1.jpg",
        f"fashion-red-mug-on-a-{generation_id}-2.jpg",
    ]
    assert [archive.read(n) for n in archive.namelist()] == originals
    zip_url = viewer.get_by_role("link", name="Download all (zip)").get_attribute("href")
    assert zip_url

    # Before/after: the product photo (not the scene) over an opaque checkerboard.
    viewer.get_by_role("button", name="Compare with the photo").click()
    before = viewer.locator(".before-image")
    before.wait_for()
    before_src = before.get_attribute("src") or ""
    assert "/api/media/product/" in before_src and "/api/media/model/" not in before_src
    layer = viewer.locator(".before-layer").evaluate(
        "(el) => { const s = getComputedStyle(el); return [s.backgroundColor, s.backgroundImage]; }"
    )
    assert layer[0] == "rgb(255, 255, 255)" and "linear-gradient" in layer[1], layer
    assert viewer.get_by_role("slider").count() == 1
    shot(pg, "viewer-before-after")
    viewer.get_by_role("button", name="Show the result").click()

    # Escape closes it.
    pg.keyboard.press("Escape")
    viewer.wait_for(state="hidden")

    # On a phone: the viewer fits, and a swipe still moves.
    pg.set_viewport_size({"width": 390, "height": 844})
    opener.click()
    pg.get_by_role("dialog").wait_for()
    pg.wait_for_function("document.querySelectorAll('.viewer-image').length === 2")
    _swipe(pg, -120)
    _wait_current(pg, 2)
    width = int(pg.evaluate("document.documentElement.scrollWidth"))
    assert width <= 390, width
    pg.screenshot(path=str(SHOTS / "viewer-phone.png"))
    pg.keyboard.press("Escape")
    pg.get_by_role("dialog").wait_for(state="hidden")
    gallery_width = int(pg.evaluate("document.documentElement.scrollWidth"))
    shot(pg, "phone-gallery-with-card")
    assert gallery_width <= 390, gallery_width

    # Nobody else gets the zip: signed out, or signed in as someone else.
    assert httpx.get(zip_url, timeout=10).status_code == 401
    other = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        stranger = other.new_page()
        sign_up(stranger, "viewer.stranger.e2e@example.com", "viewer-pass-2")
        refused = stranger.request.get(zip_url)
        assert refused.status == 404 and b"PK" not in refused.body()
        open_page(stranger, "/gallery")
        assert stranger.locator(f".generation-card[data-generation='{generation_id}']").count() == 0
    finally:
        other.close()
    record_measurement(
        "gallery_viewer",
        {
            "variations_shown": 2,
            "zip_entries_identical": True,
            "download_name": saved.suggested_filename,
            "phone_scroll_width": width,
            "phone_gallery_scroll_width": gallery_width,
        },
    )
    assert pg.url.startswith(BASE)
