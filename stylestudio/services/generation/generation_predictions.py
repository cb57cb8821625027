"""Generations through a prediction engine (Replicate): the prediction id is committed on
the generation before anything waits on it; a worker that claims a job whose generation has
one follows it and never creates a second. Completion is found by polling with back-off, or
first by the signed webhook (``settle_prediction``)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from stylestudio.adapters.generation_engine import (
    GenerationEngineError,
)
from stylestudio.adapters.replicate_engine import Prediction, PredictionEngine, ProviderBusy
from stylestudio.adapters.storage import MediaStorage
from stylestudio.db import session_scope
from stylestudio.models import (
    Generation,
    GenerationStatus,
    utcnow,
)
from stylestudio.services.generation import jobs
from stylestudio.services.generation.generation_endings import (
    defer_work,
    end_generation,
    end_with,
    fail_work,
    store_and_complete,
)
from stylestudio.services.generation.generation_work import (
    CANCELLED,
    NO_OUTPUT,
    OPEN_STATUSES,
    TIMED_OUT,
    Blocking,
    Lease,
    Options,
    Output,
    Work,
    deadline_of,
    decode_output,
)

log = logging.getLogger(__name__)


def record_prediction(*, db: Engine, work: Work, prediction_id: str) -> bool:
    """Commit the prediction's id on the generation before anything waits on it — only while
    the lease is ours and the generation still open."""
    with session_scope(db) as session:
        renewed = jobs.heartbeat_many(
            session,
            worker_id=work.lease.worker_id,
            job_ids=[work.lease.job_id],
            lease_seconds=work.lease.seconds,
        )
        if not renewed:
            return False
        result = session.execute(
            sa.update(Generation)
            .where(
                col(Generation.id) == work.generation_id,
                col(Generation.status).in_(OPEN_STATUSES),
                col(Generation.provider_prediction_id).is_(None),
            )
            .values(provider_prediction_id=prediction_id, updated_at=utcnow())
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class PredictionOwner:
    generation_id: int
    user_id: int
    open: bool


def generation_for_prediction(db: Engine, prediction_id: str) -> PredictionOwner | None:
    """Whose prediction this is, or None when it is not ours."""
    with session_scope(db, write=False) as session:
        generation = session.exec(
            select(Generation).where(Generation.provider_prediction_id == prediction_id)
        ).first()
        if generation is None or generation.id is None:
            return None
        return PredictionOwner(
            generation.id, generation.user_id, not GenerationStatus(generation.status).is_terminal
        )


async def run_prediction(
    work: Work,
    *,
    db: Engine,
    storage: MediaStorage,
    engine: PredictionEngine,
    options: Options,
    blocking: Blocking,
) -> None:
    deadline = deadline_of(work, options.timeout_s)
    prediction_id = work.prediction_id
    if prediction_id is None:
        if time.monotonic() >= deadline:
            await blocking(end_with, db, work, TIMED_OUT)
            return
        try:
            created = await engine.start(work.request, webhook_url=options.webhook_url)
        except ProviderBusy as exc:
            log.info(
                "generation %s: provider busy, again in %.1fs", work.generation_id, exc.retry_after
            )
            await blocking(defer_work, db=db, work=work, reason=str(exc), delay_s=exc.retry_after)
            return
        except GenerationEngineError as exc:
            await blocking(fail_work, db=db, work=work, error=exc.message, retryable=exc.retryable)
            return
        if not await blocking(record_prediction, db=db, work=work, prediction_id=created.id):
            # Cancelled meanwhile, or the lease is gone: this prediction must not run on.
            await cancel_quietly(engine, created.id)
            return
        prediction_id = created.id
    await follow_prediction(
        work,
        prediction_id,
        db=db,
        storage=storage,
        engine=engine,
        options=options,
        blocking=blocking,
        deadline=deadline,
    )


async def follow_prediction(
    work: Work,
    prediction_id: str,
    *,
    db: Engine,
    storage: MediaStorage,
    engine: PredictionEngine,
    options: Options,
    blocking: Blocking,
    deadline: float,
) -> None:
    """Poll with back-off until the prediction ends (or the webhook ended the generation —
    the worker then cancels this task), or the deadline passes."""
    started = time.monotonic()
    delay = options.poll_first_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            await cancel_quietly(engine, prediction_id)
            await blocking(end_with, db, work, TIMED_OUT)
            return
        await asyncio.sleep(min(delay, remaining))
        try:
            prediction = await engine.get(prediction_id)
        except ProviderBusy as exc:
            delay = exc.retry_after
            continue
        except GenerationEngineError as exc:
            await blocking(end_with, db, work, exc.message)
            return
        if prediction.terminal:
            await settle_prediction(
                prediction,
                db=db,
                storage=storage,
                engine=engine,
                lease=work.lease,
                generation_id=work.generation_id,
                user_id=work.user_id,
                blocking=blocking,
            )
            return
        waited = time.monotonic() - started
        delay = (
            options.poll_first_s
            if waited < options.poll_fast_for_s
            else min(delay * 1.5, options.poll_max_s)
        )


async def settle_prediction(
    prediction: Prediction,
    *,
    db: Engine,
    storage: MediaStorage,
    engine: PredictionEngine,
    generation_id: int,
    user_id: int,
    lease: Lease | None,
    blocking: Blocking,
) -> bool:
    """Apply a terminal prediction to its generation (from polling or the webhook).
    True when this call made the transition; False when it was already made."""
    if prediction.status == "succeeded":
        if not prediction.output_urls:
            return await blocking(
                _end_prediction,
                db,
                generation_id,
                NO_OUTPUT,
                lease,
                prediction.id,
                GenerationStatus.FAILED,
            )
        outputs: list[Output] = []
        try:
            for url in prediction.output_urls:
                data, content_type = await _download(engine, url)
                outputs.append(await blocking(decode_output, data, content_type))
        except GenerationEngineError as exc:
            return await blocking(
                _end_prediction,
                db,
                generation_id,
                exc.message,
                lease,
                prediction.id,
                GenerationStatus.FAILED,
            )
        return await blocking(
            store_and_complete,
            db=db,
            storage=storage,
            generation_id=generation_id,
            user_id=user_id,
            outputs=outputs,
            elapsed_ms=None,
            engine_name=engine.name,
            lease=lease,
            prediction_id=prediction.id,
        )
    if prediction.status == "canceled":
        return await blocking(
            _end_prediction,
            db,
            generation_id,
            CANCELLED,
            lease,
            prediction.id,
            GenerationStatus.CANCELLED,
        )
    return await blocking(
        _end_prediction,
        db,
        generation_id,
        engine.failure_message(prediction),
        lease,
        prediction.id,
        GenerationStatus.FAILED,
    )


def _end_prediction(
    db: Engine,
    generation_id: int,
    error: str,
    lease: Lease | None,
    prediction_id: str,
    status: GenerationStatus,
) -> bool:
    with session_scope(db) as session:
        return end_generation(
            session,
            generation_id=generation_id,
            error=error,
            lease=lease,
            status=status,
            prediction_id=prediction_id,
        )


async def _download(engine: PredictionEngine, url: str) -> tuple[bytes, str]:
    """Outputs must be copied now (Replicate deletes them after an hour): a few tries."""
    for attempt in range(4):
        try:
            return await engine.download(url)
        except ProviderBusy as exc:
            if attempt == 3:
                raise GenerationEngineError(exc.args[0]) from exc
            await asyncio.sleep(min(exc.retry_after, 10.0))
    raise AssertionError("unreachable")


async def cancel_quietly(engine: PredictionEngine, prediction_id: str) -> None:
    try:
        await engine.cancel(prediction_id)
    except Exception as exc:  # the timeout/cancel stands whatever the provider says
        log.warning("could not cancel prediction %s: %r", prediction_id, exc)
