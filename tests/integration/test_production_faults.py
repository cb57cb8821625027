"""`stylestudio serve --prod` survives losing one of its processes under load (issue 15,
acceptance 4), with bench/bench_faults.py's faults and a few tabs: a backend process killed
with SIGKILL is respawned by Granian while the tabs on it reconnect and carry on with their
state; a worker killed while it runs generations is started again, and its generations are
taken over once their leases expire and complete, each charged once.

The command runs backend-only (no frontend build: the tabs speak the websocket), on its own
redis-server and a fresh PostgreSQL database; the fake Replicate makes each generation last
a few seconds, so that the worker dies with work in hand."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.bench_faults import (
    Load,
    Run,
    backend_pids,
    free_port,
    options,
    own_redis,
    serving,
    worker_pids,
)
from tests.support.databases import empty_database

TABS = 6


@pytest.fixture
def faults_args() -> argparse.Namespace:
    return options(
        [
            *("--tabs", str(TABS), "--think-s", "0.5", "--generations", "3"),
            *("--generation-s", "4", "--lease-s", "3", "--recover-timeout-s", "60"),
            *("--generations-timeout-s", "60", "--timeout-s", "10"),
        ]
    )


@pytest.fixture
def run(tmp_path: Path, faults_args: argparse.Namespace) -> Iterator[Run]:
    with (
        empty_database("postgresql", tmp_path) as database_url,
        own_redis(tmp_path) as redis_server,
        serving(
            tmp_path,
            database_url=database_url,
            redis_url=redis_server.url,
            port=free_port(),
            args=faults_args,
        ) as (server, shopper, cookies),
    ):
        load = Load.on(server, cookies, redis_server.url, faults_args)
        yield Run(server, database_url, redis_server, None, shopper, load, faults_args)


async def _under_load(run: Run) -> tuple[dict[str, Any], dict[str, Any]]:
    loading = asyncio.ensure_future(run.load.run())
    try:
        while run.load.opened < TABS:
            assert not loading.done(), loading
            await asyncio.sleep(0.1)
        return await run.fault_backend(), await run.fault_worker()
    finally:
        run.load.stop.set()
        await asyncio.wait_for(loading, timeout=60)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_killed_backend_process_and_a_killed_worker_are_survived(run: Run) -> None:
    backends, workers = backend_pids(run.root), worker_pids(run.root)
    assert len(backends) == 2 and len(workers) == 2

    backend, worker = asyncio.run(_under_load(run))
    log = run.server.tail(200_000)

    # Granian put a new process in the dead one's place; every tab had an event answered
    # after the kill, those on the dead process after reconnecting with their state kept.
    assert backend["killed_pid"] in backends
    assert backend["tabs_recovered"] == TABS, backend
    assert backend["its_connections"] >= 1, backend
    assert backend["reconnects"] >= 1, backend
    assert backend["reconnected_with_prompt_lost"] == 0, backend
    assert set(backend["errors_by_kind"]) <= {"closed", "timeout"}, backend
    assert backend["invariants"] == {
        "ledger_sum_equals_balance_and_charged_once": True,
        "problems": [],
        "generations_all_completed": True,
        "command_running": True,
        "backend_processes": 2,
        "worker_processes": 2,
    }, backend
    assert backend_pids(run.root) != backends

    # The worker holding generations was killed: started again, its generations completed
    # by a worker once their leases ran out, every one charged once, none refunded.
    assert worker["killed_pid"] in workers
    assert worker["its_generations"] >= 1, worker
    assert worker["supervisor_logged_restart"] is True, log[-3000:]
    assert worker["invariants"] == backend["invariants"], worker
    assert worker["killed_pid"] not in worker_pids(run.root)
    assert "stopping the others" not in log
