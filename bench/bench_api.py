"""The REST API at 50 concurrent keys (issue 17, acceptance 6).

Serves the backend's HTTP routes (`api/routes.py::build_api`, the ASGI app Reflex mounts
through `api_transformer`) under uvicorn in a subprocess, with a generation worker
(`stylestudio worker`) in another, on the embedded default: SQLite (or, with
`--database-url`, a database of its own on that PostgreSQL server, created and dropped
here), local storage and the local engine. Creates `--keys` users, each with credits, an
API key and one product photo uploaded through `POST /api/v1/uploads`; then one
`httpx.AsyncClient` per key, all at once, for `--seconds` each:

1. `GET /api/health` — the baseline: the same server, sockets and clients, no database;
2. `POST /api/v1/generations` — one style per request (a batch of one generation);
3. `GET /api/v1/generations/{id}` — each client cycles through the ids it started.

Prints one JSON document: p50/p99/max latency and requests/s of each, statuses counted
(anything but 2xx and 429 is an error; 429s are reported apart), and how many of the
started generations the worker completed by the end of the run (and after `--drain-seconds`
more). The per-key and per-user rate limits are raised through the environment unless
`--default-limits`: at defaults, most of a 50-client run is 429s, which measures the limiter.
The client runs on the same machine as the server and the worker: all share its cores.

    python bench/bench_api.py [--keys 50] [--seconds 15] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylestudio.db import create_db_engine, session_scope  # noqa: E402
from stylestudio.services.accounts import accounts, api_keys  # noqa: E402
from stylestudio.services.billing import pricing  # noqa: E402
from tests.support.builders import product_shot  # noqa: E402
from tests.support.databases import migrate  # noqa: E402

RAISED_LIMIT = "1000000/minute"
PASSWORD = "bench-password-1"
START_TIMEOUT_S = 60


@dataclass
class Phase:
    """What the clients saw in one phase."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)  # no answer at all
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies) or [float("nan")]
        done = len(self.latencies)
        errors = sum(n for s, n in self.statuses.items() if not (200 <= s < 300 or s == 429))
        return {
            "requests": done,
            "requests_per_s": round(done / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(_quantile(lat, 0.50) * 1000, 2),
            "p99_ms": round(_quantile(lat, 0.99) * 1000, 2),
            "max_ms": round(lat[-1] * 1000, 2),
            "ok_2xx": sum(n for s, n in self.statuses.items() if 200 <= s < 300),
            "rate_limited_429": self.statuses.get(429, 0),
            "errors": errors + sum(self.failures.values()),
            "statuses": {str(s): n for s, n in sorted(self.statuses.items())},
            "failures": dict(self.failures),
        }


def _quantile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


@dataclass
class Client:
    """One API key and what it has started."""

    key: str
    user_id: int
    upload_id: int = 0
    style: str = ""
    generation_ids: list[int] = field(default_factory=list)


def _free_port() -> int:
    for port in range(9300, 9400):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 9300-9399")


@contextlib.contextmanager
def _database(server_url: str | None, tmp: Path) -> Iterator[str]:
    """SQLite in `tmp`, or a new database on `server_url`'s PostgreSQL server, dropped after."""
    if not server_url:
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    if server_url.startswith("postgresql://"):
        server_url = "postgresql+psycopg://" + server_url.removeprefix("postgresql://")
    name = f"ss_bench_api_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _users(url: str, count: int) -> list[Client]:
    engine = create_db_engine(url)
    clients = []
    try:
        for i in range(count):
            with session_scope(engine) as session:
                user = accounts.sign_up(session, email=f"api{i}@bench.local", password=PASSWORD)
                assert user.id is not None
                session.execute(
                    sa.text("UPDATE users SET credits = 10000000 WHERE id = :u"), {"u": user.id}
                )
                created = api_keys.create_api_key(
                    session, user_id=user.id, name="bench", scopes=list(api_keys.SCOPES)
                )
                clients.append(Client(key=created.secret, user_id=user.id))
    finally:
        engine.dispose()
    return clients


@contextlib.contextmanager
def _process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        child = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield child
        finally:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()


async def _wait_until_up(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/api/health")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError("the server did not answer /api/health in time")


async def _upload(http: httpx.AsyncClient, client: Client) -> None:
    answer = await http.post(
        "/api/v1/uploads",
        files={"file": ("shoe.jpg", product_shot(), "image/jpeg")},
        data={"role": "product"},
    )
    if answer.status_code != 201:
        raise RuntimeError(f"upload: {answer.status_code} {answer.text[:300]}")
    client.upload_id = answer.json()["id"]


Request = Callable[[httpx.AsyncClient, Client], Awaitable[httpx.Response]]


async def _phase(
    https: list[httpx.AsyncClient], clients: list[Client], seconds: float, send: Request
) -> Phase:
    """Every client sends `send` back to back until the time is up."""
    phase = Phase()
    go = asyncio.Event()

    async def one(http: httpx.AsyncClient, client: Client) -> None:
        await go.wait()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                answer = await send(http, client)
            except httpx.HTTPError as exc:
                phase.failures[type(exc).__name__] += 1
                continue
            phase.latencies.append(time.perf_counter() - started)
            phase.statuses[answer.status_code] += 1

    tasks = [asyncio.create_task(one(h, c)) for h, c in zip(https, clients, strict=True)]
    started = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    phase.seconds = time.perf_counter() - started
    return phase


async def _health(http: httpx.AsyncClient, _client: Client) -> httpx.Response:
    return await http.get("/api/health")


async def _create(http: httpx.AsyncClient, client: Client) -> httpx.Response:
    answer = await http.post(
        "/api/v1/generations", json={"products": [client.upload_id], "styles": [client.style]}
    )
    if answer.status_code == 201:
        client.generation_ids += [g["id"] for g in answer.json()["generations"]]
    return answer


async def _read(http: httpx.AsyncClient, client: Client) -> httpx.Response:
    ids = client.generation_ids
    generation_id = ids[len(ids) - 1] if ids else 0
    ids.insert(0, ids.pop())  # the next request reads the next id
    return await http.get(f"/api/v1/generations/{generation_id}")


def _statuses(url: str) -> dict[str, int]:
    """Generations by status (the bench's database holds only the bench's)."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT status, count(*) FROM generations GROUP BY status")
            ).all()
    finally:
        engine.dispose()
    return {str(status).lower(): n for status, n in rows}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    styles = list(pricing.STYLE_PRESETS)
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp_name:
        tmp = Path(tmp_name)
        with _database(args.database_url, tmp) as url:
            migrate(url)
            clients = _users(url, args.keys)
            for i, client in enumerate(clients):
                client.style = styles[i % len(styles)]
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
            limits = {}
            if not args.default_limits:
                limits = {
                    "STYLESTUDIO_LIMIT_API_KEY": RAISED_LIMIT,
                    "STYLESTUDIO_LIMIT_GENERATION_USER": RAISED_LIMIT,
                }
            env.update(
                {
                    "DATABASE_URL": url,
                    "STYLESTUDIO_DATA_DIR": str(tmp / "data"),
                    "STYLESTUDIO_SECRET_KEY": "bench-secret-" + "x" * 40,
                    "STYLESTUDIO_API_URL": base,
                    "STYLESTUDIO_GENERATION_ENGINE": "local",
                    "STYLESTUDIO_STORAGE": "local",
                    **limits,
                }
            )
            server_argv = [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "stylestudio.api.routes:build_api",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ]
            worker_argv = [
                sys.executable,
                "-c",
                "import sys; from stylestudio.cli import main; sys.exit(main(['worker']))",
            ]
            with (
                _process(server_argv, env, tmp / "server.log") as server,
                _process(worker_argv, env, tmp / "worker.log"),
            ):
                await _wait_until_up(base, server, tmp / "server.log")
                https = [
                    httpx.AsyncClient(
                        base_url=base,
                        headers={"Authorization": f"Bearer {c.key}"},
                        timeout=60,
                        limits=httpx.Limits(max_connections=1),
                    )
                    for c in clients
                ]
                try:
                    await asyncio.gather(
                        *(_upload(h, c) for h, c in zip(https, clients, strict=True))
                    )
                    health = await _phase(https, clients, args.seconds, _health)
                    create = await _phase(https, clients, args.seconds, _create)
                    read = await _phase(https, clients, args.seconds, _read)
                    started = [i for c in clients for i in c.generation_ids]
                    at_end = _statuses(url)
                    drain_deadline = time.monotonic() + args.drain_seconds
                    after = at_end
                    while time.monotonic() < drain_deadline:
                        await asyncio.sleep(1)
                        after = _statuses(url)
                        if after.get("completed", 0) + after.get("failed", 0) >= len(started):
                            break
                finally:
                    await asyncio.gather(*(h.aclose() for h in https))
    base_p50 = health.summary()["p50_ms"] or float("nan")
    results: dict[str, Any] = {
        "bench": "api",
        "database": "postgresql" if args.database_url else "sqlite",
        "server": "build_api() ASGI app under uvicorn (1 process), in a subprocess",
        "worker": "`stylestudio worker` in a subprocess (local engine, local storage)",
        "client": "one httpx.AsyncClient (one connection) per key, in this process",
        "cpus": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "keys": args.keys,
        "concurrent_clients": args.keys,
        "seconds_per_phase": args.seconds,
        "rate_limits": (
            "defaults"
            if args.default_limits
            else f"raised via env: STYLESTUDIO_LIMIT_API_KEY and "
            f"STYLESTUDIO_LIMIT_GENERATION_USER = {RAISED_LIMIT}"
        ),
        "health_baseline": health.summary(),
        "post_generations": create.summary(),
        "get_generation": read.summary(),
        "generations_started": len(started),
        "generations_at_end": at_end,
        "generations_after_drain": after,
        "drain_seconds_max": args.drain_seconds,
    }
    for name in ("post_generations", "get_generation"):
        results[name]["p50_vs_health"] = round(results[name]["p50_ms"] / base_p50, 1)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15.0, help="per phase")
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=60.0,
        help="after the phases, wait at most this long for the started generations",
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL server's URL: the bench creates its own database there and drops it",
    )
    parser.add_argument(
        "--default-limits", action="store_true", help="keep the per-key and per-user limits"
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
