"""The thin path in real Chromium against a running Style Studio (reflex run)."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FRONTEND_PORT = 3137
BACKEND_PORT = 8137
BASE = f"http://localhost:{FRONTEND_PORT}"
API = f"http://localhost:{BACKEND_PORT}"
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
ADMIN_EMAIL = "owner@example.com"
ADMIN_PASSWORD = "owner-password-1"

pytestmark = pytest.mark.e2e


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("Chromium is required under CI=true (apt-get install -y chromium)")
    pytest.skip("Chromium not installed")


def _wait_until_up(proc: subprocess.Popen[bytes], log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"reflex exited early:\n{log.read_text()[-4000:]}")
        try:
            health = httpx.get(f"{API}/api/health", timeout=2)
            page = httpx.get(f"{BASE}/login", timeout=5)
            if health.status_code == 200 and page.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(f"app did not come up in {timeout}s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    _require_chromium()
    data = tmp_path_factory.mktemp("e2e-data")
    env = {
        **os.environ,
        "STYLESTUDIO_DATA_DIR": str(data),
        "STYLESTUDIO_API_URL": API,
        "STYLESTUDIO_PUBLIC_URL": BASE,
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "STYLESTUDIO_ADMIN_EMAILS": "",
        "REFLEX_HOT_RELOAD_OVERRIDE_PATHS": str(ROOT / "stylestudio"),
        "REFLEX_TELEMETRY_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
    }
    subprocess.run([BIN / "stylestudio", "migrate"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [
            BIN / "stylestudio",
            "users",
            "create",
            ADMIN_EMAIL,
            "--admin",
            "--password",
            ADMIN_PASSWORD,
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    log = data / "reflex.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                BIN / "reflex",
                "run",
                "--frontend-port",
                str(FRONTEND_PORT),
                "--backend-port",
                str(BACKEND_PORT),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_up(proc, log)
        yield {"data_dir": str(data)}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def page(app_server: dict[str, str]) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        pg = context.new_page()
        pg.set_default_timeout(30_000)
        yield pg
        browser.close()


def _product_jpeg(path: Path) -> Path:
    img = Image.new("RGB", (900, 900), (250, 250, 250))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((260, 260, 640, 760), radius=60, fill=(38, 92, 160))
    draw.rectangle((380, 140, 520, 270), fill=(30, 30, 30))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    path.write_bytes(buf.getvalue())
    return path


def _open(pg, path: str) -> None:
    """Navigate and wait until the page is hydrated and its websocket is talking."""
    pg.goto(f"{BASE}{path}")
    pg.wait_for_load_state("networkidle")


def _balance(pg) -> int:
    text = pg.locator("#credit-balance").inner_text()
    match = re.match(r"(\d+) credits?", text)
    assert match, text
    return int(match.group(1))


def _sign_up(pg, email: str, password: str) -> None:
    _open(pg, "/signup")
    pg.get_by_label("Email").fill(email)
    pg.get_by_label("Password").fill(password)
    pg.get_by_role("button", name="Create account").click()
    pg.wait_for_url(f"{BASE}/upload")
    pg.locator("#credit-balance").wait_for()


def _shot(pg, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.wait_for_load_state("networkidle")
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_sign_up_upload_generate_and_see_it_in_the_gallery(page, tmp_path: Path) -> None:
    pg = page
    _sign_up(pg, "shopper@example.com", "shopper-password-1")
    pg.wait_for_function("document.querySelector('#credit-balance').innerText === '10 credits'")
    assert _balance(pg) == 10

    pg.locator("#product input[type=file]").set_input_files(
        str(_product_jpeg(tmp_path / "bag.jpg"))
    )
    pg.get_by_text("bag.jpg").wait_for()
    pg.get_by_label("Prompt").fill("A blue bottle on a warm backdrop")
    pg.get_by_label("Style").select_option("fashion")
    pg.get_by_label("Quality").select_option("high")
    pg.get_by_label("Aspect ratio").select_option("16:9")
    cost = pg.locator("#generation-cost")
    pg.wait_for_function("document.querySelector('#generation-cost').innerText === '2 credits'")
    assert cost.inner_text() == "2 credits"  # ceil(1.5 high x 1.2 16:9)
    _shot(pg, "upload")

    url_before = pg.url
    pg.get_by_role("button", name="Generate").click()
    status = pg.locator(".generation-status").first
    status.wait_for()
    pg.locator(".generation-status[data-status=completed]").wait_for(timeout=90_000)
    assert pg.url == url_before  # live update, no reload
    pg.wait_for_function("document.querySelector('#credit-balance').innerText === '8 credits'")
    assert _balance(pg) == 8
    _shot(pg, "upload-completed")

    _open(pg, "/gallery")
    card = pg.locator(".generation-card").first
    card.wait_for()
    assert pg.locator(".generation-card").count() == 1
    assert card.locator(".generation-status").get_attribute("data-status") == "completed"
    assert "Fashion" in card.inner_text()
    img_src = card.locator("img").first.get_attribute("src")
    assert img_src and httpx.get(img_src).headers["content-type"] == "image/jpeg"
    _shot(pg, "gallery")

    _open(pg, "/explore")
    pg.get_by_text("Nothing featured yet").wait_for()
    _shot(pg, "explore")
    _open(pg, "/credits")
    pg.get_by_text("Credit packs").wait_for()
    pg.get_by_text("Free trial credits").first.wait_for()
    assert pg.locator("#credits-page-balance").inner_text() == "8 credits"
    _shot(pg, "credits")

    # /admin refuses a normal user on the server: no dashboard data reaches the page.
    _open(pg, "/admin")
    pg.get_by_text("Administrators only").wait_for()
    assert pg.get_by_text("Newest users").count() == 0


def test_bad_upload_and_wrong_password_get_clear_messages(page, tmp_path: Path) -> None:
    pg = page
    _sign_up(pg, "seller@example.com", "seller-password-1")
    fake = tmp_path / "notes.jpg"
    fake.write_bytes(b"%PDF-1.4 this is not a photo")
    pg.locator("#product input[type=file]").set_input_files(str(fake))
    pg.locator("#upload-error").wait_for()
    assert "not an image we can read" in pg.locator("#upload-error").inner_text()
    assert pg.get_by_role("button", name="Generate").is_disabled()

    pg.get_by_role("button", name="Account menu").click()
    pg.get_by_text("Sign out").click()
    pg.wait_for_url(f"{BASE}/login")
    pg.get_by_label("Email").fill("seller@example.com")
    pg.get_by_label("Password").fill("wrong-password")
    pg.get_by_role("button", name="Sign in").click()
    pg.get_by_text("Email or password is incorrect.").wait_for()
    assert pg.url == f"{BASE}/login"


def test_admin_sees_the_dashboard(page) -> None:
    pg = page
    _open(pg, "/login")
    pg.get_by_label("Email").fill(ADMIN_EMAIL)
    pg.get_by_label("Password").fill(ADMIN_PASSWORD)
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_url(f"{BASE}/upload")
    _open(pg, "/admin")
    pg.get_by_text("Newest users").wait_for()
    pg.get_by_text("shopper@example.com").wait_for()
    _shot(pg, "admin")


def test_health_reports_ok(app_server: dict[str, str]) -> None:
    body = httpx.get(f"{API}/api/health").json()
    assert body["status"] == "ok" and body["database"] == "ok"
