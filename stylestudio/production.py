"""`stylestudio serve --prod`: the whole app on one address, on one machine.

What it runs (the same commands a container recipe runs one per service):

- `reflex run --env prod` on one port (through `stylestudio.web_entry`, which makes Granian
  respawn a backend process that dies): Reflex builds the frontend and serves it from the
  backend, whose Granian server runs `STYLESTUDIO_WEB_PROCESSES` processes sharing the Redis
  state manager (`REDIS_URL`); none of them runs the in-process generation worker;
- `STYLESTUDIO_WORKER_PROCESSES` x `stylestudio worker`.

What survives a fault, and what stops everything:

- one Granian backend process dying (OOM killer, `kill -9`, a crash in a native library):
  Granian's main process starts another in its place; the other backend processes keep
  serving meanwhile, and the tabs whose socket died reconnect by themselves (Reflex's client
  does) and carry on with their state from Redis. Granian gives up (and exits, which stops
  everything, below) when a process it respawned dies again within seconds;
- a `stylestudio worker` dying: logged, and started again after a back-off (1 s, doubling up
  to 15 s); the jobs it had claimed are taken over by any worker once their lease expires
  (`STYLESTUDIO_WORKER_LEASE_S`). One that dies `RESTART_LIMIT` times within
  `RESTART_WINDOW_S` is broken rather than unlucky: the command stops, exit 1;
- the web child itself (Granian's main process, which holds the listening socket and the
  built frontend) exiting: every other child is stopped and the command exits 1, for the
  service manager above it (systemd `Restart=on-failure`, compose `restart:`) to start it
  again, migrations included. Restarting it in place would mean rebuilding the frontend,
  and workers running without any web (the app down, the jobs still draining) are harder
  to notice than a command that is down.

SIGTERM or SIGINT stops every child (SIGTERM, then SIGKILL after a grace period) and the
command exits 0.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx

from stylestudio.settings import DEVELOPMENT_SECRET_KEY, Settings

log = logging.getLogger(__name__)
MIN_SECRET_KEY_LENGTH = 32
STOP_GRACE_SECONDS = 20.0
# A worker that dies this many times within the window is broken, not unlucky: give up.
RESTART_LIMIT = 5
RESTART_WINDOW_S = 60.0
RESTART_FIRST_DELAY_S = 1.0
RESTART_MAX_DELAY_S = 15.0
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Plan:
    """How many processes of each kind, on which address."""

    web_processes: int
    worker_processes: int
    host: str
    port: int
    # No frontend build, no pages: the backend (websocket, API) alone on `port`.
    backend_only: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Plan:
        return cls(
            web_processes=settings.web_processes,
            worker_processes=settings.worker_processes,
            host=settings.bind_host,
            port=settings.port,
        )

    @property
    def in_process_worker(self) -> bool:
        """One backend process and no separate worker: that process runs the jobs itself."""
        return self.web_processes == 1 and self.worker_processes == 0


def refusals(settings: Settings, plan: Plan) -> list[str]:
    """Why production must not start with this configuration: one line per problem, each
    naming what to set. Empty when it may start."""
    problems: list[str] = []
    if settings.environment == "development":
        problems.append(
            "STYLESTUDIO_ENV is development: set STYLESTUDIO_ENV=production "
            "(or test, for a staging run that allows the offline test checkout)"
        )
    key = settings.secret_key.strip()
    if not key or key == DEVELOPMENT_SECRET_KEY:
        what = "empty" if not key else "the development default"
        problems.append(
            f"STYLESTUDIO_SECRET_KEY is {what}: set it to a long random value, e.g. the "
            "output of python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    elif len(key) < MIN_SECRET_KEY_LENGTH:
        problems.append(
            f"STYLESTUDIO_SECRET_KEY has {len(key)} characters: set one of at least "
            f"{MIN_SECRET_KEY_LENGTH} (e.g. python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')"
        )
    if plan.web_processes > 1 and not settings.redis_url:
        problems.append(
            f"REDIS_URL is not set, but {plan.web_processes} backend processes were asked "
            "for: set REDIS_URL (e.g. redis://127.0.0.1:6379/0) so that they share the tabs' "
            "state, or STYLESTUDIO_WEB_PROCESSES=1"
        )
    processes = plan.web_processes + plan.worker_processes
    if settings.effective_database_url.startswith("sqlite") and processes > 1:
        problems.append(
            f"the database is SQLite, but {plan.web_processes} backend and "
            f"{plan.worker_processes} worker processes were asked for: set DATABASE_URL "
            "(e.g. postgresql://user:password@127.0.0.1:5432/stylestudio), or run one "
            "process with STYLESTUDIO_WEB_PROCESSES=1 and STYLESTUDIO_WORKER_PROCESSES=0 "
            "(the generation worker then runs inside it)"
        )
    public, api = settings.public_url.rstrip("/"), settings.api_url.rstrip("/")
    if public != api:
        problems.append(
            f"STYLESTUDIO_PUBLIC_URL ({public}) and STYLESTUDIO_API_URL ({api}) differ, but "
            "production serves the pages and the backend on one address: set both to the "
            "address browsers use (e.g. https://studio.example.com behind a TLS proxy, or "
            f"http://localhost:{plan.port})"
        )
    return problems


def child_environment(
    plan: Plan, base: Mapping[str, str], *, state_lease_ms: int = 0
) -> dict[str, str]:
    """The environment every child runs with."""
    env = dict(base)
    if state_lease_ms > 0:
        # Reflex's opportunistic lock: bench/bench_tabs.py measured the Redis state manager
        # at about twice the CPU of the development server's per event without it.
        env.setdefault("REFLEX_OPLOCK_ENABLED", "true")
        env.setdefault("REFLEX_OPLOCK_HOLD_TIME_MS", str(state_lease_ms))
    env["GRANIAN_WORKERS"] = str(plan.web_processes)
    env["REFLEX_TELEMETRY_ENABLED"] = "false"
    env["PYTHONUNBUFFERED"] = "1"
    if not plan.in_process_worker:
        # Generation workers are their own processes, never one in every backend process.
        env["STYLESTUDIO_IN_PROCESS_WORKER"] = "false"
    return env


def empty_metrics_folder(env: Mapping[str, str]) -> Path | None:
    """prometheus-client's multiprocess mode adds up the files of every process that ever
    wrote to PROMETHEUS_MULTIPROC_DIR: a start must begin with it empty, or the counters of
    the last run's (dead) processes are counted again. Created when missing."""
    folder = env.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if not folder:
        return None
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.glob("*.db"):
        entry.unlink(missing_ok=True)
    return path


