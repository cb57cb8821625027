"""Many browser tabs on one running app (issue 15, acceptance 2): the development server
against production mode, in one run, on the same PostgreSQL database.

Each tab is a websocket speaking what the page speaks (engine.io v4 + socket.io over
`/_event`, the hydrate event riding in the socket.io CONNECT packet): it connects, hydrates
/explore, then sends `--events` events one after the other, alternating

- page events: the navigation event the page sends on a route change (`on_load_internal`
  with the new route), for /explore, and for /gallery in tabs that carry a session cookie
  (users signed up through the services, the cookie presented in the websocket handshake as
  a browser does) — answered when the page's on_load has sent its rows (both pages end with
  the infinite-scroll script);
- a setter that touches no database: the studio's prompt (`StudioState.set_prompt`),
  answered by the delta that carries the new prompt.

Latency is from sending an event to the frame that answers it. Prints JSON: per server and
per kind events/s over the load window, p50/p95/p99/max, errors (no answer in
`--timeout-s`, a closed socket, an error event) and events over 2 s; then the ratios the
issue asks for. The servers are started and stopped by the bench:

- development: `reflex run --backend-only` (one process, Reflex's disk state manager);
- production: `stylestudio serve --prod` (STYLESTUDIO_ENV=production, a long secret,
  `REDIS_URL`, `--web-processes` Granian processes, `--workers` generation workers), with
  its default state lease (STYLESTUDIO_STATE_LEASE_MS); `--without-lease` adds a run of
  production that reads and writes Redis on every event, as the same-run baseline of it.

    python bench/bench_tabs.py [--tabs 200] [--events 20] [--only dev|prod] [--without-lease]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HYDRATE = "reflex___state____state.hydrate_and_load"
ON_LOAD = "reflex___state____state.reflex___state____on_load_internal_state.on_load_internal"
SLOW_MS = 2000.0
# Both /explore and /gallery end their on_load with the infinite-scroll script.
PAGE_LOADED = "__styleStudioInfinite"
# What Reflex's default backend exception handler shows the user.
ERROR_MARKERS = ("An error occurred", "Traceback")


def set_prompt_event() -> str:
    """The studio's prompt setter, by the full name the page sends."""
    from stylestudio.state.studio import StudioState

    return f"{StudioState.get_full_name()}.set_prompt"


def _router(path: str) -> dict[str, Any]:
    return {"pathname": path, "asPath": path, "query": {}}


class TabError(Exception):
    """The tab got no usable answer (timeout, closed socket, an error shown)."""


@dataclass
class Sample:
    kind: str  # "page" or "setter"
    ms: float
    error: str = ""


@dataclass
class Tab:
    """One browser tab's websocket."""

    api: str
    cookie: str = ""
    origin: str = ""
    timeout_s: float = 30.0
    token: str = field(default_factory=lambda: str(uuid.uuid4()))
    ws: Any = None

    async def open(self, path: str) -> float:
        """Connect and hydrate `path` as the page does; the time until its on_load answered."""
        url = self.api.replace("http", "ws", 1)
        url += f"/_event/?token={self.token}&EIO=4&transport=websocket"
        headers = {"Cookie": self.cookie} if self.cookie else {}
        started = time.perf_counter()
        self.ws = await websockets.connect(
            url,
            additional_headers=headers,
            origin=self.origin or None,  # type: ignore[arg-type]
            max_size=16 * 1024 * 1024,
            open_timeout=self.timeout_s,
            ping_interval=None,  # engine.io has its own pings (answered in _until)
            compression=None,
        )
        opened = await asyncio.wait_for(self.ws.recv(), self.timeout_s)
        if not str(opened).startswith("0"):
            raise TabError(f"no engine.io open: {str(opened)[:80]}")
        hydrate = {"event": {"name": HYDRATE, "payload": {}, "router_data": _router(path)}}
        await self.ws.send("40/_event," + json.dumps(hydrate))
        await self._until(lambda frame: PAGE_LOADED in frame)
        return (time.perf_counter() - started) * 1000

    async def send(self, name: str, payload: dict[str, Any], path: str, answer: str) -> float:
        """Send one event; milliseconds until a frame containing `answer` arrived."""
        event = {"name": name, "payload": payload, "router_data": _router(path)}
        started = time.perf_counter()
        await self.ws.send("42/_event," + json.dumps(["event", event]))
        await self._until(lambda frame: answer in frame)
        return (time.perf_counter() - started) * 1000

    async def navigate(self, path: str) -> float:
        return await self.send(ON_LOAD, {}, path, PAGE_LOADED)

    async def _until(self, match: Callable[[str], bool]) -> None:
        deadline = time.monotonic() + self.timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TabError("timeout")
            try:
                frame = await asyncio.wait_for(self.ws.recv(), left)
            except TimeoutError:
                raise TabError("timeout") from None
            except websockets.ConnectionClosed as closed:
                raise TabError(f"closed: {closed}") from None
            text = frame if isinstance(frame, str) else frame.decode()
            if text == "2":  # engine.io ping
                await self.ws.send("3")
                continue
            if text.startswith("44/_event"):
                raise TabError(f"connect refused: {text[:120]}")
            if any(marker in text for marker in ERROR_MARKERS):
                raise TabError(f"error shown: {text[:120]}")
            if match(text):
                return

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()


