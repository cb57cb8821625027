"""Faults under load (issue 15, acceptance 4): `stylestudio serve --prod` (2 backend
processes, 2 generation workers) on its own PostgreSQL cluster and its own redis-server, `--tabs`
websocket tabs (bench_tabs' client: page events and a setter, each tab at its own pace,
reconnecting with its token when its socket dies, as Reflex's client does) and a few
generations running (the replicate engine against the local fake Replicate, so that a
generation takes `--generation-s`), then one fault after the other:

- backend: `kill -9` one Granian backend process. Granian respawns it; the tabs on it
  reconnect (to the other one meanwhile) and carry on;
- redis: `redis-cli shutdown nosave` (every tab's state is gone), `--down-s` later started
  again on the same port. Readiness answers 503 naming redis meanwhile, then 200; the tabs'
  events fail with the outage message, then the tabs are rehydrated and carry on;
- postgres: `pg_ctl stop -m fast`, `--down-s` later started again (a restart whose gap is
  long enough to see). Readiness answers 503 naming the database, then 200;
- worker: `kill -9` the worker holding a running generation. The supervisor starts it again;
  its jobs are taken over when their lease (`--lease-s`) expires and complete.

For each fault, JSON: seconds until every tab had an event answered again (from the fault,
and from the restore for redis and postgres), tabs recovered / total, errors seen by the tabs
(by kind, a few examples), what readiness said, and the invariants checked: every user's
ledger sum equals their balance, every generation completed, charged once and never
refunded, and the command still running with all its processes.

Nothing of the machine's shared PostgreSQL (5432) or Redis (6379) is touched: the cluster
is made with initdb in a temporary folder (run as the `postgres` user when this runs as
root) and removed after, as is the redis-server (`--save ''`).

    python bench/bench_faults.py [--tabs 100] [--faults backend,redis,postgres,worker]
        [--prod-env REFLEX_OPLOCK_ENABLED=true] [--with-frontend]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_tabs import (  # noqa: E402
    Server,
    Tab,
    TabError,
    production_server,
    seed_sessions,
    set_prompt_event,
)

FAULTS = ("backend", "redis", "postgres", "worker")
OUTAGE_SHOWN = "outage message shown"


# --- the servers it owns ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if not found:
        raise SystemExit(f"{name} not found: install PostgreSQL's server binaries")
    return found


@dataclass
class PostgresCluster:
    """A throwaway cluster (initdb) on `port`, trust authentication, only on 127.0.0.1. Run
    as the `postgres` user when this process is root (PostgreSQL refuses root)."""

    folder: Path
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/stylestudio"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = list(argv)
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    def create(self) -> None:
        self.folder.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            self.folder.parent.chmod(0o755)
        initdb = _postgres_bin("initdb")
        self._run(initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        self.start()
        import sqlalchemy as sa

        admin = sa.create_engine(
            self.url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.exec_driver_sql("CREATE DATABASE stylestudio")
        admin.dispose()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        log = str(self.folder / "postgres.log")
        self._run(
            _postgres_bin("pg_ctl"), "-D", str(self.data), "-l", log, "-o", options, "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(
            _postgres_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False
        )

    def destroy(self) -> None:
        if self.data.exists():
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class RedisServer:
    """redis-server on `port`, nothing saved to disk: a restart loses every key."""

    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._cli("ping").stdout.strip() == "PONG":
                return
            time.sleep(0.1)
        raise RuntimeError(f"redis-server on {self.port} did not answer:\n{self.log.read_text()}")

    def _cli(self, *argv: str) -> subprocess.CompletedProcess[str]:
        command = ["redis-cli", "-p", str(self.port), *argv]
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self._cli("shutdown", "nosave")
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@contextlib.contextmanager
def own_redis(folder: Path) -> Iterator[RedisServer]:
    server = RedisServer(port=free_port(), log=folder / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def own_postgres(folder: Path) -> Iterator[PostgresCluster]:
    cluster = PostgresCluster(folder=folder / "postgres", port=free_port())
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.destroy()


# --- the production command's processes ----------------------------------------------


def _parents() -> dict[int, int]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if fields[0] != "Z":
                    found[int(entry.name)] = int(fields[1])
    return found


def children(pid: int) -> list[int]:
    return sorted(child for child, parent in _parents().items() if parent == pid)


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def web_pid(root: int) -> int:
    """The web child of `stylestudio serve --prod` (Granian's main process)."""
    for pid in children(root):
        if "stylestudio.web_entry" in cmdline(pid):
            return pid
    raise RuntimeError(f"no web process under {root}: the command is not running")


def backend_pids(root: int) -> list[int]:
    """Granian's backend processes: the web child's children that run Python (not a build
    step's bun)."""
    if not Path(f"/proc/{root}").exists():
        return []
    web = web_pid(root)
    return [pid for pid in children(web) if "python" in cmdline(pid).split(" ", 1)[0]]


def connections(pid: int, port: int) -> int:
    """How many established TCP connections to local `port` process `pid` holds."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in (Path("/proc") / str(pid) / "fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    count = 0
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (Path("/proc") / str(pid) / "net" / table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == "01" and fields[9] in inodes:
                    count += 1
    return count


def worker_pids(root: int) -> list[int]:
    return [pid for pid in children(root) if "stylestudio.cli worker" in cmdline(pid)]


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> float:
    """Seconds until `check()` held; raises after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.1)
    raise RuntimeError(f"{what}: not within {timeout:.0f} s")


