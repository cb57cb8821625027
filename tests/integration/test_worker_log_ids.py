"""The worker's lines name the job and generation they are about, from its own task and from
its thread pools (which do not inherit a context by themselves)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from stylestudio import log_output, log_redaction
from stylestudio.adapters.generation_engine import GenerationRequest
from stylestudio.adapters.local_engine.engine import LocalEngine
from stylestudio.adapters.storage import LocalStorage
from stylestudio.services.generation.generation_work import Lease, Work
from stylestudio.worker import GenerationWorker


@pytest.fixture
def json_lines(monkeypatch: pytest.MonkeyPatch) -> Any:
    previous_factory = logging.getLogRecordFactory()
    monkeypatch.setattr(log_redaction, "_installed", False)
    out = io.StringIO()
    log_output.configure_logging(log_format="json", stream=out)
    yield lambda: [json.loads(line) for line in out.getvalue().splitlines()]
    log_output.remove_handler()
    logging.setLogRecordFactory(previous_factory)


def test_a_jobs_lines_carry_its_ids(sqlite_db: Engine, tmp_path: Path, json_lines: Any) -> None:
    worker = GenerationWorker(
        db=sqlite_db, storage=LocalStorage(tmp_path / "media"), engine=LocalEngine()
    )
    work = Work(
        lease=Lease(job_id=41, worker_id=worker.worker_id),
        generation_id=77,
        user_id=1,
        product_image_id=1,
        product_keys=("u/1/missing.jpg",),  # never stored: the job cannot read its inputs
        scene_key=None,
        prediction_id=None,
        created_at=datetime.now(UTC),
        request=GenerationRequest(
            product_image=b"",
            model_image=None,
            prompt="",
            style="realistic",
            quality="standard",
            aspect_ratio="1:1",
            seed=1,
        ),
    )
    thread_log = logging.getLogger("stylestudio.test.thread")

    async def main() -> None:
        await asyncio.create_task(worker._run_one(work))  # a task per job, as _start does

        async def in_pool() -> None:
            log_output.bind(job_id=5)
            await worker._blocking(thread_log.info, "from the worker's database pool")
            await worker._render(thread_log.info, "from the worker's render pool")

        await asyncio.create_task(in_pool())
        thread_log.info("outside any job")

    asyncio.run(main())
    lines = json_lines()
    unreadable = [line for line in lines if "unreadable" in line["message"]]
    assert len(unreadable) == 1, lines
    assert (unreadable[0]["job_id"], unreadable[0]["generation_id"]) == (41, 77)
    pooled = [line for line in lines if line["message"].startswith("from the worker's")]
    assert [line["job_id"] for line in pooled] == [5, 5]
    outside = [line for line in lines if line["message"] == "outside any job"]
    assert "job_id" not in outside[0]
