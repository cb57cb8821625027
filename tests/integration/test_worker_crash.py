"""A `stylestudio worker` process killed with SIGKILL while 10 predictions are in flight: a
new worker takes the jobs over once their leases run out and follows the same predictions
— the provider sees exactly 10 creations, each generation is charged once, none refunded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from stylestudio.adapters.storage import LocalStorage
from stylestudio.db import session_scope
from stylestudio.models import Generation, GenerationStatus, LedgerKind
from tests.support.builders import grant_credits, new_generation, new_upload, new_user
from tests.support.fake_replicate import FakeReplicate
from tests.support.fake_replicate import fake_replicate as fake_replicate
from tests.support.lookups import balance_and_ledger_sum, ledger_entries

BIN = Path(sys.executable).parent


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(BIN / "stylestudio"), "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait(what: str, check: Callable[[], bool], timeout: float, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    tails = "\n".join(p.read_text()[-2000:] for p in logs if p.exists())
    raise AssertionError(f"{what} did not happen in {timeout}s\n{tails}")


def _generations(db: Engine, ids: list[int]) -> list[Generation]:
    with session_scope(db, write=False) as session:
        return list(session.exec(select(Generation).where(col(Generation.id).in_(ids))).all())


@pytest.mark.slow
def test_a_killed_worker_s_predictions_are_resumed_not_recreated(
    db: Engine, fake_replicate: FakeReplicate, tmp_path: Path
) -> None:
    fake_replicate.configure(latency_s=6.0)
    data = tmp_path / "data"
    storage = LocalStorage(data / "media")
    user_id = new_user(db)
    grant_credits(db, user_id, 20)
    image_id = new_upload(db, storage, user_id)
    ids = [
        new_generation(db, user_id=user_id, image_id=image_id, key=f"crash-{i}") for i in range(10)
    ]
    env = {
        **os.environ,
        "DATABASE_URL": db.url.render_as_string(hide_password=False),
        "STYLESTUDIO_DATA_DIR": str(data),
        "STYLESTUDIO_GENERATION_ENGINE": "replicate",
        "REPLICATE_API_TOKEN": fake_replicate.api_token,
        "REPLICATE_BASE_URL": fake_replicate.base_url,
        "STYLESTUDIO_WEBHOOK_BASE_URL": "",
        "STYLESTUDIO_WORKER_LEASE_S": "3",
        "STYLESTUDIO_WORKER_CONCURRENCY": "16",
        "STYLESTUDIO_PAYMENTS": "test",
    }
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    first = _worker(env, logs[0])
    second: subprocess.Popen[bytes] | None = None
    try:
        _wait(
            "10 predictions in flight",
            lambda: all(g.provider_prediction_id for g in _generations(db, ids)),
            30,
            logs,
        )
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        in_flight = [g for g in _generations(db, ids) if g.status == GenerationStatus.PROCESSING]
        assert len(in_flight) == 10
        assert fake_replicate.creates == 10

        killed_at = time.monotonic()
        second = _worker(env, logs[1])
        _wait(
            "all 10 completed by the new worker",
            lambda: all(g.status == GenerationStatus.COMPLETED for g in _generations(db, ids)),
            60,
            logs,
        )
        print(f"taken over and completed {time.monotonic() - killed_at:.1f}s after the kill")
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    assert fake_replicate.creates == 10
    assert len(ledger_entries(db, user_id, LedgerKind.SPEND)) == 10
    assert ledger_entries(db, user_id, LedgerKind.REFUND) == []
    balance, ledger_sum = balance_and_ledger_sum(db, user_id)
    assert balance == ledger_sum