def web_command(plan: Plan) -> list[str]:
    """Reflex in production mode: build the frontend, then serve it and the backend on one
    port (Granian, `GRANIAN_WORKERS` processes, respawned when one dies)."""
    port = str(plan.port)
    argv = [sys.executable, "-m", "stylestudio.web_entry", "run", "--env", "prod"]
    argv += ["--backend-host", plan.host, "--backend-port", port]
    if plan.backend_only:
        return [*argv, "--backend-only"]
    return [*argv, "--frontend-port", port]


def worker_command() -> list[str]:
    return [sys.executable, "-m", "stylestudio.cli", "worker"]


def health_url(plan: Plan) -> str:
    host = "127.0.0.1" if plan.host in ("0.0.0.0", "::", "") else plan.host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{plan.port}/api/health"


@dataclass
class Child:
    """One supervised command. `restart`: started again when it exits on its own (workers);
    otherwise its exit stops the command (the web child)."""

    name: str
    argv: Sequence[str]
    restart: bool = False
    process: subprocess.Popen[bytes] | None = None
    restart_at: float | None = None
    deaths: deque[float] = field(default_factory=deque)


@dataclass(frozen=True)
class RestartPolicy:
    """When a restartable child is started again, and when its deaths mean giving up."""

    limit: int = RESTART_LIMIT
    window_s: float = RESTART_WINDOW_S
    first_delay_s: float = RESTART_FIRST_DELAY_S
    max_delay_s: float = RESTART_MAX_DELAY_S

    def delay(self, deaths_in_window: int) -> float:
        """Back-off after a child's n-th death within the window: doubling from the first."""
        return min(self.max_delay_s, self.first_delay_s * 2 ** max(0, deaths_in_window - 1))


