"""The generation worker loop: in the app process (default) or `stylestudio worker`."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import uuid

from stylestudio.db import get_engine
from stylestudio.runtime import (
    get_checkout_provider,
    get_generation_engine,
    get_storage,
    get_test_checkout,
)
from stylestudio.services.checkout import reconcile_open_checkouts
from stylestudio.services.generation_worker import run_next_generation_job

log = logging.getLogger(__name__)
IDLE_POLL_SECONDS = 0.5


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


RECONCILE_EVERY_SECONDS = 60.0


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


def run_once(worker_id: str, chores: BillingChores | None = None) -> bool:
    if chores is not None:
        try:
            chores.run()
        except Exception:
            log.exception("billing chores failed")
    return run_next_generation_job(
        db=get_engine(),
        storage=get_storage(),
        engine=get_generation_engine(),
        worker_id=worker_id,
    )


def run_forever(stop: threading.Event | None = None) -> None:
    """Blocking loop for the `stylestudio worker` command."""
    worker_id = new_worker_id()
    log.info("worker %s started", worker_id)
    stop = stop or threading.Event()
    chores = BillingChores()
    while not stop.is_set():
        try:
            busy = run_once(worker_id, chores)
        except Exception:
            log.exception("worker iteration failed")
            busy = False
        if not busy:
            stop.wait(IDLE_POLL_SECONDS)


async def run_in_app() -> None:
    """Reflex lifespan task: the same loop, each iteration in a thread."""
    worker_id = new_worker_id()
    log.info("in-process worker %s started", worker_id)
    chores = BillingChores()
    while True:
        try:
            busy = await asyncio.to_thread(run_once, worker_id, chores)
        except Exception:
            log.exception("worker iteration failed")
            busy = False
        if not busy:
            await asyncio.sleep(IDLE_POLL_SECONDS)