# --- the database's invariants and the generations -------------------------------------


@dataclass
class Shopper:
    """A user with credits and an uploaded photo, who starts generations."""

    database_url: str
    media: Path
    user_id: int = 0
    image_id: int = 0
    started: list[int] = field(default_factory=list)

    def create(self, credits_granted: int) -> None:
        from stylestudio.adapters.storage import LocalStorage
        from stylestudio.db import create_db_engine, session_scope
        from stylestudio.models import ImageCategory
        from stylestudio.services.accounts import accounts
        from stylestudio.services.billing import credits
        from stylestudio.services.media import media
        from tests.support.builders import product_shot

        engine = create_db_engine(self.database_url)
        try:
            with session_scope(engine) as session:
                user = accounts.sign_up(
                    session, email="shopper@faults.local", password="faults-shopper-password"
                )
                assert user.id is not None
                self.user_id = user.id
                credits.grant(
                    session, user_id=user.id, amount=credits_granted, idempotency_key="faults:grant"
                )
            with session_scope(engine) as session:
                image = media.store_upload(
                    session,
                    storage=LocalStorage(self.media),
                    user_id=self.user_id,
                    data=product_shot(),
                    filename="shoe.jpg",
                    category=ImageCategory.PRODUCT,
                )
                assert image.id is not None
                self.image_id = image.id
        finally:
            engine.dispose()

    def start(self, count: int) -> list[int]:
        from stylestudio.db import create_db_engine, session_scope
        from stylestudio.services.generation import generations

        engine = create_db_engine(self.database_url)
        ids = []
        try:
            for _ in range(count):
                with session_scope(engine) as session:
                    generation = generations.start_generation(
                        session,
                        user_id=self.user_id,
                        product_image_id=self.image_id,
                        model_image_id=None,
                        prompt="on a marble table",
                        style="realistic",
                        quality="standard",
                        aspect_ratio="1:1",
                        idempotency_key=f"faults-{uuid.uuid4().hex}",
                    )
                    assert generation.id is not None
                    ids.append(generation.id)
        finally:
            engine.dispose()
        self.started += ids
        return ids


def _with_engine(database_url: str, fn: Callable[[Any], Any]) -> Any:
    from stylestudio.db import create_db_engine, session_scope

    engine = create_db_engine(database_url)
    try:
        with session_scope(engine, write=False) as session:
            return fn(session)
    finally:
        engine.dispose()


def generation_statuses(database_url: str, ids: list[int]) -> dict[int, str]:
    from sqlmodel import col, select

    from stylestudio.models import Generation

    def read(session: Any) -> dict[int, str]:
        rows = session.exec(select(Generation).where(col(Generation.id).in_(ids))).all()
        return {g.id: str(g.status) for g in rows}

    return dict(_with_engine(database_url, read))


