"""The web process as it runs in production (`reflex run --env prod`, two backend processes):
its own lines reach its output as JSON with the request's id, and a scrape of any one of
its processes counts what all of them did (PROMETHEUS_MULTIPROC_DIR)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.databases import migrated_database
from tests.support.prometheus_text import parse, value

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REDIS_URL = os.environ.get("STYLESTUDIO_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
TOKEN = "metrics-token-for-the-test-0123"
FORGED = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_available() -> bool:
    import redis

    client: Any = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    if not _redis_available():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Redis is required under CI=true")
        pytest.skip("Redis not reachable")
    port = _free_port()
    shared = tmp_path / "prometheus"
    shared.mkdir()
    log_path = tmp_path / "backend.log"
    with migrated_database("sqlite", tmp_path) as database_url:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "STYLESTUDIO_DATA_DIR": str(tmp_path / "data"),
            "STYLESTUDIO_API_URL": f"http://127.0.0.1:{port}",
            "STYLESTUDIO_LOG_FORMAT": "json",
            "STYLESTUDIO_METRICS_TOKEN": TOKEN,
            "STYLESTUDIO_IN_PROCESS_WORKER": "false",
            "PROMETHEUS_MULTIPROC_DIR": str(shared),
            "REDIS_URL": REDIS_URL,
            "GRANIAN_WORKERS": "2",
            "REFLEX_TELEMETRY_ENABLED": "false",
        }
        bun = ROOT / ".tools" / "node_modules" / "bun" / "bin" / "bun.exe"
        if bun.exists():
            env["REFLEX_BUN_PATH"] = str(bun)
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                [
                    *(str(BIN / "reflex"), "run", "--env", "prod", "--backend-only"),
                    *("--backend-port", str(port)),
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        api = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"backend exited:\n{log_path.read_text()[-3000:]}")
                try:
                    if httpx.get(f"{api}/api/ready", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"not ready:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
            yield api, log_path
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _json_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))  # every JSON-looking line parses
    return lines


def test_refused_webhooks_leave_json_lines_and_every_process_is_counted(
    backend: tuple[str, Path],
) -> None:
    api, log_path = backend
    request_ids = set()
    with httpx.Client(timeout=10) as client:
        for _ in range(FORGED):
            # A new connection each time, so both processes take some.
            response = client.post(
                f"{api}/api/webhooks/stripe",
                content=b'{"id": "evt_forged"}',
                headers={"stripe-signature": "t=1,v1=forged", "Connection": "close"},
            )
            assert response.status_code == 400
            request_ids.add(response.headers["x-request-id"])
        assert client.get(f"{api}/api/metrics").status_code == 401
        scraped = client.get(f"{api}/api/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200
    figures = parse(scraped.text)
    refused = value(figures, "stylestudio_webhooks_total", provider="stripe", outcome="refused")
    assert refused == FORGED
    assert value(figures, "stylestudio_workload_up") == 1

    deadline = time.monotonic() + 10
    while True:
        lines = _json_lines(log_path)
        refusals = [
            line for line in lines if line["message"] == "stripe webhook refused: invalid signature"
        ]
        if len(refusals) >= FORGED or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(refusals) == FORGED, log_path.read_text()[-3000:]
    assert {line["request_id"] for line in refusals} == request_ids
    assert all(line["level"] == "warning" for line in refusals)
    access = [line for line in lines if line["logger"] == "stylestudio.http"]
    assert {line["request_id"] for line in access} >= request_ids
    assert "forged" not in log_path.read_text()  # the signature header is not logged


def test_the_worker_logs_json_lines_too(tmp_path: Path) -> None:
    with migrated_database("sqlite", tmp_path) as database_url:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "STYLESTUDIO_DATA_DIR": str(tmp_path / "data"),
            "STYLESTUDIO_ENV": "production",
            "STYLESTUDIO_SECRET_KEY": "s" * 48,
        }
        env.pop("STYLESTUDIO_LOG_FORMAT", None)  # production's default: JSON
        log_path = tmp_path / "worker.log"
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                [str(BIN / "stylestudio"), "worker"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 60
            while "started" not in log_path.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, log_path.read_text()
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    lines = _json_lines(log_path)
    started = [line for line in lines if line["message"].endswith("started, concurrency 8")]
    assert len(started) == 1, log_path.read_text()
    assert started[0]["logger"] == "stylestudio.worker" and started[0]["level"] == "info"
    assert any(line["message"].endswith("stopped") for line in lines)
