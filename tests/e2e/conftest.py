"""The running app for browser tests: frontend and backend as separate `reflex run`
processes, so a test can restart the backend under an open tab."""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The suite runs on several pytest-xdist workers (`-n 2 --dist loadfile`), each with an app
# of its own: worker gwN takes the base ports plus N, the base Redis database plus N, and a
# frontend folder of its own (two dev servers compiling into one `.web` would trip over each
# other). Without xdist it is worker 0. The bases are overridable so that two checkouts of the
# project can run their browser tests at once.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
WORKER_INDEX = int(WORKER.removeprefix("gw")) if WORKER.startswith("gw") else 0
FRONTEND_PORT = int(os.environ.get("STYLESTUDIO_TEST_FRONTEND_PORT", "3137")) + WORKER_INDEX
BACKEND_PORT = int(os.environ.get("STYLESTUDIO_TEST_BACKEND_PORT", "8137")) + WORKER_INDEX
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
# Tab state lives in Redis, as in production: it survives a backend restart (`reflex run`
# wipes its disk states at start) and a test can read what a tab's state holds.
_REDIS_BASE, _, _REDIS_DB = os.environ.get(
    "STYLESTUDIO_TEST_REDIS_URL", "redis://127.0.0.1:6379/13"
).rpartition("/")
REDIS_URL = f"{_REDIS_BASE}/{int(_REDIS_DB) + WORKER_INDEX}"
# Worker 0 keeps Reflex's own `.web` (what `make run` uses too); the others get `.web-gwN`.
WEB_DIR = ROOT / (".web" if WORKER_INDEX == 0 else f".web-{WORKER}")
ADMIN_EMAIL = "owner@example.com"
ADMIN_PASSWORD = "owner-password-1"
# Listed as an admin address: signing up with it must still give an ordinary account.
LISTED_ADMIN_EMAIL = "boss@example.com"


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("Chromium is required under CI=true (apt-get install -y chromium)")
    pytest.skip("Chromium not installed")


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@dataclass
class RunningApp:
    """Style Studio under test: a data folder, a frontend and a backend process."""

    data_dir: Path
    env: dict[str, str]
    frontend: subprocess.Popen[bytes] | None = None
    backend: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    def stored_states(self) -> list[bytes]:
        """Every value the Redis state manager holds (pickled tab states, token records)."""
        import redis

        client: Any = redis.Redis.from_url(self.env["REDIS_URL"])
        values: list[bytes] = []
        try:
            for key in client.scan_iter():
                kind = client.type(key)
                if kind == b"string":
                    values.append(client.get(key) or b"")
                elif kind == b"hash":
                    values.extend(client.hgetall(key).values())
        finally:
            client.close()
        return values

    def _spawn(self, name: str, *args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = self.data_dir / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            return subprocess.Popen(
                [str(BIN / "reflex"), "run", *args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _log_tail(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.logs[-2:])

    def _wait(self, url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"reflex exited early:\n{self._log_tail()}")
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{url} did not come up in {timeout}s:\n{self._log_tail()}")

    def start_frontend(self) -> None:
        self.frontend = self._spawn(
            "frontend", "--frontend-only", "--frontend-port", str(FRONTEND_PORT), env=self.env
        )
        self._wait(f"{BASE}/login", self.frontend, 300)

    def start_backend(self, **overrides: str) -> None:
        self.backend = self._spawn(
            "backend",
            "--backend-only",
            "--backend-port",
            str(BACKEND_PORT),
            env={**self.env, **overrides},
        )
        self._wait(f"{API}/api/ready", self.backend, 180)

    def stop_backend(self) -> None:
        _stop(self.backend)
        self.backend = None

    def restart_backend(self, **overrides: str) -> None:
        self.stop_backend()
        self.start_backend(**overrides)

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [str(BIN / "stylestudio"), *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout

    def stop(self) -> None:
        self.stop_backend()
        _stop(self.frontend)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    _require_chromium()
    data = tmp_path_factory.mktemp("e2e-data")
    env = {
        **os.environ,
        "STYLESTUDIO_DATA_DIR": str(data),
        "STYLESTUDIO_API_URL": API,
        "STYLESTUDIO_PUBLIC_URL": BASE,
        "DATABASE_URL": "",
        "REDIS_URL": REDIS_URL,
        "STYLESTUDIO_ADMIN_EMAILS": LISTED_ADMIN_EMAIL,
        "REFLEX_HOT_RELOAD_OVERRIDE_PATHS": str(ROOT / "stylestudio"),
        "REFLEX_WEB_WORKDIR": str(WEB_DIR),
        "REFLEX_TELEMETRY_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
        # Every browser test signs up from 127.0.0.1: the per-address sign-up limit is for
        # strangers, not for this suite (the limits themselves are tested on their own).
        "STYLESTUDIO_LIMIT_SIGN_UP_ADDRESS": "1000/hour",
    }
    _flush_redis(REDIS_URL)
    app = RunningApp(data_dir=data, env=env)
    app.cli("migrate")
    app.cli("users", "create", ADMIN_EMAIL, "--admin", "--password", ADMIN_PASSWORD)
    try:
        app.start_frontend()
        app.start_backend()
        yield app
    finally:
        app.stop()
        _flush_redis(REDIS_URL)


def _flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis is required under CI=true but {url} is not reachable")
        pytest.skip("Redis not reachable")
    client.flushdb()
    client.close()


class SharedChromium:
    """One Chromium per test process: starting Playwright and Chromium took 1-9 s per test on
    this machine, a new context a fraction of that. Tests share the browser, never a context
    (cookies, storage and cache are per context); one that disconnected is started again."""

    def __init__(self, playwright: Any) -> None:
        self._playwright = playwright
        self._browser: Any = None

    def get(self) -> Any:
        if self._browser is None or not self._browser.is_connected():
            self._browser = self._playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_FLAGS
            )
        return self._browser

    def close(self) -> None:
        if self._browser is not None and self._browser.is_connected():
            self._browser.close()


@pytest.fixture(scope="session")
def shared_chromium() -> Iterator[SharedChromium]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = SharedChromium(p)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def fresh_browser(shared_chromium: SharedChromium) -> Iterator[Any]:
    """The shared Chromium with no context but the ones this test opens, closed after it
    (an open tab would go on talking to the backend during the next test)."""
    chromium = shared_chromium.get()
    for context in chromium.contexts:
        context.close()
    yield chromium
    for context in chromium.contexts:
        context.close()


@pytest.fixture
def browser(fresh_browser: Any, app_server: RunningApp) -> Any:
    return fresh_browser


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser tab. No page may log a console error: the test fails if one did.
    A test marked `backend_restarts` restarts the backend on purpose: the tab's failed
    reconnection attempts meanwhile are expected, and only those are let through."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    console: list[str] = []

    def on_console(message: Any) -> None:
        # Only our pages count: a sign-in provider's own page (a test's OpenID provider,
        # reached in the redirect flow) may log what it likes about its own resources.
        where = (message.location or {}).get("url", "")
        if where and not where.startswith((BASE, API)):
            return
        console.append(f"{message.type}: {message.text}")

    pg.on("console", on_console)
    pg.on("pageerror", lambda e: console.append(f"error: {e}"))
    pg.console_messages = console  # for tests that look at the browser console
    record_frames(pg)
    yield pg
    context.close()
    errors = [m for m in console if m.startswith("error:")]
    if request.node.get_closest_marker("backend_restarts") is not None:
        errors = [m for m in errors if not _RECONNECTING.search(m)]
    if errors:
        pytest.fail("the browser console logged errors:\n" + "\n".join(errors[:10]))


# What Chromium logs while the backend is down and the page keeps trying to reconnect.
_RECONNECTING = re.compile(
    r"WebSocket connection to 'ws://localhost:\d+/_event/.*' failed|"
    r"Failed to load resource: net::ERR_CONNECTION_REFUSED"
)


def record_frames(pg: Any) -> list[str]:
    """Keep every websocket frame the server sends this tab (Reflex's state deltas), so a
    test can prove data never reached the browser — not only that nothing shows it."""
    frames: list[str] = []
    per_socket: list[int] = []  # frames received, per websocket in the order they opened

    def on_socket(ws: Any) -> None:
        index = len(per_socket)
        per_socket.append(0)

        def on_frame(payload: str | bytes) -> None:
            frames.append(
                payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
            )
            per_socket[index] += 1

        ws.on("framereceived", on_frame)

    pg.on("websocket", on_socket)
    pg.frames_received = frames
    pg.frames_per_socket = per_socket
    return frames


def wait_until_connected(pg: Any, opened_before: int, timeout_ms: int = 30_000) -> None:
    """Until a websocket opened after the first `opened_before` has heard from the server:
    the page's scripts run and its events reach the backend (a click before that can be a
    plain form submission that reloads the page)."""
    per_socket: list[int] = pg.frames_per_socket
    deadline = time.monotonic() + timeout_ms / 1000
    while not any(per_socket[opened_before:]):
        if time.monotonic() > deadline:
            raise AssertionError(f"{pg.url}: no websocket answered in {timeout_ms} ms")
        pg.wait_for_timeout(25)


def received(pg: Any, needle: str) -> bool:
    """Whether any websocket frame sent to this tab so far mentions `needle`."""
    frames: list[str] = pg.frames_received
    assert frames, "no websocket frame recorded: is the tab connected?"
    return any(needle in frame for frame in frames)


def next_frame_with(pg: Any, since: int, needles: tuple[str, ...], timeout_ms: int = 30_000) -> str:
    """The first websocket frame after the first `since` ones that mentions one of `needles`:
    the server's answer to what the test just did, even when the page already shows the same
    text from the answer before."""
    frames: list[str] = pg.frames_received
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        for frame in frames[since:]:
            if any(needle in frame for needle in needles):
                return frame
        pg.wait_for_timeout(25)
    raise AssertionError(f"no answer mentioning any of {needles} in {timeout_ms} ms")


def product_jpeg(path: Path, color: tuple[int, int, int] = (38, 92, 160)) -> Path:
    img = Image.new("RGB", (900, 900), (250, 250, 250))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((260, 260, 640, 760), radius=60, fill=color)
    draw.rectangle((380, 140, 520, 270), fill=(30, 30, 30))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    path.write_bytes(buf.getvalue())
    return path


def open_page(pg: Any, path: str) -> None:
    """Navigate and wait until the page is hydrated and its websocket is talking."""
    opened = len(getattr(pg, "frames_per_socket", ()))
    pg.goto(f"{BASE}{path}")
    if hasattr(pg, "frames_per_socket"):
        wait_until_connected(pg, opened)
    pg.wait_for_load_state("networkidle")
    if path.startswith(("/login", "/signup")):
        # Their form works once this browser holds its sign-in nonce cookie (a browser
        # without one is sent through the backend for it first): the button says when.
        pg.wait_for_function(
            "!['/login', '/signup'].includes(location.pathname)"
            " || document.querySelector('#auth-submit:enabled') !== null"
        )


def balance(pg: Any) -> int:
    text = pg.locator("#credit-balance").inner_text()
    match = re.match(r"(\d+) credits?", text)
    assert match, text
    return int(match.group(1))


def sign_up(pg: Any, email: str, password: str) -> None:
    open_page(pg, "/signup")
    pg.get_by_label("Email").fill(email)
    pg.get_by_label("Password").fill(password)
    pg.get_by_role("button", name="Create account").click()
    pg.wait_for_url(f"{BASE}/upload")
    pg.locator("#credit-balance").wait_for()


def sign_in(pg: Any, email: str, password: str) -> None:
    open_page(pg, "/login")
    pg.get_by_label("Email").fill(email)
    pg.get_by_label("Password").fill(password)
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_url(f"{BASE}/upload")
    pg.locator("#credit-balance").wait_for()


def sign_out(pg: Any) -> None:
    pg.get_by_role("button", name="Account menu").click()
    pg.get_by_role("menuitem", name="Sign out", exact=True).click()
    pg.wait_for_url(f"{BASE}/login")


def record_measurement(name: str, values: dict[str, Any]) -> None:
    """Keep measured figures next to the screenshots, in test-artifacts/measurements.json
    (read in closing notes; timings are never asserted)."""
    path = ROOT / "test-artifacts" / "measurements.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / "measurements.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other xdist workers write this file too
        data = json.loads(path.read_text()) if path.exists() else {}
        data[name] = values
        path.write_text(json.dumps(data, indent=2))
    print(name, json.dumps(values))


def shot(pg: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.wait_for_load_state("networkidle")
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
