"""`stylestudio serve --prod` from nothing: PostgreSQL (empty: the command migrates it), Redis,
media in an S3 bucket (moto's server, spoken to by boto3), two backend processes and two
generation workers on one address; a shopper signs up, uploads, generates, buys a pack and sees
the result in Chromium. Then a worker is killed: the command starts it again; then the web
child itself is killed: the whole command stops and says which child died (the faults under
load are in tests/integration/test_production_faults.py).

It runs the production command as an operator would, with its own frontend folder (a fresh
build, as from a clone) so the development app the other browser tests use is left alone."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    REDIS_URL,
    _require_chromium,
    product_jpeg,
    record_measurement,
)
from tests.support.databases import empty_database
from tests.support.s3 import FAKE_CREDENTIALS, Bucket, client_for, moto_server, new_bucket

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STARTUP_TIMEOUT_S = 900


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    """The live child processes of `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Production:
    process: subprocess.Popen[bytes]
    base: str
    log: Path
    startup_s: float
    bucket: Bucket
    data_dir: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    _require_chromium()
    _require_redis(REDIS_URL)
    folder = tmp_path_factory.mktemp("production")
    port = _free_port()
    base = f"http://localhost:{port}"
    with (
        empty_database("postgresql", folder) as database_url,
        moto_server() as s3_endpoint,
        pytest.MonkeyPatch.context() as patch,
    ):
        aws = {
            **FAKE_CREDENTIALS,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        for name, value in aws.items():  # this process lists the bucket too
            patch.setenv(name, value)
        bucket = new_bucket(s3_endpoint)
        env = {
            **os.environ,
            # test, not production: the offline test checkout is refused in production
            # (and stays refused); everything else runs as in production.
            "STYLESTUDIO_ENV": "test",
            "STYLESTUDIO_SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "STYLESTUDIO_WEB_PROCESSES": "2",
            "STYLESTUDIO_WORKER_PROCESSES": "2",
            "STYLESTUDIO_HOST": "127.0.0.1",
            "STYLESTUDIO_PORT": str(port),
            "STYLESTUDIO_PUBLIC_URL": base,
            "STYLESTUDIO_API_URL": base,
            "STYLESTUDIO_DATA_DIR": str(folder / "data"),
            "STYLESTUDIO_PAYMENTS": "test",
            # The development app of the other browser tests may share this Redis (limits
            # are counted there) and has signed up from 127.0.0.1 too.
            "STYLESTUDIO_LIMIT_SIGN_UP_ADDRESS": "1000/hour",
            "REFLEX_WEB_WORKDIR": str(folder / "web"),
            "REFLEX_TELEMETRY_ENABLED": "false",
            **aws,
            **bucket.env(),
        }
        log = folder / "serve.log"
        with log.open("wb") as out:
            started = time.monotonic()
            process = subprocess.Popen(
                [str(BIN / "stylestudio"), "serve", "--prod"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            startup_s = _wait_healthy(f"{base}/api/health", process, log, started)
            record_measurement(
                "production_command_to_healthy",
                {"seconds": round(startup_s, 1), "web_processes": 2, "worker_processes": 2},
            )
            yield Production(
                process=process,
                base=base,
                log=log,
                startup_s=startup_s,
                bucket=bucket,
                data_dir=folder / "data",
            )
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)


def _require_redis(url: str) -> None:
    """Redis must answer; it is not flushed: the other browser tests' app may be using it
    (its tab states, under tokens of its own, stay untouched)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis is required under CI=true but {url} is not reachable")
        pytest.skip("Redis not reachable")
    finally:
        client.close()


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, started: float) -> float:
    while time.monotonic() - started < STARTUP_TIMEOUT_S:
        if process.poll() is not None:
            raise RuntimeError(f"serve --prod exited early:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not healthy in {STARTUP_TIMEOUT_S}s:\n{log.read_text()[-4000:]}")


@pytest.fixture
def tab(production: Production) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        yield pg
        context.close()
        chromium.close()
        assert errors == [], errors


def _open(pg: Any, base: str, path: str) -> None:
    pg.goto(f"{base}{path}")
    pg.wait_for_load_state("networkidle")


def _at(base: str, path: str) -> re.Pattern[str]:
    """`path` on `base`: production serves each page as a folder (`/upload` -> `/upload/`)."""
    return re.compile(re.escape(f"{base}{path}") + r"/?(\?.*)?$")


def _balance(pg: Any) -> int:
    match = re.match(r"(\d+) credits?", pg.locator("#credit-balance").inner_text())
    assert match
    return int(match.group(1))


def test_production_command_serves_the_whole_flow(
    production: Production, tab: Any, tmp_path: Path
) -> None:
    pg, base = tab, production.base
    root = production.process.pid

    # The processes it runs: the web server with two Granian processes, and two workers;
    # the generation worker runs in the two worker processes only, never in the web ones.
    children = {pid: _cmdline(pid) for pid in _children(root)}
    web = [pid for pid, cmd in children.items() if "stylestudio.web_entry run --env prod" in cmd]
    workers = [pid for pid, cmd in children.items() if "stylestudio.cli worker" in cmd]
    assert len(web) == 1 and len(workers) == 2, children
    assert len(_children(web[0])) == 2, [_cmdline(p) for p in _children(web[0])]
    started_workers = re.findall(r"worker [^ ]+:(\d+):\w+ started", production.log_text())
    assert sorted(map(int, started_workers)) == sorted(workers)

    # Pages and the backend on one address.
    assert httpx.get(f"{base}/").status_code == 200
    assert httpx.get(f"{base}/api/health").json() == {"status": "ok"}
    ready = httpx.get(f"{base}/api/ready", timeout=30).json()
    assert (ready["status"], ready["database"], ready["redis"], ready["storage"]) == (
        "ready",
        "ok",
        "ok",
        "ok",
    )

    _open(pg, base, "/signup")
    # The form works once the browser holds its sign-in nonce (after a detour to the backend).
    pg.locator("#auth-submit:enabled").wait_for()
    pg.get_by_label("Email").fill("prod.shopper@example.com")
    pg.get_by_label("Password").fill("prod-shopper-password-1")
    pg.get_by_role("button", name="Create account").click()
    pg.wait_for_url(_at(base, "/upload"))
    pg.wait_for_function("document.querySelector('#credit-balance')?.innerText === '10 credits'")

    pg.locator("#product input[type=file]").set_input_files(str(product_jpeg(tmp_path / "mug.jpg")))
    pg.get_by_text("mug.jpg").wait_for()
    pg.get_by_label("Prompt", exact=True).fill("A blue mug on a warm backdrop")
    pg.get_by_role("button", name="Generate", exact=True).click()
    pg.locator(".generation-status[data-status=completed]").wait_for(timeout=180_000)
    pg.wait_for_function("document.querySelector('#credit-balance')?.innerText !== '10 credits'")
    after_generating = _balance(pg)
    assert after_generating < 10

    _open(pg, base, "/credits")
    pg.locator(".buy-pack[data-pack=standard]").click()
    pg.wait_for_url(f"{base}/checkout/test/**")
    pg.get_by_role("button", name="Pay", exact=True).click()
    pg.wait_for_url(re.compile(re.escape(f"{base}/credits") + r"/?\?session_id=.+"))
    pg.locator("#checkout-message").get_by_text("50 credits added").wait_for()
    paid = f"{after_generating + 50} credits"
    pg.wait_for_function(f"document.querySelector('#credit-balance')?.innerText === '{paid}'")

    _open(pg, base, "/gallery")
    card = pg.locator(".generation-card").first
    card.wait_for()
    assert card.locator(".generation-status").get_attribute("data-status") == "completed"
    src = card.locator("img").first.get_attribute("src")
    assert src and src.startswith(base)
    assert httpx.get(src, timeout=30).headers["content-type"] == "image/jpeg"
    # The media are objects in the bucket (the upload, the result, their previews), none on
    # this host's disk; the bucket itself answers a stranger with 403.
    bucket = production.bucket
    listed = client_for(bucket.endpoint_url).list_objects_v2(
        Bucket=bucket.name, Prefix=bucket.prefix
    )
    keys = [o["Key"] for o in listed.get("Contents", [])]
    assert len(keys) >= 4, keys
    assert not (production.data_dir / "media").exists() or not any(
        p.is_file() for p in (production.data_dir / "media").rglob("*")
    )
    stranger = httpx.get(f"{bucket.endpoint_url}/{bucket.name}/{keys[0]}", timeout=30)
    assert stranger.status_code == 403
    # Backend routes on the page's own address still reach the backend (not the page router).
    with pg.expect_download() as download:
        card.locator(".download-link").click()
    assert download.value.suggested_filename.endswith(".jpg")

    pg.get_by_role("button", name="Account menu").click()
    pg.get_by_role("menuitem", name="Sign out", exact=True).click()
    pg.wait_for_url(_at(base, "/login"))
    _open(pg, base, "/gallery")
    assert pg.locator(".generation-card").count() == 0


def test_a_dead_worker_is_restarted_and_a_dead_web_child_stops_the_command(
    production: Production,
) -> None:
    root = production.process.pid
    victim = next(pid for pid in _children(root) if "stylestudio.cli worker" in _cmdline(pid))
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = [p for p in _children(root) if "stylestudio.cli worker" in _cmdline(p)]
        if len(workers) == 2 and victim not in workers:
            break
        time.sleep(0.2)
    assert len(workers) == 2 and victim not in workers, production.log_text()[-3000:]
    assert re.search(
        rf"worker-\d \(pid {victim}\) exited with status -9: restarting it", production.log_text()
    )
    assert production.process.poll() is None
    assert httpx.get(f"{production.base}/api/health", timeout=5).status_code == 200

    children = _children(root)
    web = next(pid for pid in children if "stylestudio.web_entry" in _cmdline(pid))
    os.kill(web, signal.SIGKILL)
    code = production.process.wait(timeout=120)
    assert code == 1
    assert re.search(
        rf"web \(pid {web}\) exited with status -9: stopping the others", production.log_text()
    )
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in children)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{production.base}/api/health", timeout=5)
