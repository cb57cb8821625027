"""The studio with the Replicate engine, against a local server speaking Replicate's API:
with webhooks (the server calls our backend) and with polling alone; then Cancel."""

from __future__ import annotations

import io
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageChops, ImageStat

from tests.e2e.conftest import (
    API,
    RunningApp,
    balance,
    open_page,
    product_jpeg,
    record_measurement,
    shot,
    sign_up,
)
from tests.support.fake_replicate import FakeReplicate

pytestmark = pytest.mark.e2e


@pytest.fixture
def replicate_server() -> Iterator[FakeReplicate]:
    with FakeReplicate(latency_s=2.0) as server:
        yield server


def _engine_env(fake: FakeReplicate, *, webhooks: bool) -> dict[str, str]:
    env = {
        "STYLESTUDIO_GENERATION_ENGINE": "replicate",
        "REPLICATE_API_TOKEN": fake.api_token,
        "REPLICATE_BASE_URL": fake.base_url,
        "STYLESTUDIO_WEBHOOK_BASE_URL": API if webhooks else "",
    }
    return env


def _same_picture(a: bytes, b: bytes) -> bool:
    first, second = Image.open(io.BytesIO(a)).convert("RGB"), Image.open(io.BytesIO(b))
    if first.size != second.size:
        return False
    diff = ImageChops.difference(first, second.convert("RGB")).convert("L")
    return ImageStat.Stat(diff).mean[0] <= 4.0  # JPEG re-encoding moves pixels a little


def _lag_s(app_server: RunningApp, column: str) -> float:
    """Seconds from the newest generation's `column` (written by the backend) to now."""
    with sqlite3.connect(app_server.data_dir / "stylestudio.db") as conn:
        (value,) = conn.execute(
            f"SELECT {column} FROM generations ORDER BY id DESC LIMIT 1"
        ).fetchone()
    changed = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return round((datetime.now(UTC) - changed).total_seconds(), 2)


def _generate(pg: Any, tmp_path: Path, name: str) -> None:
    open_page(pg, "/upload")
    pg.locator("#product input[type=file]").set_input_files(
        str(product_jpeg(tmp_path / name, color=(20, 120, 90)))
    )
    pg.get_by_text(name).wait_for()
    pg.get_by_role("button", name="Generate", exact=True).click()


@pytest.mark.backend_restarts
def test_generate_through_replicate_with_and_without_webhooks(
    page: Any, app_server: RunningApp, replicate_server: FakeReplicate, tmp_path: Path
) -> None:
    pg = page
    figures: dict[str, Any] = {}
    try:
        for webhooks in (True, False):
            app_server.restart_backend(**_engine_env(replicate_server, webhooks=webhooks))
            if webhooks:
                sign_up(pg, "replicate.e2e@example.com", "replicate-password-1")
            open_page(pg, "/upload")  # still signed in across the backend restart
            before = balance(pg)
            delivered = replicate_server.webhooks_delivered
            started = time.perf_counter()
            _generate(pg, tmp_path, f"bottle-{webhooks}.jpg")
            if not webhooks:  # follow it on the gallery page this time
                pg.locator(
                    ".generation-status[data-status=pending], "
                    ".generation-status[data-status=processing]"
                ).first.wait_for()
                open_page(pg, "/gallery")
            newest = pg if webhooks else pg.locator(".generation-card").first
            newest.locator(".generation-status[data-status=processing]").wait_for(timeout=30_000)
            shown_processing = _lag_s(app_server, "started_at")
            newest.locator(".generation-status[data-status=completed]").wait_for(timeout=60_000)
            shown_completed = _lag_s(app_server, "completed_at")
            elapsed = time.perf_counter() - started
            assert balance(pg) < before  # charged up front

            open_page(pg, "/gallery")
            card = pg.locator(".generation-card").first
            assert card.locator(".generation-status").get_attribute("data-status") == "completed"
            href = card.locator("a").first.get_attribute("href")
            assert href
            stored = httpx.get(href, timeout=10).content
            [prediction] = [
                p
                for p in replicate_server.predictions.values()
                if p["status"] == "succeeded" and p["id"] not in figures.get("seen", [])
            ][-1:]
            figures.setdefault("seen", []).append(prediction["id"])
            output = httpx.get(prediction["output"], timeout=10).content
            # The provider's image, copied into our storage (re-encoded without metadata).
            assert _same_picture(stored, output)
            key = "webhooks" if webhooks else "polling_only"
            figures[key] = {
                "generate_to_completed_s": round(elapsed, 2),
                "webhooks_delivered": replicate_server.webhooks_delivered - delivered,
                "page": "studio" if webhooks else "gallery",
                "processing_shown_after_s": shown_processing,
                "completed_shown_after_s": shown_completed,
            }
            if webhooks:
                shot(pg, "gallery-replicate")
        assert figures["webhooks"]["webhooks_delivered"] >= 1
        assert figures["polling_only"]["webhooks_delivered"] == 0
        assert replicate_server.creates == 2

        # Cancel while it runs: cancelled at the provider, refunded once.
        replicate_server.configure(latency_s=60)
        before = balance(pg)
        _generate(pg, tmp_path, "slow.jpg")
        pg.locator(".generation-status[data-status=processing]").wait_for(timeout=30_000)
        deadline = time.monotonic() + 20
        while not any(
            p["status"] == "processing" or p["status"] == "starting"
            for p in replicate_server.predictions.values()
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        shot(pg, "studio-replicate-running")
        pg.get_by_role("button", name="Cancel").click()
        pg.locator(".generation-status[data-status=cancelled]").wait_for(timeout=10_000)
        pg.wait_for_function(
            f"document.querySelector('#credit-balance')?.innerText === '{before} credits'"
        )
        statuses = [p["status"] for p in replicate_server.predictions.values()]
        assert statuses.count("canceled") == 1
        assert replicate_server.creates == 3
    finally:
        app_server.restart_backend()
    figures.pop("seen", None)
    record_measurement("replicate_browser", figures)