def _die_with_parent() -> None:
    """In the child before exec: on Linux, get SIGTERM if the supervisor itself dies (even by
    SIGKILL), so that no orphaned server keeps the port."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Supervisor:
    """Runs the children, each in its own process group, until one exits or a signal comes."""

    children: list[Child]
    env: Mapping[str, str]
    cwd: Path
    health_url: str | None = None
    grace_s: float = STOP_GRACE_SECONDS
    restarts: RestartPolicy = field(default_factory=RestartPolicy)
    _signal: int | None = field(default=None, init=False)

    def run(self) -> int:
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        started = time.monotonic()
        try:
            for child in self.children:
                if self._signal is None:
                    self._start(child)
            return self._watch(started)
        finally:
            self.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signal = signum

    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(
            list(child.argv),
            cwd=self.cwd,
            env=dict(self.env),
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        log.info("started %s (pid %s)", child.name, child.process.pid)

    def _watch(self, started: float) -> int:
        healthy = self.health_url is None
        next_check = 0.0
        while True:
            if self._signal is not None:
                log.info("%s received: stopping every process", signal.Signals(self._signal).name)
                return 0
            for child in self.children:
                if child.restart_at is not None:
                    if time.monotonic() >= child.restart_at:
                        child.restart_at = None
                        self._start(child)
                    continue
                code = child.process.poll() if child.process else None
                if code is not None and not self._exited(child, code):
                    return 1
            now = time.monotonic()
            if not healthy and now >= next_check and self.health_url:
                next_check = now + 1.0
                if _is_healthy(self.health_url):
                    healthy = True
                    log.info("healthy after %.1f s: %s answers ok", now - started, self.health_url)
            time.sleep(0.2)

    def _exited(self, child: Child, code: int) -> bool:
        """Log a child's exit and schedule its restart; False when the command must stop."""
        pid = child.process.pid if child.process else "?"
        if not child.restart:
            log.error(
                "%s (pid %s) exited with status %s: stopping the others", child.name, pid, code
            )
            return False
        now = time.monotonic()
        child.deaths.append(now)
        while child.deaths and now - child.deaths[0] > self.restarts.window_s:
            child.deaths.popleft()
        if len(child.deaths) >= self.restarts.limit:
            log.error(
                "%s (pid %s) exited with status %s, %s times in %.0f s: giving up, stopping "
                "the others",
                *(child.name, pid, code, len(child.deaths), self.restarts.window_s),
            )
            return False
        delay = self.restarts.delay(len(child.deaths))
        log.warning(
            "%s (pid %s) exited with status %s: restarting it in %.1f s (its jobs are taken "
            "over when their leases expire)",
            *(child.name, pid, code, delay),
        )
        child.restart_at = now + delay
        return True

    def stop_all(self) -> None:
        running = [c for c in self.children if c.process and c.process.poll() is None]
        for child in running:
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s: killing it", child.name, self.grace_s)
                _signal_group(child, signal.SIGKILL)
                child.process.wait(timeout=10)
        for child in self.children:
            # What the child's own processes left behind in its group (e.g. a build step).
            _signal_group(child, signal.SIGKILL)


def _signal_group(child: Child, sig: int) -> None:
    if child.process is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.process.pid, sig)


def _is_healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def children_for(plan: Plan) -> list[Child]:
    children = [Child(name="web", argv=web_command(plan))]
    children += [
        Child(name=f"worker-{i + 1}", argv=worker_command(), restart=True)
        for i in range(plan.worker_processes)
    ]
    return children
