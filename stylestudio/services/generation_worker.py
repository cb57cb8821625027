# Over 500 lines: claims, runs, predictions, endings; issue 16 splits it.
"""Running generation jobs: claim, generate outside any transaction, store, end exactly once.

Two kinds of engine:
- a *local* engine renders in a thread and returns the image;
- a *prediction* engine (Replicate) starts a prediction whose id is committed on the
  generation before anything waits on it; a worker that claims a job whose generation has a
  prediction id follows that prediction and never creates a second one. Completion is found
  by polling with back-off, or first by the signed webhook (``settle_prediction``).

Exactly one terminal transition per generation: every ending is a compare-and-set on the
generation's status (still pending or processing), and a worker's ending is also a
compare-and-set on its job lease, in the same transaction. A loser writes nothing: its stored
files go with its rolled-back transaction. Refunds carry ``refund:generation:<id>``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from stylestudio.adapters.generation_engine import (
    GeneratedImage,
    GenerationEngine,
    GenerationEngineError,
    GenerationRequest,
)
from stylestudio.adapters.replicate_engine import Prediction, PredictionEngine, ProviderBusy
from stylestudio.adapters.storage import MediaStorage, StorageUnavailable
from stylestudio.db import session_scope
from stylestudio.models import (
    Generation,
    GenerationInput,
    GenerationInputRole,
    GenerationStatus,
    Image,
    ImageCategory,
    Job,
    JobKind,
    JobStatus,
    UsageAction,
    utcnow,
)
from stylestudio.services import credits, jobs
from stylestudio.services.billing import get_billing_settings
from stylestudio.services.generation_events import note_status_changed
from stylestudio.services.imaging import Previews, prepare_for_storage
from stylestudio.services.media import new_storage_key, put_with_previews
from stylestudio.services.usage import record_usage

log = logging.getLogger(__name__)

RETRY_DELAY_SECONDS = 5.0
UNEXPECTED_ERROR = "The generation failed unexpectedly. Please try again."
INPUTS_UNREADABLE = "The uploaded images could not be read. Upload them again."
STORAGE_UNAVAILABLE = "The image storage did not answer; trying again shortly."
TIMED_OUT = "This generation took too long, so we stopped it. Your credits were refunded."
CANCELLED = "Cancelled. Your credits were refunded."
NO_OUTPUT = "The AI model returned no image. Your credits were refunded; please try again."
BAD_OUTPUT = "The AI model returned something that is not an image. Your credits were refunded."
DEFAULT_TIMEOUT_S = 300.0

OPEN_STATUSES = (GenerationStatus.PENDING, GenerationStatus.UPLOADING, GenerationStatus.PROCESSING)

T = TypeVar("T")
Blocking = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Lease:
    job_id: int
    worker_id: str
    seconds: int = jobs.DEFAULT_LEASE_SECONDS


SEED_RANGE = 2**31  # seeds are 0 .. 2^31 - 1


@dataclass(frozen=True)
class Work:
    """A claimed job, ready to run (its input bytes are read outside the claim)."""

    lease: Lease
    generation_id: int
    user_id: int
    product_image_id: int
    product_keys: tuple[str, ...]  # the primary photo first, then the other angles
    scene_key: str | None
    prediction_id: str | None
    created_at: datetime
    request: GenerationRequest
    variations: int = 1  # results to render (local engine: seeds seed, seed + 1, ...)


@dataclass(frozen=True)
class Output:
    data: bytes
    content_type: str
    width: int
    height: int
    previews: Previews | None = None  # made with `data` when it was decoded; else on storing


@dataclass(frozen=True)
class Options:
    timeout_s: float = DEFAULT_TIMEOUT_S
    webhook_url: str | None = None
    poll_first_s: float = 0.5
    poll_fast_for_s: float = 15.0
    poll_max_s: float = 10.0


async def _inline(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return fn(*args, **kwargs)


# --------------------------------------------------------------------------- claiming


def claim_work(
    *, db: Engine, worker_id: str, limit: int, lease_seconds: int = jobs.DEFAULT_LEASE_SECONDS
) -> list[Work]:
    """Lease up to `limit` generation jobs and mark their generations processing.

    Jobs that cannot run (generation gone or ended, workers that kept dying) are ended here.
    """
    with session_scope(db) as session:
        claimed = jobs.claim_jobs(
            session,
            worker_id=worker_id,
            limit=limit,
            kinds=(JobKind.GENERATE,),
            lease_seconds=lease_seconds,
        )
        works = [
            w
            for job in claimed
            if (w := _prepare(session, job=job, lease_seconds=lease_seconds)) is not None
        ]
    return works


def _prepare(
    session: Session, *, job: Job, lease_seconds: int = jobs.DEFAULT_LEASE_SECONDS
) -> Work | None:
    assert job.id is not None and job.lease_owner is not None
    lease = Lease(job.id, job.lease_owner, lease_seconds)
    generation_id = int(job.payload.get("generation_id") or job.generation_id or 0)
    generation = session.get(Generation, generation_id)
    if generation is None or GenerationStatus(generation.status).is_terminal:
        jobs.finish_if_owner(
            session,
            job_id=job.id,
            worker_id=lease.worker_id,
            status=JobStatus.CANCELLED,
            error="generation gone or done",
        )
        return None
    if job.attempts > job.max_attempts:
        # Its workers kept dying mid-run (the lease expired each time): stop for good.
        end_generation(session, generation_id=generation_id, error=UNEXPECTED_ERROR, lease=lease)
        return None
    inputs = session.exec(
        select(GenerationInput.role, Image)
        .join(Image, col(Image.id) == GenerationInput.image_id)
        .where(GenerationInput.generation_id == generation_id)
        .order_by(col(GenerationInput.position))
    ).all()
    products = [img for role, img in inputs if role == GenerationInputRole.PRODUCT]
    product = products[0] if products else None
    scene = next((img for role, img in inputs if role == GenerationInputRole.MODEL), None)
    if product is None:
        end_generation(session, generation_id=generation_id, error=INPUTS_UNREADABLE, lease=lease)
        return None
    now = utcnow()
    generation.status = GenerationStatus.PROCESSING
    generation.started_at = generation.started_at or now
    generation.updated_at = now
    generation.retry_count = max(0, job.attempts - 1)
    session.add(generation)
    assert generation.id is not None and product.id is not None
    return Work(
        lease=lease,
        generation_id=generation.id,
        user_id=generation.user_id,
        product_image_id=product.id,
        product_keys=tuple(p.storage_key for p in products),
        scene_key=scene.storage_key if scene is not None else None,
        prediction_id=generation.provider_prediction_id,
        created_at=generation.created_at,
        request=GenerationRequest(
            product_image=b"",
            model_image=None,
            prompt=generation.prompt,
            negative_prompt=generation.negative_prompt,
            style=generation.style,
            quality=generation.quality,
            aspect_ratio=generation.aspect_ratio,
            seed=generation.seed,
            strength=generation.strength,
            guidance_scale=generation.guidance_scale,
            num_inference_steps=generation.num_inference_steps,
            model=generation.model,
        ),
        variations=generation.variations,
    )


def load_inputs(work: Work, storage: MediaStorage) -> Work:
    """The input images' bytes, read outside any transaction."""
    product, *more = [storage.get(key) for key in work.product_keys]
    scene = storage.get(work.scene_key) if work.scene_key else None
    return replace(
        work,
        request=replace(
            work.request,
            product_image=product,
            more_product_images=tuple(more),
            model_image=scene,
        ),
    )


