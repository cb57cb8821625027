"""The studio in depth, in Chromium: several angles (one of them HEIC) and a scene, two
styles at once with two variations each, the cost before Generate, a batch the balance
cannot cover, `Use these settings` reproducing the images byte for byte, `Take photo` from
a (fake) camera, and an admin's model price."""

from __future__ import annotations

import io
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pillow_heif
import pytest
from PIL import Image, ImageDraw

from stylestudio.services.billing import pricing
from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    CHROMIUM,
    CHROMIUM_FLAGS,
    RunningApp,
    balance,
    open_page,
    product_jpeg,
    record_measurement,
    shot,
    sign_in,
    sign_out,
    sign_up,
)

pytestmark = pytest.mark.e2e


def _heic(path: Path) -> Path:
    """A product photo as a phone saves it."""
    im = Image.new("RGB", (1200, 900), (240, 238, 232))
    ImageDraw.Draw(im).ellipse((420, 220, 780, 700), fill=(30, 110, 70))
    heif = pillow_heif.from_pillow(im)
    out = io.BytesIO()
    heif.save(out, quality=85)
    path.write_bytes(out.getvalue())
    return path


def _wait_balance(pg: Any, expected: int) -> None:
    label = f"{expected} credit" + ("" if expected == 1 else "s")
    pg.wait_for_function(
        f"document.querySelector('#credit-balance')?.innerText === {label!r}", timeout=30_000
    )


def _generations_of(app: RunningApp, email: str) -> int:
    with sqlite3.connect(app.data_dir / "stylestudio.db") as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM generations JOIN users ON users.id = generations.user_id "
            "WHERE users.email = ?",
            (email,),
        ).fetchone()
    return int(count)


def _image_bytes(card: Any) -> list[bytes]:
    urls = [
        a.get_attribute("href") for a in card.locator(".result-image a[href*='/api/media/']").all()
    ]
    return [httpx.get(u, timeout=10).content for u in urls if u and "download=" not in u]