def lease_owners(database_url: str, ids: list[int]) -> dict[int, str]:
    """{generation id: the worker id leasing its job} for jobs leased now."""
    from sqlmodel import col, select

    from stylestudio.models import Job, JobStatus

    def read(session: Any) -> dict[int, str]:
        rows = session.exec(
            select(Job).where(col(Job.generation_id).in_(ids), Job.status == JobStatus.RUNNING)
        ).all()
        return {j.generation_id: j.lease_owner for j in rows if j.lease_owner}

    return dict(_with_engine(database_url, read))


def ledger_problems(database_url: str, generation_ids: list[int]) -> list[str]:
    """Every user's ledger sum against their balance; each generation charged exactly once
    and refunded at most once (never, when it completed). Empty when all hold."""
    import sqlalchemy as sa
    from sqlmodel import col, select

    from stylestudio.models import CreditLedgerEntry, Generation, GenerationStatus, LedgerKind, User
    from stylestudio.services.billing import credits

    def check(session: Any) -> list[str]:
        problems = []
        for user in session.exec(select(User)).all():
            total = credits.ledger_sum(session, user_id=user.id)
            if total != user.credits:
                problems.append(f"user {user.id}: ledger sum {total} != balance {user.credits}")
        counts = session.exec(
            select(
                CreditLedgerEntry.generation_id, CreditLedgerEntry.kind, sa.func.count()
            ).group_by(col(CreditLedgerEntry.generation_id), col(CreditLedgerEntry.kind))
        ).all()
        per = {(gid, str(kind)): n for gid, kind, n in counts}
        for gid in generation_ids:
            generation = session.get(Generation, gid)
            spends = per.get((gid, str(LedgerKind.SPEND)), 0)
            refunds = per.get((gid, str(LedgerKind.REFUND)), 0)
            if spends != 1:
                problems.append(f"generation {gid}: charged {spends} times")
            if refunds > 1 or (generation.status == GenerationStatus.COMPLETED and refunds):
                problems.append(f"generation {gid} ({generation.status}): refunded {refunds} times")
        return problems

    return list(_with_engine(database_url, check))


# --- the tabs ------------------------------------------------------------------------------


class FaultTab(Tab):
    """bench_tabs' tab, telling the outage message (stylestudio.state.outages) from Reflex's
    generic error."""

    async def _until(self, match: Callable[[str], bool]) -> None:
        from stylestudio.state.outages import OUTAGE_TITLE

        def seen(frame: str) -> bool:
            if OUTAGE_TITLE in frame:
                raise TabError(OUTAGE_SHOWN)
            return match(frame)

        await super()._until(seen)


@dataclass
class TabRecord:
    answers: list[tuple[float, float]] = field(default_factory=list)  # (sent, answered)
    errors: list[tuple[float, str]] = field(default_factory=list)
    reconnects: list[float] = field(default_factory=list)
    # After a reconnect: is the prompt the tab set last still in its state in Redis?
    prompt_kept: list[tuple[float, bool]] = field(default_factory=list)