# --------------------------------------------------------------------------- endings


def _end_statement(
    generation_id: int, *, status: GenerationStatus, error: str | None, prediction_id: str | None
) -> Any:
    now = utcnow()
    conditions = [col(Generation.id) == generation_id, col(Generation.status).in_(OPEN_STATUSES)]
    if prediction_id is not None:
        conditions.append(col(Generation.provider_prediction_id) == prediction_id)
    return (
        sa.update(Generation)
        .where(*conditions)
        .values(status=status, error=error, completed_at=now, updated_at=now)
    )


def _claim_ending(
    session: Session,
    *,
    generation_id: int,
    status: GenerationStatus,
    error: str | None,
    lease: Lease | None,
    prediction_id: str | None,
) -> bool:
    """The one terminal transition: the lease (when a worker ends it) and the generation's
    open status, each a compare-and-set. False: somebody else ended it; write nothing more."""
    job_status = {
        GenerationStatus.COMPLETED: JobStatus.SUCCEEDED,
        GenerationStatus.CANCELLED: JobStatus.CANCELLED,
    }.get(status, JobStatus.FAILED)
    if lease is not None and not jobs.finish_if_owner(
        session, job_id=lease.job_id, worker_id=lease.worker_id, status=job_status, error=error
    ):
        return False
    if lease is None:
        # One lock order everywhere — the job row, then the generation row — as the worker
        # holds them when it claims, retries or ends with a lease. Taking the generation first
        # here deadlocked a webhook against the poller on PostgreSQL.
        jobs.lock_for_generation(session, generation_id=generation_id)
    ended = session.execute(
        _end_statement(generation_id, status=status, error=error, prediction_id=prediction_id)
    )
    if not ended.rowcount:  # type: ignore[attr-defined]
        return False
    note_status_changed(session, [generation_id])
    if lease is None:
        jobs.finish_for_generation(
            session, generation_id=generation_id, status=job_status, error=error
        )
    return True