def test_angles_styles_variations_cost_and_use_these_settings(
    page: Any, app_server: RunningApp, tmp_path: Path
) -> None:
    pg = page
    email = "studio.depth.e2e@example.com"
    sign_up(pg, email, "studio-depth-pass-1")
    _wait_balance(pg, 10)

    # Three angles in one drop, one of them a HEIC from a phone, then a scene.
    angles = [
        product_jpeg(tmp_path / "front.jpg", color=(160, 40, 40)),
        product_jpeg(tmp_path / "side.jpg", color=(40, 40, 160)),
        _heic(tmp_path / "back.heic"),
    ]
    pg.locator("#product input[type=file]").set_input_files([str(p) for p in angles])
    photos = pg.locator(".product-photo")
    pg.wait_for_function("document.querySelectorAll('.product-photo').length === 3")
    texts = [photos.nth(i).inner_text() for i in range(3)]
    for text, name in zip(texts, ("front.jpg", "side.jpg", "back.heic"), strict=True):
        assert name in text, texts
    assert "Primary" in texts[0] and "Primary" not in texts[1] + texts[2]
    pg.locator("#model input[type=file]").set_input_files(
        str(product_jpeg(tmp_path / "loft.jpg", color=(200, 200, 190)))
    )
    pg.get_by_text("loft.jpg").wait_for()

    pg.get_by_label("Style").select_option("fashion")
    pg.locator("#more-style-vintage").click()
    pg.locator("#variations").select_option("2")
    per_generation = pricing.generation_cost(
        quality="standard", aspect_ratio="1:1", model_multiplier=Decimal(1), variations=2
    )
    expected = 2 * per_generation  # Fashion + Vintage
    label = f"{expected} credits"
    pg.wait_for_function(f"document.querySelector('#generation-cost').innerText === {label!r}")
    breakdown = pg.locator("#cost-breakdown").inner_text()
    assert "2 variations" in breakdown and "2 styles" in breakdown
    shot(pg, "studio-batch-ready")

    before = balance(pg)
    started = time.perf_counter()
    pg.get_by_role("button", name="Generate", exact=True).click()
    cards = pg.locator(".studio-result")
    pg.wait_for_function("document.querySelectorAll('.studio-result').length === 2")
    first_seen = time.perf_counter() - started
    pg.wait_for_function(
        "document.querySelectorAll('.studio-result[data-status=completed]').length === 2",
        timeout=120_000,
    )
    done = time.perf_counter() - started
    _wait_balance(pg, before - expected)
    assert [cards.nth(i).locator(".result-style").inner_text() for i in range(2)] == [
        "Fashion",
        "Vintage",
    ]
    for i in range(2):
        assert cards.nth(i).locator(".result-image").count() == 2
    seeds = [
        cards.nth(0).locator(".result-image").nth(i).get_attribute("data-seed") for i in range(2)
    ]
    assert seeds[0] is not None and seeds[1] == str(int(seeds[0]) + 1)
    assert cards.nth(0).locator(".before-after").count() == 1
    shot(pg, "studio-batch-done")
    fashion = _image_bytes(cards.nth(0))
    assert len(fashion) == 2 and fashion[0] != fashion[1]

    # A batch the balance cannot cover: nothing is spent, and the message says what it needs.
    left = balance(pg)
    generations_before = _generations_of(app_server, email)
    pg.get_by_label("Quality").select_option("high")
    pg.get_by_label("Aspect ratio").select_option("16:9")
    pg.locator("#variations").select_option("4")
    pg.locator("#more-style-minimalist").click()
    need = 3 * pricing.generation_cost(
        quality="high", aspect_ratio="16:9", model_multiplier=Decimal(1), variations=4
    )
    pg.wait_for_function(
        f"document.querySelector('#generation-cost').innerText === '{need} credits'"
    )
    pg.get_by_role("button", name="Generate", exact=True).click()
    error = pg.locator("#generate-error")
    error.wait_for()
    assert f"Not enough credits for 3 styles: this needs {need}, you have {left}" in (
        error.inner_text()
    )
    assert balance(pg) == left
    assert _generations_of(app_server, email) == generations_before

    # `Use these settings` on the first Fashion result, then Generate: the same two images.
    cards.nth(0).locator(".result-image").nth(0).get_by_role(
        "button", name="Use these settings"
    ).click()
    pg.wait_for_function(f"document.querySelector('#seed').value === {seeds[0]!r}")
    pg.wait_for_function(
        f"document.querySelector('#generation-cost').innerText === '{per_generation} credits'"
    )
    assert pg.locator(".product-photo").count() == 3
    pg.get_by_role("button", name="Generate", exact=True).click()
    pg.wait_for_function(
        "document.querySelectorAll('.studio-result').length === 1 && "
        "document.querySelector('.studio-result').dataset.status === 'completed'",
        timeout=120_000,
    )
    again = _image_bytes(pg.locator(".studio-result").nth(0))
    assert again == fashion  # byte for byte
    _wait_balance(pg, left - per_generation)
    record_measurement(
        "studio_batch",
        {
            "cost_shown": expected,
            "cards_shown_after_s": round(first_seen, 2),
            "batch_completed_after_s": round(done, 2),
            "refused_batch_needed": need,
            "use_these_settings_byte_identical": again == fashion,
        },
    )


def test_take_photo_from_the_camera(browser: Any, app_server: RunningApp) -> None:
    """Chromium's fake camera (a test pattern) through `Take photo`: a product photo."""
    camera = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[
            *CHROMIUM_FLAGS,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
        ],
    )
    try:
        context = camera.new_context(viewport={"width": 1280, "height": 900})
        pg = context.new_page()
        errors: list[str] = []
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda e: errors.append(str(e)))
        sign_up(pg, "camera.e2e@example.com", "camera-pass-1")
        open_page(pg, "/upload")
        pg.get_by_role("button", name="Take photo").click()
        pg.wait_for_function(
            "document.getElementById('camera-preview')?.videoWidth > 0", timeout=15_000
        )
        shot(pg, "studio-camera")
        pg.get_by_role("button", name="Capture").click()
        photo = pg.locator(".product-photo")
        photo.first.wait_for(timeout=20_000)
        assert photo.count() == 1
        assert photo.first.inner_text().count("camera-") == 1
        assert not pg.locator("#camera-preview").is_visible()
        assert errors == []
        context.close()
    finally:
        camera.close()