async def run_tab(
    index: int,
    *,
    api: str,
    origin: str,
    cookie: str,
    events: int,
    timeout_s: float,
    setter: str,
    arriving: asyncio.Semaphore,
    start_gate: asyncio.Event,
    ready: list[float],
) -> list[Sample]:
    """One tab: hydrate, wait for every tab to be in, then the mix of events."""
    tab = Tab(api=api, cookie=cookie, origin=origin, timeout_s=timeout_s)
    samples: list[Sample] = []
    try:
        try:
            async with arriving:
                ready.append(await tab.open("/explore"))
        except (TabError, OSError, websockets.InvalidHandshake) as problem:
            ready.append(-1.0)
            await start_gate.wait()
            return [Sample("connect", 0.0, f"connect: {problem}")]
        await start_gate.wait()
        pages = ["/explore", "/gallery"] if cookie else ["/explore"]
        for i in range(events):
            kind = "page" if i % 2 == 0 else "setter"
            started = time.perf_counter()
            try:
                if kind == "page":
                    ms = await tab.navigate(pages[(i // 2) % len(pages)])
                else:
                    value = f"bench prompt {index}-{i}-{uuid.uuid4().hex[:6]}"
                    ms = await tab.send(setter, {"value": value}, "/studio", value)
                samples.append(Sample(kind, ms))
            except TabError as problem:
                elapsed = (time.perf_counter() - started) * 1000
                samples.append(Sample(kind, elapsed, str(problem)))
                if str(problem).startswith("closed"):
                    break
    finally:
        await tab.close()
    return samples


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[rank]


def summarise(samples: list[Sample], kind: str, window_s: float) -> dict[str, Any]:
    mine = [s for s in samples if s.kind == kind]
    good = sorted(s.ms for s in mine if not s.error)
    errors = [s.error for s in mine if s.error]
    return {
        "events": len(mine),
        "answered": len(good),
        "events_per_s": round(len(good) / window_s, 1) if window_s > 0 else 0.0,
        "p50_ms": round(_percentile(good, 0.50), 1),
        "p95_ms": round(_percentile(good, 0.95), 1),
        "p99_ms": round(_percentile(good, 0.99), 1),
        "max_ms": round(good[-1], 1) if good else 0.0,
        "over_2s": sum(1 for ms in good if ms > SLOW_MS),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:3],
    }


async def load(
    *, api: str, origin: str, cookies: list[str], events: int, timeout_s: float
) -> dict[str, Any]:
    """Open every tab (at most 20 handshakes at a time, as tabs of many browsers would
    arrive), then let them all send their events at once; the window is timed from the
    start signal to the last answer."""
    setter = set_prompt_event()
    gate = asyncio.Event()
    ready: list[float] = []
    arriving = asyncio.Semaphore(20)

    opened = time.perf_counter()
    tasks = [
        asyncio.ensure_future(
            run_tab(
                index,
                api=api,
                origin=origin,
                cookie=cookie,
                events=events,
                timeout_s=timeout_s,
                setter=setter,
                arriving=arriving,
                start_gate=gate,
                ready=ready,
            )
        )
        for index, cookie in enumerate(cookies)
    ]
    while len(ready) < len(cookies):
        await asyncio.sleep(0.05)
    hydrate_s = time.perf_counter() - opened
    started = time.perf_counter()
    gate.set()
    results = await asyncio.gather(*tasks)
    window_s = time.perf_counter() - started
    samples = [s for result in results for s in result]
    hydrated = sorted(ms for ms in ready if ms >= 0)
    return {
        "tabs": len(cookies),
        "signed_in_tabs": sum(1 for c in cookies if c),
        "events_per_tab": events,
        "hydrate": {
            "seconds_for_all": round(hydrate_s, 1),
            "p50_ms": round(_percentile(hydrated, 0.5), 1),
            "p99_ms": round(_percentile(hydrated, 0.99), 1),
            "failed": sum(1 for ms in ready if ms < 0),
        },
        "window_s": round(window_s, 2),
        "page": summarise(samples, "page", window_s),
        "setter": summarise(samples, "setter", window_s),
        "all_events_per_s": round(sum(1 for s in samples if not s.error) / window_s, 1),
        "connect_errors": sum(1 for s in samples if s.kind == "connect"),
    }


# --- the servers and the data they serve ---------------------------------------------------

BIN = Path(sys.executable).parent
STARTUP_TIMEOUT_S = 900.0


def seed_sessions(database_url: str, count: int) -> list[str]:
    """`count` users signed up through the services, one open session each: the cookie
    headers their browsers would send."""
    from stylestudio.api.session_cookie import SESSION_COOKIE
    from stylestudio.db import create_db_engine, session_scope
    from stylestudio.services.accounts import accounts

    engine = create_db_engine(database_url)
    cookies = []
    try:
        for i in range(count):
            with session_scope(engine) as session:
                user = accounts.sign_up(
                    session, email=f"tab{i}@bench.local", password=f"bench-password-{i}"
                )
                assert user.id is not None
                token = accounts.start_session(session, user_id=user.id)
            cookies.append(f"{SESSION_COOKIE}={token}")
    finally:
        engine.dispose()
    return cookies


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]
    api: str
    origin: str
    log: Path
    process: subprocess.Popen[bytes] | None = None
    startup_s: float = 0.0

    def start(self) -> None:
        started = time.monotonic()
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while time.monotonic() - started < STARTUP_TIMEOUT_S:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.api}/api/health", timeout=5).status_code == 200:
                    self.startup_s = time.monotonic() - started
                    return
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} not healthy in {STARTUP_TIMEOUT_S:.0f} s:\n{self.tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def _base_env(database_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STYLESTUDIO_")}
    env.update(
        {
            "DATABASE_URL": database_url,
            "STYLESTUDIO_DATA_DIR": str(data_dir),
            "REFLEX_TELEMETRY_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("REDIS_URL", None)
    return env


def development_server(
    database_url: str, folder: Path, port: int, *, redis_url: str = ""
) -> Server:
    """`reflex run --backend-only`: one process, Reflex's disk state manager, as `make run`
    runs the backend (the frontend is not needed: only the websocket is spoken to). Given
    `redis_url`, the Redis state manager instead (to tell its cost from production's rest).
    """
    api = f"http://localhost:{port}"
    env = _base_env(database_url, folder / "dev-data")
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(
        {
            "STYLESTUDIO_ENV": "development",
            "STYLESTUDIO_PUBLIC_URL": "http://localhost:3000",
            "STYLESTUDIO_API_URL": api,
            # Production below runs no worker either: the same work on both sides.
            "STYLESTUDIO_IN_PROCESS_WORKER": "false",
        }
    )
    argv = [str(BIN / "reflex"), "run", "--backend-only", "--env", "dev"]
    argv += ["--backend-host", "127.0.0.1", "--backend-port", str(port)]
    return Server("development", argv, env, api, "http://localhost:3000", folder / "dev.log")


def production_server(
    database_url: str, folder: Path, port: int, *, redis_url: str, web: int, workers: int
) -> Server:
    """`stylestudio serve --prod` as an operator runs it (README, Production)."""
    api = f"http://localhost:{port}"
    env = _base_env(database_url, folder / "prod-data")
    env.update(
        {
            "STYLESTUDIO_ENV": "production",
            "STYLESTUDIO_SECRET_KEY": secrets.token_urlsafe(48),
            "REDIS_URL": redis_url,
            "STYLESTUDIO_WEB_PROCESSES": str(web),
            "STYLESTUDIO_WORKER_PROCESSES": str(workers),
            "STYLESTUDIO_HOST": "127.0.0.1",
            "STYLESTUDIO_PORT": str(port),
            "STYLESTUDIO_PUBLIC_URL": api,
            "STYLESTUDIO_API_URL": api,
        }
    )
    argv = [str(BIN / "stylestudio"), "serve", "--prod"]
    return Server("production", argv, env, api, api, folder / "prod.log")


def _flush_redis(url: str) -> None:
    """Tab states of an earlier run would only make this one's slower to find."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by `pid` and every live descendant."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    tree, pending = set(), [pid]
    while pending:
        current = pending.pop()
        tree.add(current)
        pending += [child for child, parent in parents.items() if parent == current]
    return sum(used.get(p, 0.0) for p in tree)


def _tree_pids(pid: int) -> list[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(stat[1])
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending += [child for child, parent in parents.items() if parent == current]
    return tree


def _start_profilers(server: Server, folder: Path) -> list[subprocess.Popen[bytes]]:
    """`--profile-dir`: `py-spy record --gil` on every Python process of the server during
    the load window (collapsed stacks of the thread holding the GIL: where Python spends
    its CPU). The profilers take CPU too: a profiled run's rates are not comparable."""
    assert server.process is not None
    if not (BIN / "py-spy").exists():
        raise SystemExit("--profile-dir needs py-spy in this environment: pip install py-spy")
    folder.mkdir(parents=True, exist_ok=True)
    spies = []
    for pid in _tree_pids(server.process.pid):
        try:
            cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not cmdline or b"python" not in Path(cmdline[0].decode()).name.encode():
            continue
        out = folder / f"{server.name}-{pid}.txt"
        argv = [str(BIN / "py-spy"), "record", "-p", str(pid), "-f", "raw", "-o", str(out)]
        spies.append(
            subprocess.Popen(
                [*argv, "--nonblocking", "--gil", "-r", "100"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return spies


def _stop_profilers(spies: list[subprocess.Popen[bytes]]) -> None:
    for spy in spies:
        spy.send_signal(signal.SIGINT)
    for spy in spies:
        try:
            spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy.kill()


def measure(server: Server, cookies: list[str], args: argparse.Namespace) -> dict[str, Any]:
    with running(server):
        time.sleep(args.settle_s)  # let the start-up's own work (compile, build) calm down
        assert server.process is not None
        before = os.getloadavg()
        server_cpu, client_cpu = _tree_cpu_s(server.process.pid), time.process_time()
        spies = _start_profilers(server, Path(args.profile_dir)) if args.profile_dir else []
        result = asyncio.run(
            load(
                api=server.api,
                origin=server.origin,
                cookies=cookies,
                events=args.events,
                timeout_s=args.timeout_s,
            )
        )
        after = os.getloadavg()
        _stop_profilers(spies)
        server_cpu = _tree_cpu_s(server.process.pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
    answered = result["page"]["answered"] + result["setter"]["answered"]
    # Hydration is inside these figures too: CPU per answered event, an upper bound.
    result["server_cpu_s"] = round(server_cpu, 1)
    result["server_cpu_ms_per_event"] = round(server_cpu * 1000 / max(1, answered), 2)
    result["bench_client_cpu_s"] = round(client_cpu, 1)
    result["startup_s"] = round(server.startup_s, 1)
    result["load_average_before"] = [round(x, 2) for x in before]
    result["load_average_after"] = [round(x, 2) for x in after]
    return result


def verdict(dev: dict[str, Any], prod: dict[str, Any]) -> dict[str, Any]:
    dev_rate = dev["page"]["events_per_s"]
    ratio = prod["page"]["events_per_s"] / dev_rate if dev_rate else 0.0
    setter_p99 = prod["setter"]["p99_ms"]
    p99_ratio = prod["page"]["p99_ms"] / setter_p99 if setter_p99 else 0.0
    errors = sum(r[k]["errors"] for r in (dev, prod) for k in ("page", "setter"))
    errors += dev["connect_errors"] + prod["connect_errors"]
    slow = sum(prod[k]["over_2s"] for k in ("page", "setter"))
    return {
        "prod_over_dev_page_events_per_s": round(ratio, 2),
        "prod_page_p99_over_setter_p99": round(p99_ratio, 2),
        "errors": errors,
        "prod_events_over_2s": slow,
        "target_met": ratio >= 2 and p99_ratio <= 2 and errors == 0 and slow == 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tabs", type=int, default=200)
    parser.add_argument("--events", type=int, default=20, help="events per tab (half pages)")
    parser.add_argument("--signed-in", type=float, default=0.5, help="share of tabs signed in")
    parser.add_argument("--only", choices=("dev", "prod"))
    parser.add_argument("--web-processes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--dev-port", type=int, default=8170)
    parser.add_argument("--prod-port", type=int, default=8171)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument(
        "--dev-redis", action="store_true", help="the development server on Redis state too"
    )
    parser.add_argument(
        "--prod-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra variable for production (e.g. STYLESTUDIO_STATE_LEASE_MS=2000)",
    )
    parser.add_argument(
        "--without-lease",
        action="store_true",
        help="also run production with STYLESTUDIO_STATE_LEASE_MS=0 (Redis on every event), "
        "in the same run, to show what the state lease saves",
    )
    parser.add_argument("--profile-dir", help="py-spy every server process into this folder")
    parser.add_argument("--timeout-s", type=float, default=30.0)
    parser.add_argument("--settle-s", type=float, default=3.0)
    args = parser.parse_args()

    from tests.support.databases import migrated_database

    result: dict[str, Any] = {
        "bench": "tabs",
        "cpus": os.cpu_count(),
        "database": "postgresql",
        "mix": "each tab alternates a page event (on_load_internal for /explore, and "
        "/gallery when signed in) and a no-database setter (StudioState.set_prompt), one "
        "at a time: both kinds run at the same rate; their latencies differ",
    }
    with (
        tempfile.TemporaryDirectory(prefix="bench-tabs-") as tmp,
        migrated_database("postgresql", Path(tmp)) as database_url,
    ):
        folder = Path(tmp)
        signed_in = round(args.tabs * args.signed_in)
        seeded = time.perf_counter()
        sessions = seed_sessions(database_url, signed_in)
        result["seed_s"] = round(time.perf_counter() - seeded, 1)
        cookies = sessions + [""] * (args.tabs - signed_in)
        if args.only in (None, "dev"):
            if args.dev_redis:
                _flush_redis(args.redis_url)
            redis_url = args.redis_url if args.dev_redis else ""
            dev = development_server(database_url, folder, args.dev_port, redis_url=redis_url)
            result["development"] = measure(dev, cookies, args)
            result["development"]["state_manager"] = "redis" if args.dev_redis else "disk"
        if args.only in (None, "prod"):
            extra = dict(item.split("=", 1) for item in args.prod_env)
            variants = [("production", extra)]
            if args.without_lease:
                variants.append(
                    ("production_without_lease", {**extra, "STYLESTUDIO_STATE_LEASE_MS": "0"})
                )
            for name, env in variants:
                _flush_redis(args.redis_url)
                prod = production_server(
                    database_url,
                    folder,
                    args.prod_port,
                    redis_url=args.redis_url,
                    web=args.web_processes,
                    workers=args.workers,
                )
                prod.env.update(env)
                result[name] = measure(prod, cookies, args)
                result[name]["extra_env"] = env
                result[name]["web_processes"] = args.web_processes
                result[name]["worker_processes"] = args.workers
        if "development" in result and "production" in result:
            result["verdict"] = verdict(result["development"], result["production"])
        if "production_without_lease" in result and "development" in result:
            result["verdict_without_lease"] = verdict(
                result["development"], result["production_without_lease"]
            )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