def end_generation(
    session: Session,
    *,
    generation_id: int,
    error: str,
    lease: Lease | None = None,
    status: GenerationStatus = GenerationStatus.FAILED,
    prediction_id: str | None = None,
) -> bool:
    """Fail (or cancel) for good: status, readable error, and the refund, exactly once."""
    if not _claim_ending(
        session,
        generation_id=generation_id,
        status=status,
        error=error,
        lease=lease,
        prediction_id=prediction_id,
    ):
        return False
    generation = session.get(Generation, generation_id)
    assert generation is not None
    session.refresh(generation)
    refunded = False
    if generation.credits_used > 0 and get_billing_settings(session).refund_on_failure:
        refunded = credits.refund(
            session,
            user_id=generation.user_id,
            amount=generation.credits_used,
            idempotency_key=f"refund:generation:{generation_id}",
            generation_id=generation_id,
            description=f"Refund for {status.value} generation #{generation_id}",
        ).applied
    record_usage(
        session,
        action=UsageAction.GENERATION_FAILED,
        user_id=generation.user_id,
        details={
            "generation_id": generation_id,
            "error": error,
            "status": status.value,
            "refunded": refunded,
        },
    )
    return True


class _LostRace(Exception):
    """Somebody else ended the generation first; roll back what this attempt stored."""


def store_and_complete(
    *,
    db: Engine,
    storage: MediaStorage,
    generation_id: int,
    user_id: int,
    outputs: list[Output],
    elapsed_ms: int | None,
    engine_name: str,
    lease: Lease | None = None,
    prediction_id: str | None = None,
) -> bool:
    """Copy the outputs into storage with thumbnails, then complete — in one transaction, so
    a lost race leaves neither rows nor files."""
    try:
        with session_scope(db) as session:
            stored = []
            for output in outputs:
                key = new_storage_key(
                    user_id=user_id,
                    category=ImageCategory.GENERATED,
                    content_type=output.content_type,
                )
                # Files first, before any write: SQLite's write lock is not held meanwhile.
                thumb, blur = put_with_previews(
                    session,
                    storage=storage,
                    key=key,
                    data=output.data,
                    content_type=output.content_type,
                    previews=output.previews,
                )
                stored.append((output, key, thumb, blur))
            if not _claim_ending(
                session,
                generation_id=generation_id,
                status=GenerationStatus.COMPLETED,
                error=None,
                lease=lease,
                prediction_id=prediction_id,
            ):
                raise _LostRace
            generation = session.get(Generation, generation_id)
            assert generation is not None
            session.refresh(generation)
            if elapsed_ms is not None:
                generation.processing_ms = elapsed_ms
            elif generation.started_at is not None:
                generation.processing_ms = int(
                    (utcnow() - _aware(generation.started_at)).total_seconds() * 1000
                )
            session.add(generation)
            product_id = session.exec(
                select(GenerationInput.image_id).where(
                    GenerationInput.generation_id == generation_id,
                    GenerationInput.role == GenerationInputRole.PRODUCT,
                )
            ).first()
            for index, (output, key, thumb, blur) in enumerate(stored):
                ext = key.rsplit(".", 1)[-1]
                session.add(
                    Image(
                        user_id=generation.user_id,
                        category=ImageCategory.GENERATED,
                        filename=f"generation-{generation_id}"
                        + (f"-{index + 1}" if index else "")
                        + f".{ext}",
                        content_type=output.content_type,
                        size_bytes=len(output.data),
                        width=output.width,
                        height=output.height,
                        storage_key=key,
                        thumbnail_key=thumb,
                        blur_data_url=blur,
                        image_order=index,
                        source_image_id=product_id,
                        generation_id=generation_id,
                        is_primary=index == 0,
                    )
                )
            record_usage(
                session,
                action=UsageAction.GENERATION_COMPLETED,
                user_id=generation.user_id,
                details={
                    "generation_id": generation_id,
                    "processing_ms": generation.processing_ms,
                    "engine": engine_name,
                },
            )
    except _LostRace:
        return False
    return True


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def fail_work(
    *, db: Engine, work: Work, error: str, retryable: bool, delay_s: float = RETRY_DELAY_SECONDS
) -> None:
    """An engine failure: try again later while attempts remain, else fail and refund."""
    with session_scope(db) as session:
        job = session.get(Job, work.lease.job_id)
        if retryable and job is not None and job.attempts < job.max_attempts:
            if jobs.retry_if_owner(
                session,
                job_id=work.lease.job_id,
                worker_id=work.lease.worker_id,
                error=error,
                delay_seconds=delay_s,
            ):
                requeued = session.execute(
                    sa.update(Generation)
                    .where(
                        col(Generation.id) == work.generation_id,
                        col(Generation.status).in_(OPEN_STATUSES),
                    )
                    .values(status=GenerationStatus.PENDING, updated_at=utcnow())
                )
                if requeued.rowcount:  # type: ignore[attr-defined]
                    note_status_changed(session, [work.generation_id])
            return
        end_generation(session, generation_id=work.generation_id, error=error, lease=work.lease)


