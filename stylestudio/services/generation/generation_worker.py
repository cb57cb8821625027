"""Running generation jobs: claimed work (generation_claims) is generated outside any
transaction, then ended exactly once (generation_endings).

Two kinds of engine:
- a *local* engine renders in a thread and returns the image (here);
- a *prediction* engine (Replicate) is followed to its end by generation_predictions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

from sqlalchemy.engine import Engine

from stylestudio.adapters.generation_engine import (
    GeneratedImage,
    GenerationEngine,
    GenerationEngineError,
)
from stylestudio.adapters.replicate_engine import PredictionEngine
from stylestudio.adapters.storage import MediaStorage, StorageUnavailable
from stylestudio.db import session_scope
from stylestudio.models import (
    JobKind,
)
from stylestudio.services.generation import jobs
from stylestudio.services.generation.generation_claims import load_inputs, prepare_work
from stylestudio.services.generation.generation_endings import (
    end_with,
    fail_work,
    store_and_complete,
)
from stylestudio.services.generation.generation_predictions import run_prediction
from stylestudio.services.generation.generation_work import (
    INPUTS_UNREADABLE,
    STORAGE_UNAVAILABLE,
    UNEXPECTED_ERROR,
    Blocking,
    Options,
    Output,
    Work,
    inline,
    variation_seeds,
)

log = logging.getLogger(__name__)


async def run_work(
    work: Work,
    *,
    db: Engine,
    storage: MediaStorage,
    engine: GenerationEngine | PredictionEngine,
    options: Options = Options(),
    blocking: Blocking = inline,
    render: Blocking = inline,
) -> None:
    """Run one claimed job to its end. `blocking` runs database and file work (a thread in
    the worker); `render` runs a local engine's CPU work."""
    try:
        work = await blocking(load_inputs, work, storage)
    except StorageUnavailable as exc:
        # The photos are not lost, the store is away (S3 down, throttled, misconfigured):
        # the job waits and spends an attempt; a missing photo fails and refunds (below).
        log.warning("inputs of generation %s not readable now: %s", work.generation_id, exc)
        await blocking(fail_work, db=db, work=work, error=STORAGE_UNAVAILABLE, retryable=True)
        return
    except Exception:
        log.exception("inputs of generation %s unreadable", work.generation_id)
        await blocking(end_with, db, work, INPUTS_UNREADABLE)
        return
    if isinstance(engine, PredictionEngine):
        await run_prediction(
            work, db=db, storage=storage, engine=engine, options=options, blocking=blocking
        )
    else:
        await _run_local(
            work, db=db, storage=storage, engine=engine, blocking=blocking, render=render
        )


async def _run_local(
    work: Work,
    *,
    db: Engine,
    storage: MediaStorage,
    engine: GenerationEngine,
    blocking: Blocking,
    render: Blocking,
) -> None:
    started = time.monotonic()
    outputs: list[Output] = []
    try:
        for seed in variation_seeds(work.request.seed, work.variations):
            result: GeneratedImage = await render(engine.generate, replace(work.request, seed=seed))
            outputs.append(Output(result.data, result.content_type, result.width, result.height))
    except GenerationEngineError as exc:
        await blocking(fail_work, db=db, work=work, error=str(exc), retryable=exc.retryable)
        return
    except Exception:
        log.exception("generation %s crashed in engine %s", work.generation_id, engine.name)
        await blocking(fail_work, db=db, work=work, error=UNEXPECTED_ERROR, retryable=True)
        return
    await blocking(
        store_and_complete,
        db=db,
        storage=storage,
        generation_id=work.generation_id,
        user_id=work.user_id,
        outputs=outputs,
        elapsed_ms=int((time.monotonic() - started) * 1000),
        engine_name=engine.name,
        lease=work.lease,
    )


def run_next_generation_job(
    *,
    db: Engine,
    storage: MediaStorage,
    engine: GenerationEngine | PredictionEngine,
    worker_id: str,
    options: Options = Options(),
) -> bool:
    """Claim and run one due job to its end, in the calling thread (tests, tools).
    Returns False when there was nothing to do."""
    with session_scope(db) as session:
        claimed = jobs.claim_jobs(session, worker_id=worker_id, limit=1, kinds=(JobKind.GENERATE,))
        if not claimed:
            return False
        work = prepare_work(session, job=claimed[0])
    if work is not None:
        asyncio.run(run_work(work, db=db, storage=storage, engine=engine, options=options))
    return True
