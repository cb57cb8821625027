"""The generation worker: in the app process (default) or `stylestudio worker` (any number).

One asyncio loop keeps up to `STYLESTUDIO_WORKER_CONCURRENCY` jobs in flight: database and
file work runs in a small thread pool of its own (never on the event loop, never in the
pool the web handlers use), a local engine's rendering in another sized to the CPUs. Leases
are short and renewed for all of a worker's jobs in one statement; a job whose lease was
lost, or whose generation was ended by someone else (webhook, cancel, timeout sweeper), has
its task cancelled at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from stylestudio.adapters.generation_engine import GenerationEngine
from stylestudio.adapters.replicate_engine import PredictionEngine
from stylestudio.adapters.storage import MediaStorage
from stylestudio.db import get_engine, session_scope
from stylestudio.log_output import bind
from stylestudio.models import Generation, GenerationStatus
from stylestudio.runtime import (
    get_checkout_provider,
    get_generation_engine,
    get_prediction_engine,
    get_storage,
    get_test_checkout,
    worker_options,
)
from stylestudio.services.accounts import api_idempotency
from stylestudio.services.billing.checkout import reconcile_open_checkouts
from stylestudio.services.generation import jobs
from stylestudio.services.generation.generation_claims import claim_work
from stylestudio.services.generation.generation_predictions import cancel_quietly
from stylestudio.services.generation.generation_sweeper import sweep_overdue
from stylestudio.services.generation.generation_work import Options, Work
from stylestudio.services.generation.generation_worker import run_work
from stylestudio.services.integrations import webhook_delivery
from stylestudio.settings import get_settings

log = logging.getLogger(__name__)
IDLE_POLL_SECONDS = 0.5
CHECK_ENDED_SECONDS = 0.25
SWEEP_EVERY_SECONDS = 15.0
RETENTION_EVERY_SECONDS = 3600.0
RECONCILE_EVERY_SECONDS = 60.0
WEBHOOK_POLL_SECONDS = 2.0


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class BillingChores:
    """Periodic billing work beside the jobs: settling the test checkout's `Pay later`
    payments, and reconciling checkouts whose webhook never came."""

    def __init__(self) -> None:
        self._next_reconcile = 0.0

    def run(self) -> None:
        provider = get_checkout_provider()
        if provider is None:
            return
        test_checkout = get_test_checkout()
        if test_checkout is not None:
            test_checkout.settle_due()
        now = time.monotonic()
        if now >= self._next_reconcile:
            self._next_reconcile = now + RECONCILE_EVERY_SECONDS
            reconcile_open_checkouts(db=get_engine(), provider=provider)


class Chores:
    """Periodic work beside the jobs: billing (above), and forgetting what is kept only for a
    while (REST API idempotency answers after a day, finished webhook deliveries after 30
    days), once an hour."""

    def __init__(self) -> None:
        self.billing = BillingChores()
        self._next_retention = 0.0

    def run(self) -> None:
        self.billing.run()
        now = time.monotonic()
        if now >= self._next_retention:
            self._next_retention = now + RETENTION_EVERY_SECONDS
            forget_expired(get_engine())


def forget_expired(db: Engine) -> tuple[int, int]:
    """Delete expired idempotency answers and old finished webhook deliveries."""
    with session_scope(db) as session:
        answers = api_idempotency.forget_old_answers(session)
    with session_scope(db) as session:
        deliveries = webhook_delivery.forget_old_deliveries(session)
    if answers or deliveries:
        log.info("forgot %d idempotency answers, %d webhook deliveries", answers, deliveries)
    return answers, deliveries


def ended_generations(db: Engine, generation_ids: list[int]) -> set[int]:
    """Which of these generations someone else has already ended."""
    if not generation_ids:
        return set()
    with session_scope(db, write=False) as session:
        rows = session.exec(
            select(Generation.id, Generation.status).where(col(Generation.id).in_(generation_ids))
        ).all()
    found = {gid: GenerationStatus(status).is_terminal for gid, status in rows if gid is not None}
    return {gid for gid in generation_ids if found.get(gid, True)}


class GenerationWorker:
    """Claims and runs generation jobs, many at once."""

    def __init__(
        self,
        *,
        db: Engine,
        storage: MediaStorage,
        engine: GenerationEngine | PredictionEngine,
        worker_id: str | None = None,
        concurrency: int = 8,
        options: Options | None = None,
        lease_seconds: int = jobs.DEFAULT_LEASE_SECONDS,
        heartbeat_seconds: float = jobs.HEARTBEAT_SECONDS,
        idle_poll_seconds: float = IDLE_POLL_SECONDS,
        chores: Callable[[], None] | None = None,
        deliver_webhooks: bool = True,
    ) -> None:
        self.db, self.storage, self.engine = db, storage, engine
        self.worker_id = worker_id or new_worker_id()
        self.concurrency = max(1, concurrency)
        self.options = options or Options()
        self.lease_seconds = lease_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.idle_poll_seconds = idle_poll_seconds
        self._chores = chores
        self._db_pool = ThreadPoolExecutor(
            max_workers=min(32, self.concurrency + 2), thread_name_prefix="worker-db"
        )
        cpus = os.cpu_count() or 1
        self._render_pool = ThreadPoolExecutor(
            max_workers=max(1, min(self.concurrency, cpus)), thread_name_prefix="worker-render"
        )
        self._tasks: dict[int, tuple[Work, asyncio.Task[None]]] = {}
        self.claimed = 0
        self.deliver_webhooks = deliver_webhooks
        # Webhook deliveries wait on other people's servers: their own thread, never one
        # the jobs' database work needs.
        self._webhook_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="worker-hooks")

    async def _blocking(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # With the caller's context (as asyncio.to_thread does): the job's log ids go along.
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await loop.run_in_executor(self._db_pool, call)

    async def _render(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await loop.run_in_executor(self._render_pool, call)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Until `stop` is set. In-flight work is left to its leases: another worker (or
        this one, restarted) resumes it."""
        stop = stop or asyncio.Event()
        log.info("worker %s started, concurrency %d", self.worker_id, self.concurrency)
        loop = time.monotonic
        next_heartbeat = loop() + self.heartbeat_seconds
        next_check = 0.0
        stopping = asyncio.ensure_future(stop.wait())
        # Sweeping and billing chores may be slow (network, many rows): never on the path
        # that refills the slots.
        housekeeping = asyncio.create_task(self._housekeeping(stop))
        webhooks = asyncio.create_task(self._webhooks(stop)) if self.deliver_webhooks else None
        try:
            while not stop.is_set():
                claimed_any = False
                free = self.concurrency - len(self._tasks)
                if free > 0:
                    try:
                        works = await self._blocking(
                            claim_work,
                            db=self.db,
                            worker_id=self.worker_id,
                            limit=free,
                            lease_seconds=self.lease_seconds,
                        )
                    except Exception:
                        log.exception("claiming jobs failed")
                        works = []
                    for work in works:
                        self._start(work)
                    claimed_any = bool(works)
                now = loop()
                if now >= next_heartbeat and self._tasks:
                    next_heartbeat = now + self.heartbeat_seconds
                    await self._heartbeat()
                if now >= next_check and self._tasks:
                    next_check = now + CHECK_ENDED_SECONDS
                    await self._drop_ended()
                if claimed_any and len(self._tasks) < self.concurrency:
                    continue
                waiting: set[asyncio.Future[Any]] = {stopping}
                waiting.update(task for _, task in self._tasks.values())
                timeout = CHECK_ENDED_SECONDS if self._tasks else self.idle_poll_seconds
                await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            housekeeping.cancel()
            if webhooks is not None:
                webhooks.cancel()
            await asyncio.gather(
                housekeeping, *([webhooks] if webhooks else []), return_exceptions=True
            )
            for _, task in list(self._tasks.values()):
                task.cancel()
            if self._tasks:
                await asyncio.gather(
                    *(task for _, task in self._tasks.values()), return_exceptions=True
                )
            self._db_pool.shutdown(wait=False, cancel_futures=True)
            self._render_pool.shutdown(wait=False, cancel_futures=True)
            self._webhook_pool.shutdown(wait=False, cancel_futures=True)
            log.info("worker %s stopped", self.worker_id)

    def _start(self, work: Work) -> None:
        self.claimed += 1
        job_id = work.lease.job_id
        task = asyncio.create_task(self._run_one(work), name=f"job-{job_id}")
        self._tasks[job_id] = (work, task)

        def forget(_task: asyncio.Task[None]) -> None:
            self._tasks.pop(job_id, None)

        task.add_done_callback(forget)

    async def _run_one(self, work: Work) -> None:
        # This task's own context: every line logged for the job names it.
        bind(job_id=work.lease.job_id, generation_id=work.generation_id)
        try:
            await run_work(
                work,
                db=self.db,
                storage=self.storage,
                engine=self.engine,
                options=self.options,
                blocking=self._blocking,
                render=self._render,
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            # Nothing was ended: the lease expires and the job is resumed (or failed once
            # its attempts run out), never lost.
            log.exception("job %s (generation %s) crashed", work.lease.job_id, work.generation_id)

    async def _heartbeat(self) -> None:
        ids = list(self._tasks)
        try:
            owned = await self._blocking(self._renew, ids)
        except Exception:
            log.exception("heartbeat failed")
            return
        for job_id in set(ids) - owned:
            entry = self._tasks.get(job_id)
            if entry is not None and not entry[1].done():
                # Taken over by another worker, or ended meanwhile (by its own task, a
                # webhook, a cancel): either way nothing more of it is ours to do.
                log.info("job %s is no longer leased to this worker; stopping it", job_id)
                entry[1].cancel()

    def _renew(self, ids: list[int]) -> set[int]:
        with session_scope(self.db) as session:
            return jobs.heartbeat_many(
                session, worker_id=self.worker_id, job_ids=ids, lease_seconds=self.lease_seconds
            )

    async def _drop_ended(self) -> None:
        by_generation = {work.generation_id: job for job, (work, _) in self._tasks.items()}
        try:
            ended = await self._blocking(ended_generations, self.db, list(by_generation))
        except Exception:
            log.exception("checking ended generations failed")
            return
        for generation_id in ended:
            entry = self._tasks.get(by_generation[generation_id])
            if entry is not None:
                entry[1].cancel()

    async def _webhooks(self, stop: asyncio.Event) -> None:
        """Send due webhook deliveries, a bounded batch at a time, beside the jobs."""
        loop = asyncio.get_running_loop()
        with webhook_delivery.new_http_client() as client:
            while not stop.is_set():
                sent: list[Any] = []
                try:
                    sent = await loop.run_in_executor(
                        self._webhook_pool,
                        functools.partial(
                            webhook_delivery.deliver_due,
                            db=self.db,
                            client=client,
                            worker_id=self.worker_id,
                        ),
                    )
                except Exception:
                    log.exception("delivering webhooks failed")
                if len(sent) >= webhook_delivery.BATCH_SIZE:
                    continue  # more may be due
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=WEBHOOK_POLL_SECONDS)

    async def _housekeeping(self, stop: asyncio.Event) -> None:
        next_sweep = 0.0
        while not stop.is_set():
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + SWEEP_EVERY_SECONDS
                engine = self.engine if isinstance(self.engine, PredictionEngine) else None
                try:
                    await sweep_and_cancel(
                        self.db, self.options.timeout_s, engine=engine, blocking=self._blocking
                    )
                except Exception:
                    log.exception("sweeping overdue generations failed")
            if self._chores is not None:
                try:
                    await self._blocking(self._chores)
                except Exception:
                    log.exception("billing chores failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)


async def sweep_and_cancel(
    db: Engine,
    timeout_s: float,
    *,
    engine: PredictionEngine | None = None,
    blocking: Any = None,
) -> int:
    """Fail and refund every generation past its deadline; cancel their predictions."""
    if blocking is None:
        ended = await asyncio.to_thread(sweep_overdue, db, timeout_s=timeout_s)
    else:
        ended = await blocking(sweep_overdue, db, timeout_s=timeout_s)
    engine = engine or get_prediction_engine()
    for _generation_id, prediction_id in ended:
        if prediction_id and engine is not None:
            await cancel_quietly(engine, prediction_id)
    return len(ended)


def build_worker(**overrides: Any) -> GenerationWorker:
    settings = get_settings()
    chores = Chores()
    params: dict[str, Any] = {
        "db": get_engine(),
        "storage": get_storage(),
        "engine": get_generation_engine(),
        "concurrency": settings.worker_concurrency,
        "lease_seconds": settings.worker_lease_s,
        "heartbeat_seconds": settings.worker_lease_s / 3,
        "options": worker_options(),
        "chores": chores.run,
    }
    params.update(overrides)
    return GenerationWorker(**params)


def run_forever(stop: threading.Event | None = None) -> None:
    """Blocking: the `stylestudio worker` command. SIGTERM/SIGINT stop it."""

    async def main() -> None:
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, done.set)
        if stop is not None:
            loop.run_in_executor(None, lambda: (stop.wait(), loop.call_soon_threadsafe(done.set)))
        await build_worker().run(done)

    asyncio.run(main())


async def run_in_app() -> None:
    """Reflex lifespan task: the worker on the app's own event loop (it never blocks it)."""
    await build_worker().run(asyncio.Event())


async def sweep_in_app() -> None:
    """Reflex lifespan task, always on: no generation outlives its deadline, even with no
    worker running anywhere."""
    timeout_s = get_settings().generation_timeout_s
    while True:
        try:
            await sweep_and_cancel(get_engine(), timeout_s)
        except Exception:
            log.exception("sweeping overdue generations failed")
        await asyncio.sleep(SWEEP_EVERY_SECONDS)