def defer_work(*, db: Engine, work: Work, reason: str, delay_s: float) -> bool:
    """The provider asked us to wait (429/5xx): queue again, without spending an attempt."""
    with session_scope(db) as session:
        return jobs.retry_if_owner(
            session,
            job_id=work.lease.job_id,
            worker_id=work.lease.worker_id,
            error=reason,
            delay_seconds=delay_s,
            count_attempt=False,
        )


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


# --------------------------------------------------------------------------- running


def decode_output(data: bytes, content_type: str) -> Output:
    """A provider's output as we store it: re-encoded upright and without metadata, at its
    full size, with its previews from the same decode (see imaging.prepare_for_storage);
    raise on anything that is not an image we accept."""
    try:
        clean = prepare_for_storage(data, label="The output", max_side=None)
    except Exception as exc:
        raise GenerationEngineError(BAD_OUTPUT) from exc
    return Output(clean.data, clean.content_type, clean.width, clean.height, clean.previews)


async def run_work(
    work: Work,
    *,
    db: Engine,
    storage: MediaStorage,
    engine: GenerationEngine | PredictionEngine,
    options: Options = Options(),
    blocking: Blocking = _inline,
    render: Blocking = _inline,
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
        await blocking(_end_with, db, work, INPUTS_UNREADABLE)
        return
    if isinstance(engine, PredictionEngine):
        await _run_prediction(
            work, db=db, storage=storage, engine=engine, options=options, blocking=blocking
        )
    else:
        await _run_local(
            work, db=db, storage=storage, engine=engine, blocking=blocking, render=render
        )


def _end_with(db: Engine, work: Work, error: str) -> None:
    with session_scope(db) as session:
        end_generation(session, generation_id=work.generation_id, error=error, lease=work.lease)


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


def variation_seeds(seed: int, variations: int) -> list[int]:
    """The seed of each variation: `seed`, `seed + 1`, ... (wrapping within 0..2^31-1), so
    "Use these settings" with the same seed renders the same set again."""
    return [(seed + i) % SEED_RANGE for i in range(max(1, variations))]


def _deadline(work: Work, timeout_s: float) -> float:
    """The generation's deadline on this process's monotonic clock."""
    age = (utcnow() - _aware(work.created_at)).total_seconds()
    return time.monotonic() + (timeout_s - age)


async def _run_prediction(
    work: Work,
    *,
    db: Engine,
    storage: MediaStorage,
    engine: PredictionEngine,
    options: Options,
    blocking: Blocking,
) -> None:
    deadline = _deadline(work, options.timeout_s)
    prediction_id = work.prediction_id
    if prediction_id is None:
        if time.monotonic() >= deadline:
            await blocking(_end_with, db, work, TIMED_OUT)
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
            await _cancel_quietly(engine, created.id)
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
            await _cancel_quietly(engine, prediction_id)
            await blocking(_end_with, db, work, TIMED_OUT)
            return
        await asyncio.sleep(min(delay, remaining))
        try:
            prediction = await engine.get(prediction_id)
        except ProviderBusy as exc:
            delay = exc.retry_after
            continue
        except GenerationEngineError as exc:
            await blocking(_end_with, db, work, exc.message)
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


async def _cancel_quietly(engine: PredictionEngine, prediction_id: str) -> None:
    try:
        await engine.cancel(prediction_id)
    except Exception as exc:  # the timeout/cancel stands whatever the provider says
        log.warning("could not cancel prediction %s: %r", prediction_id, exc)


# --------------------------------------------------------------------------- one at a time


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
        work = _prepare(session, job=claimed[0])
    if work is not None:
        asyncio.run(run_work(work, db=db, storage=storage, engine=engine, options=options))
    return True


def generation_deadline(created_at: datetime, timeout_s: float) -> datetime:
    return _aware(created_at) + timedelta(seconds=timeout_s)