@dataclass
class Load:
    """Tabs running until `stop` is set, each at its own pace (`think_s` between events),
    reconnecting with the same token when their socket is lost, as the page does."""

    api: str
    cookies: list[str]
    think_s: float
    timeout_s: float
    redis_url: str
    records: list[TabRecord] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    opened: int = 0

    @classmethod
    def on(
        cls, server: Server, cookies: list[str], redis_url: str, args: argparse.Namespace
    ) -> Load:
        """Tabs with `cookies` on `server`, paced and timed as `args` say."""
        return cls(
            api=server.api,
            cookies=cookies,
            think_s=args.think_s,
            timeout_s=args.timeout_s,
            redis_url=redis_url,
        )

    async def run(self) -> None:
        import redis.asyncio

        from stylestudio.state.studio import StudioState

        setter = set_prompt_event()
        arriving = asyncio.Semaphore(20)
        self.records = [TabRecord() for _ in self.cookies]
        state_store = redis.asyncio.Redis.from_url(self.redis_url)
        try:
            await asyncio.gather(
                *(
                    self._tab(
                        i, cookie, setter, arriving, self.records[i], state_store, StudioState
                    )
                    for i, cookie in enumerate(self.cookies)
                )
            )
        finally:
            await state_store.aclose()

    async def _tab(
        self,
        index: int,
        cookie: str,
        setter: str,
        arriving: asyncio.Semaphore,
        record: TabRecord,
        state_store: Any,
        studio: Any,
    ) -> None:
        tab = FaultTab(api=self.api, cookie=cookie, origin=self.api, timeout_s=self.timeout_s)
        studio_key = f"{tab.token}_{studio.get_full_name()}"
        pages = ["/explore", "/gallery"] if cookie else ["/explore"]
        connected, ever, prompt, step = False, False, "", 0
        try:
            while not self.stop.is_set():
                if not connected:
                    try:
                        async with arriving:
                            await tab.open("/explore")
                    except Exception as problem:  # refused, reset, timeout: try again
                        record.errors.append((time.monotonic(), f"connect: {_kind(problem)}"))
                        await tab.close()
                        await asyncio.sleep(random.uniform(0.5, 1.5))
                        continue
                    connected = True
                    if ever:
                        now = time.monotonic()
                        record.reconnects.append(now)
                        if prompt:
                            with contextlib.suppress(Exception):
                                stored = await state_store.get(studio_key) or b""
                                record.prompt_kept.append((now, prompt.encode() in stored))
                    else:
                        ever = True
                        self.opened += 1
                step += 1
                sent = time.monotonic()
                try:
                    if step % 2:
                        await tab.navigate(pages[(step // 2) % len(pages)])
                    else:
                        value = f"faults prompt {index}-{step}-{uuid.uuid4().hex[:6]}"
                        await tab.send(setter, {"value": value}, "/studio", value)
                        prompt = value
                    record.answers.append((sent, time.monotonic()))
                except (TabError, websockets.ConnectionClosed) as problem:
                    record.errors.append((sent, _kind(problem)))
                    if not str(problem).startswith(OUTAGE_SHOWN):
                        # Closed, or no answer: the socket is done for; the page reconnects.
                        await tab.close()
                        connected = False
                await asyncio.sleep(random.uniform(0.5, 1.5) * self.think_s)
        finally:
            await tab.close()


def _kind(problem: BaseException) -> str:
    text = str(problem) or type(problem).__name__
    if isinstance(problem, websockets.ConnectionClosed):
        return "closed"
    for known in ("closed", "timeout", OUTAGE_SHOWN, "error shown", "connect refused"):
        if text.startswith(known):
            return known
    return text[:60]


def recovery(records: list[TabRecord], since: float, until: float) -> dict[str, Any]:
    """Per tab, the first event sent at or after `since` that was answered: how long after
    `since` its answer came. Errors are those of events sent in [since, until)."""
    waits = []
    for record in records:
        answered = [done for sent, done in record.answers if sent >= since]
        if answered:
            waits.append(min(answered) - since)
    errors = Counter(
        kind for record in records for at, kind in record.errors if since <= at < until
    )
    kept = [ok for record in records for at, ok in record.prompt_kept if since <= at < until]
    waits.sort()
    return {
        "tabs_recovered": len(waits),
        "tabs_total": len(records),
        "all_answered_again_s": round(waits[-1], 2) if len(waits) == len(records) else None,
        "p50_answered_again_s": round(waits[len(waits) // 2], 2) if waits else None,
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "reconnects": sum(
            1 for record in records for at in record.reconnects if since <= at < until
        ),
        "reconnected_with_prompt_kept": sum(kept),
        "reconnected_with_prompt_lost": len(kept) - sum(kept),
    }


async def until_all_answered(records: list[TabRecord], since: float, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(any(sent >= since for sent, _ in r.answers) for r in records):
            return True
        await asyncio.sleep(0.2)
    return False


# --- readiness -----------------------------------------------------------------------------


@dataclass
class ReadinessWatch:
    """Polls /api/ready every 0.25 s, keeping each change of answer: (seconds, status,
    failed parts)."""

    url: str
    changes: list[tuple[float, int, list[str]]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _t0: float = 0.0

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._task = asyncio.ensure_future(self._poll())

    async def _poll(self) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                try:
                    response = await client.get(self.url)
                    answer = (response.status_code, list(response.json().get("failed", [])))
                except (httpx.HTTPError, ValueError):
                    answer = (0, ["no answer"])
                if not self.changes or self.changes[-1][1:] != answer:
                    self.changes.append((round(time.monotonic() - self._t0, 2), *answer))
                await asyncio.sleep(0.25)

    async def stop(self) -> list[dict[str, Any]]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return [{"at_s": at, "status": code, "failed": failed} for at, code, failed in self.changes]


async def ready_again(url: str, timeout: float) -> float:
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=10) as client:
        while time.monotonic() - started < timeout:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return time.monotonic() - started
            await asyncio.sleep(0.25)
    raise RuntimeError(f"{url} not ready again within {timeout:.0f} s")


# --- the faults ----------------------------------------------------------------------------


@dataclass
class Run:
    server: Server
    database_url: str
    redis: RedisServer
    postgres: PostgresCluster | None
    shopper: Shopper
    load: Load
    args: argparse.Namespace

    @property
    def root(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid

    def command_alive(self) -> bool:
        return self.server.process is not None and self.server.process.poll() is None

    async def settle(self, since: float) -> bool:
        return await until_all_answered(self.load.records, since, self.args.recover_timeout_s)

    async def generations_end(self, ids: list[int]) -> dict[str, Any]:
        """Wait until every generation in `ids` ended; their statuses counted."""
        started = time.monotonic()
        ended = ("completed", "failed", "canceled")
        statuses: dict[int, str] = {}
        while time.monotonic() - started < self.args.generations_timeout_s:
            statuses = await asyncio.to_thread(generation_statuses, self.database_url, ids)
            if len(statuses) == len(ids) and all(s in ended for s in statuses.values()):
                break
            await asyncio.sleep(0.5)
        return {
            "seconds": round(time.monotonic() - started, 1),
            "statuses": dict(Counter(statuses.values())),
        }

    async def invariants(self, ids: list[int], ended: dict[str, Any]) -> dict[str, Any]:
        problems = await asyncio.to_thread(ledger_problems, self.database_url, self.shopper.started)
        web = web_pid(self.root) if self.command_alive() else None
        return {
            "ledger_sum_equals_balance_and_charged_once": not problems,
            "problems": problems[:5],
            "generations_all_completed": ended["statuses"] == {"completed": len(ids)},
            "command_running": self.command_alive(),
            "backend_processes": len(backend_pids(self.root)) if web else 0,
            "worker_processes": len(worker_pids(self.root)) if web else 0,
        }

    async def fault_backend(self) -> dict[str, Any]:
        ids = await asyncio.to_thread(self.shopper.start, self.args.generations)
        before = backend_pids(self.root)
        # The one serving the most tabs: some are sure to lose their socket.
        port = int(self.server.api.rsplit(":", 1)[1])
        victim = max(before, key=lambda pid: connections(pid, port))
        tabs_on_it = connections(victim, port)
        t0 = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        # Watched beside the tabs: the time Granian took, not the tabs' time.
        respawned = asyncio.ensure_future(
            asyncio.to_thread(
                wait_for,
                "a backend process respawned",
                lambda: (
                    len([p for p in backend_pids(self.root) if p not in before]) == 1
                    and len(backend_pids(self.root)) == len(before)
                ),
                60,
            )
        )
        settled = await self.settle(t0)
        t1 = time.monotonic()
        respawned_s = await respawned
        ended = await self.generations_end(ids)
        return {
            "killed_pid": victim,
            "its_connections": tabs_on_it,
            "backend_respawned_within_s": round(respawned_s, 1),
            "all_tabs_answered_again": settled,
            **recovery(self.load.records, t0, t1),
            "generations": ended,
            "invariants": await self.invariants(ids, ended),
        }

    async def _outage(
        self, stop: Callable[[], None], start: Callable[[], None], part: str
    ) -> dict[str, Any]:
        ids = await asyncio.to_thread(self.shopper.start, self.args.generations)
        watch = ReadinessWatch(f"{self.server.api}/api/ready")
        watch.start()
        await asyncio.sleep(1.0)
        t0 = time.monotonic()
        await asyncio.to_thread(stop)
        await asyncio.sleep(self.args.down_s)
        restored = time.monotonic()
        await asyncio.to_thread(start)
        ready_s = await ready_again(f"{self.server.api}/api/ready", self.args.recover_timeout_s)
        settled = await self.settle(restored)
        t1 = time.monotonic()
        await asyncio.sleep(1.0)
        readiness = await watch.stop()
        ended = await self.generations_end(ids)
        during = [c for c in readiness if c["status"] == 503]
        return {
            "down_s": round(restored - t0, 1),
            "ready_again_after_restore_s": round(ready_s, 1),
            "readiness": readiness,
            "readiness_named_it": any(part in c["failed"] for c in during),
            "all_tabs_answered_again": settled,
            "since_fault": recovery(self.load.records, t0, t1),
            "since_restore": recovery(self.load.records, restored, t1),
            "generations": ended,
            "invariants": await self.invariants(ids, ended),
        }

    async def fault_redis(self) -> dict[str, Any]:
        return await self._outage(self.redis.stop, self.redis.start, "redis")

    async def fault_postgres(self) -> dict[str, Any]:
        assert self.postgres is not None
        cluster = self.postgres
        return await self._outage(lambda: cluster.stop("fast"), cluster.start, "database")

    async def fault_worker(self) -> dict[str, Any]:
        ids = await asyncio.to_thread(self.shopper.start, self.args.generations)
        workers = worker_pids(self.root)
        owners: dict[int, str] = {}

        def leased() -> bool:
            owners.update(lease_owners(self.database_url, ids))
            return any(f":{pid}:" in owner for owner in owners.values() for pid in workers)

        await asyncio.to_thread(wait_for, "a generation leased", leased, 60)
        victim = next(pid for pid in workers if any(f":{pid}:" in o for o in owners.values()))
        its_jobs = [gid for gid, owner in owners.items() if f":{victim}:" in owner]
        t0 = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        restarted_s = await asyncio.to_thread(
            wait_for,
            "the worker restarted",
            lambda: (
                len(worker_pids(self.root)) == len(workers) and victim not in worker_pids(self.root)
            ),
            60,
        )
        ended = await self.generations_end(ids)
        t1 = time.monotonic()
        return {
            "killed_pid": victim,
            "its_generations": len(its_jobs),
            "lease_s": self.args.lease_s,
            "worker_restarted_within_s": round(restarted_s, 1),
            "all_generations_ended_after_kill_s": round(t1 - t0, 1),
            "supervisor_logged_restart": f"(pid {victim}) exited with status -9: restarting"
            in self.server.tail(200_000),
            "tabs": recovery(self.load.records, t0, t1),
            "generations": ended,
            "invariants": await self.invariants(ids, ended),
        }


async def run_faults(run: Run, faults: list[str]) -> dict[str, Any]:
    loading = asyncio.ensure_future(run.load.run())
    results: dict[str, Any] = {}
    try:
        started = time.monotonic()
        while run.load.opened < len(run.load.cookies) and time.monotonic() - started < 300:
            await asyncio.sleep(0.2)
        results["tabs_opened"] = run.load.opened
        results["tabs_open_s"] = round(time.monotonic() - started, 1)
        # The baseline, same run: how long until every tab had an event answered, from any
        # moment with no fault (the load alone, on this machine now).
        calm = time.monotonic()
        await run.settle(calm)
        results["no_fault_baseline"] = recovery(run.load.records, calm, time.monotonic())
        await asyncio.sleep(run.args.settle_s)
        for fault in faults:
            if not run.command_alive():
                results[fault] = {"skipped": "the command is not running"}
                continue
            results[fault] = await getattr(run, f"fault_{fault}")()
            await asyncio.sleep(run.args.settle_s)
    finally:
        run.load.stop.set()
        await asyncio.wait_for(loading, timeout=run.args.timeout_s + 30)
    return results


@contextlib.contextmanager
def serving(
    folder: Path,
    *,
    database_url: str,
    redis_url: str,
    port: int,
    args: argparse.Namespace,
) -> Iterator[tuple[Server, Shopper, list[str]]]:
    """`stylestudio serve --prod` (2 backend processes, 2 workers) on a migrated database,
    the fake Replicate behind its generations (`args.generation_s` each, leases of
    `args.lease_s`): the running server, a shopper with credits and a photo, and the cookie
    headers of the tabs (`args.signed_in` of `args.tabs` signed in, the rest "")."""
    from tests.support.databases import migrate
    from tests.support.fake_replicate import FakeReplicate

    migrate(database_url)
    signed_in = round(args.tabs * args.signed_in)
    cookies = seed_sessions(database_url, signed_in) + [""] * (args.tabs - signed_in)
    shopper = Shopper(database_url, folder / "prod-data" / "media")
    shopper.create(credits_granted=10 * args.generations * len(FAULTS) + 10)
    replicate = FakeReplicate(latency_s=args.generation_s).start()
    server = production_server(database_url, folder, port, redis_url=redis_url, web=2, workers=2)
    server.env.update(
        {
            "STYLESTUDIO_GENERATION_ENGINE": "replicate",
            "REPLICATE_API_TOKEN": replicate.api_token,
            "REPLICATE_BASE_URL": replicate.base_url,
            "STYLESTUDIO_WEBHOOK_BASE_URL": "",
            "STYLESTUDIO_WORKER_LEASE_S": str(args.lease_s),
            "REFLEX_WEB_WORKDIR": str(folder / "web"),
            **dict(item.split("=", 1) for item in args.prod_env),
        }
    )
    if not args.with_frontend:
        server.argv.append("--backend-only")
    try:
        server.start()
        yield server, shopper, cookies
    finally:
        server.stop()
        replicate.stop()


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tabs", type=int, default=100)
    parser.add_argument("--signed-in", type=float, default=0.5, help="share of tabs signed in")
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated, in order")
    parser.add_argument("--port", type=int, default=8181)
    parser.add_argument("--think-s", type=float, default=1.0, help="mean pause between events")
    parser.add_argument("--timeout-s", type=float, default=15.0, help="an event's answer")
    parser.add_argument("--down-s", type=float, default=5.0, help="redis/postgres downtime")
    parser.add_argument("--recover-timeout-s", type=float, default=90.0)
    parser.add_argument("--generations", type=int, default=4, help="started with each fault")
    parser.add_argument("--generation-s", type=float, default=6.0, help="fake Replicate latency")
    parser.add_argument("--generations-timeout-s", type=float, default=120.0)
    parser.add_argument("--lease-s", type=int, default=10, help="STYLESTUDIO_WORKER_LEASE_S")
    parser.add_argument("--settle-s", type=float, default=3.0)
    parser.add_argument(
        "--keep-log",
        metavar="PATH",
        help="copy the server's whole log there at the end (to read the failures it counted)",
    )
    parser.add_argument(
        "--with-frontend",
        action="store_true",
        help="build and serve the frontend too (slow; the tabs only speak the websocket)",
    )
    parser.add_argument(
        "--prod-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra variable for the server (e.g. REFLEX_OPLOCK_ENABLED=true)",
    )
    return parser.parse_args(argv)


def main() -> None:
    args = options()
    faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = set(faults) - set(FAULTS)
    if unknown:
        raise SystemExit(f"unknown faults: {sorted(unknown)}")
    result: dict[str, Any] = {
        "bench": "faults",
        "cpus": os.cpu_count(),
        "tabs": args.tabs,
        "web_processes": 2,
        "worker_processes": 2,
        "extra_env": dict(item.split("=", 1) for item in args.prod_env),
        "frontend": args.with_frontend,
        "think_s": args.think_s,
        "lease_s": args.lease_s,
        "down_s": args.down_s,
        "generation_s": args.generation_s,
    }
    folder = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    try:
        with (
            own_postgres(folder) as cluster,
            own_redis(folder) as redis_server,
            serving(
                folder,
                database_url=cluster.url,
                redis_url=redis_server.url,
                port=args.port,
                args=args,
            ) as (server, shopper, cookies),
        ):
            result["startup_s"] = round(server.startup_s, 1)
            load = Load.on(server, cookies, redis_server.url, args)
            run = Run(server, cluster.url, redis_server, cluster, shopper, load, args)
            result["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
            try:
                result.update(asyncio.run(run_faults(run, faults)))
                result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
                result["command_still_running"] = run.command_alive()
            finally:
                result["server_log_tail"] = server.tail(1500).splitlines()[-8:]
                if args.keep_log:
                    shutil.copyfile(server.log, args.keep_log)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