def test_an_admin_model_price_doubles_the_cost(
    page: Any, app_server: RunningApp, tmp_path: Path
) -> None:
    pg = page
    email = "model.price.e2e@example.com"
    sign_up(pg, email, "model-price-pass-1")
    pg.locator("#product input[type=file]").set_input_files(
        str(product_jpeg(tmp_path / "mug.jpg", color=(90, 60, 30)))
    )
    pg.get_by_text("mug.jpg").wait_for()
    pg.wait_for_function("document.querySelector('#generation-cost').innerText === '1 credit'")
    sign_out(pg)

    sign_in(pg, ADMIN_EMAIL, ADMIN_PASSWORD)
    open_page(pg, "/admin")
    field = pg.get_by_label("Local studio price multiplier")
    try:
        field.fill("2.0")
        pg.locator("#model-prices").get_by_role("button", name="Save").click()
        pg.get_by_text("Model price saved").wait_for()
        open_page(pg, "/admin")
        assert "Model price updated: local-studio" in pg.locator("#audit-log").inner_text()
        assert "Price multiplier: 1 → 2" in pg.locator("#audit-log").inner_text()
        sign_out(pg)

        sign_in(pg, email, "model-price-pass-1")
        pg.locator("#product input[type=file]").set_input_files(
            str(product_jpeg(tmp_path / "mug2.jpg", color=(90, 60, 30)))
        )
        pg.get_by_text("mug2.jpg").wait_for()
        pg.wait_for_function("document.querySelector('#generation-cost').innerText === '2 credits'")
        before = balance(pg)
        pg.get_by_role("button", name="Generate", exact=True).click()
        pg.locator(".studio-result[data-status=completed]").wait_for(timeout=90_000)
        _wait_balance(pg, before - 2)
        sign_out(pg)
    finally:  # the other tests of the session price the local model at 1.0
        sign_in(pg, ADMIN_EMAIL, ADMIN_PASSWORD)
        open_page(pg, "/admin")
        pg.get_by_label("Local studio price multiplier").fill("1")
        pg.locator("#model-prices").get_by_role("button", name="Save").click()
        pg.get_by_text("Model price saved").wait_for()


def test_recent_uploads_follow_the_user_into_a_new_tab(page: Any, tmp_path: Path) -> None:
    """Photos uploaded in one tab are on the `Recent uploads` strip of a new tab (and after
    a reload); a click puts one back in the studio, and generating with it charges as usual.
    `Remove` takes it off the strip everywhere."""
    pg = page
    sign_up(pg, "recent.uploads.e2e@example.com", "recent-uploads-pass-1")
    open_page(pg, "/upload")
    pg.locator("#product input[type=file]").set_input_files(
        str(product_jpeg(tmp_path / "kettle.jpg", color=(170, 60, 30)))
    )
    pg.locator(".product-photo").first.wait_for()
    pg.locator("#model input[type=file]").set_input_files(
        str(product_jpeg(tmp_path / "kitchen.jpg", color=(210, 205, 190)))
    )
    pg.get_by_text("kitchen.jpg").wait_for()
    strip = pg.locator("#recent-uploads")
    strip.locator(".recent-upload").nth(1).wait_for()
    # Newest first, each marked as in use in the studio that holds it.
    assert [t.get_attribute("data-kind") for t in strip.locator(".recent-upload").all()] == [
        "scene",
        "product",
    ]
    assert strip.locator(".recent-upload-pick[data-in-use=true]").count() == 2

    # A new tab of the same browser: an empty studio, but the strip has both photos.
    tab = pg.context.new_page()
    tab.set_default_timeout(30_000)
    open_page(tab, "/upload")
    tab_strip = tab.locator("#recent-uploads")
    kettle = tab_strip.get_by_role("button", name="Add kettle.jpg as a product angle")
    kettle.wait_for()
    assert tab.locator(".product-photo").count() == 0
    assert tab_strip.locator(".recent-upload-pick[data-in-use=true]").count() == 0
    kettle.click()
    tab.locator(".product-photo").first.wait_for()
    assert "kettle.jpg" in tab.locator(".product-photo").first.inner_text()
    kettle.click()  # twice: still one angle
    tab_strip.get_by_role("button", name="Use kitchen.jpg as the scene").click()
    tab.get_by_text("Remove model image").wait_for()
    assert tab.locator(".product-photo").count() == 1
    shot(tab, "studio-recent-uploads")

    cost = pricing.generation_cost(
        quality="standard", aspect_ratio="1:1", model_multiplier=Decimal(1), variations=1
    )
    before = balance(tab)
    tab.get_by_role("button", name="Generate", exact=True).click()
    tab.locator(".studio-result[data-status=completed]").wait_for(timeout=120_000)
    _wait_balance(tab, before - cost)

    # A reload keeps the strip; `Remove` takes a photo off it, in every tab.
    tab.reload()
    tab.wait_for_load_state("networkidle")
    tab_strip.get_by_role("button", name="Remove kettle.jpg from recent uploads").click()
    tab.wait_for_function("document.querySelectorAll('#recent-uploads .recent-upload').length == 1")
    open_page(pg, "/upload")
    pg.get_by_role("button", name="Use kitchen.jpg as the scene").wait_for()
    assert pg.locator("#recent-uploads .recent-upload").count() == 1
    tab.close()
