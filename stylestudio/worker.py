"""The generation worker loop: in the app process (default) or `stylestudio worker`."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import uuid

from stylestudio.db import get_engine
from stylestudio.runtime import get_generation_engine, get_storage
from stylestudio.services.generation_worker import run_next_generation_job

log = logging.getLogger(__name__)
IDLE_POLL_SECONDS = 0.5


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_once(worker_id: str) -> bool:
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
    while not stop.is_set():
        try:
            busy = run_once(worker_id)
        except Exception:
            log.exception("worker iteration failed")
            busy = False
        if not busy:
            stop.wait(IDLE_POLL_SECONDS)


async def run_in_app() -> None:
    """Reflex lifespan task: the same loop, each iteration in a thread."""
    worker_id = new_worker_id()
    log.info("in-process worker %s started", worker_id)
    while True:
        try:
            busy = await asyncio.to_thread(run_once, worker_id)
        except Exception:
            log.exception("worker iteration failed")
            busy = False
        if not busy:
            await asyncio.sleep(IDLE_POLL_SECONDS)
