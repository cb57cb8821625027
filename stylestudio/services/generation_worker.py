"""Running generation jobs: claim, generate outside any transaction, store, finish.

Every step re-checks that the job is still leased to this worker, so a worker whose lease
expired (and whose job another worker took over) cannot complete or refund twice. Refunds
carry the key `refund:generation:<id>`, which makes them exactly-once on their own.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from stylestudio.adapters.generation_engine import (
    GenerationEngine,
    GenerationEngineError,
    GenerationRequest,
)
from stylestudio.adapters.storage import MediaStorage
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
from stylestudio.services.media import new_storage_key, put_with_thumbnail
from stylestudio.services.usage import record_usage

log = logging.getLogger(__name__)

RETRY_DELAY_SECONDS = 5.0
UNEXPECTED_ERROR = "The generation failed unexpectedly. Please try again."


@dataclass(frozen=True)
class _Work:
    job_id: int
    generation_id: int
    user_id: int
    request: GenerationRequest
    product_image_id: int


def run_next_generation_job(
    *,
    db: Engine,
    storage: MediaStorage,
    engine: GenerationEngine,
    worker_id: str,
) -> bool:
    """Process one due generation job. Returns False when there was nothing to do."""
    with session_scope(db) as session:
        job = jobs.claim_next_job(session, worker_id=worker_id, kinds=(JobKind.GENERATE,))
        if job is None:
            return False
        if job.attempts > job.max_attempts:
            # Its workers kept dying mid-run (the lease expired each time): stop for good.
            generation = session.get(Generation, job.generation_id or 0)
            if generation is None or GenerationStatus(generation.status).is_terminal:
                jobs.finish(session, job=job, status=JobStatus.FAILED, error="abandoned")
            else:
                _mark_failed(session, job=job, generation=generation, error=UNEXPECTED_ERROR)
            return True
        work = _prepare(session, job=job, storage=storage)
    if work is None:
        return True

    started = time.monotonic()
    try:
        result = engine.generate(work.request)
    except GenerationEngineError as exc:
        _fail(db, work=work, worker_id=worker_id, error=str(exc), retryable=exc.retryable)
        return True
    except Exception:
        log.exception("generation %s crashed in engine %s", work.generation_id, engine.name)
        _fail(db, work=work, worker_id=worker_id, error=UNEXPECTED_ERROR, retryable=True)
        return True
    elapsed_ms = int((time.monotonic() - started) * 1000)

    key = new_storage_key(
        user_id=work.user_id, category=ImageCategory.GENERATED, content_type=result.content_type
    )
    with session_scope(db) as session:
        # Written inside the scope, so the files go again unless this transaction commits; and
        # before the first query, so SQLite's write lock is not held while thumbnailing.
        thumb_key = put_with_thumbnail(
            session, storage=storage, key=key, data=result.data, content_type=result.content_type
        )
        job = session.get(Job, work.job_id)
        generation = session.get(Generation, work.generation_id)
        if job is None or generation is None or not jobs.is_leased_by(job, worker_id):
            storage.delete(key)  # lost the lease: the new owner writes its own result
            storage.delete(thumb_key)
            return True
        session.add(
            Image(
                user_id=work.user_id,
                category=ImageCategory.GENERATED,
                filename=f"generation-{work.generation_id}.jpg",
                content_type=result.content_type,
                size_bytes=len(result.data),
                width=result.width,
                height=result.height,
                storage_key=key,
                thumbnail_key=thumb_key,
                source_image_id=work.product_image_id,
                generation_id=work.generation_id,
                is_primary=True,
            )
        )
        now = utcnow()
        generation.status = GenerationStatus.COMPLETED
        generation.processing_ms = elapsed_ms
        generation.completed_at = now
        generation.updated_at = now
        generation.error = None
        session.add(generation)
        jobs.finish(session, job=job, status=JobStatus.SUCCEEDED)
        record_usage(
            session,
            action=UsageAction.GENERATION_COMPLETED,
            user_id=work.user_id,
            details={
                "generation_id": work.generation_id,
                "processing_ms": elapsed_ms,
                "engine": engine.name,
            },
        )
    return True


def _prepare(session: Session, *, job: Job, storage: MediaStorage) -> _Work | None:
    """Mark the generation processing and load its inputs; fail it now if it cannot run."""
    assert job.id is not None
    generation_id = int(job.payload.get("generation_id") or job.generation_id or 0)
    generation = session.get(Generation, generation_id)
    if generation is None or GenerationStatus(generation.status).is_terminal:
        jobs.finish(session, job=job, status=JobStatus.CANCELLED, error="generation gone or done")
        return None
    inputs = session.exec(
        select(GenerationInput.role, Image)
        .join(Image, col(Image.id) == GenerationInput.image_id)
        .where(GenerationInput.generation_id == generation_id)
        .order_by(col(GenerationInput.position))
    ).all()
    product = next((img for role, img in inputs if role == GenerationInputRole.PRODUCT), None)
    scene = next((img for role, img in inputs if role == GenerationInputRole.MODEL), None)
    try:
        if product is None:
            raise FileNotFoundError("product image missing")
        product_bytes = storage.get(product.storage_key)
        scene_bytes = storage.get(scene.storage_key) if scene is not None else None
    except Exception:
        log.exception("inputs of generation %s unreadable", generation_id)
        _mark_failed(
            session,
            job=job,
            generation=generation,
            error="The uploaded images could not be read. Upload them again.",
        )
        return None

    now = utcnow()
    generation.status = GenerationStatus.PROCESSING
    generation.started_at = generation.started_at or now
    generation.updated_at = now
    generation.retry_count = max(0, job.attempts - 1)
    session.add(generation)
    assert generation.id is not None and product.id is not None
    return _Work(
        job_id=job.id,
        generation_id=generation.id,
        user_id=generation.user_id,
        product_image_id=product.id,
        request=GenerationRequest(
            product_image=product_bytes,
            model_image=scene_bytes,
            prompt=generation.prompt,
            negative_prompt=generation.negative_prompt,
            style=generation.style,
            quality=generation.quality,
            aspect_ratio=generation.aspect_ratio,
            seed=generation.seed,
            strength=generation.strength,
            guidance_scale=generation.guidance_scale,
            num_inference_steps=generation.num_inference_steps,
        ),
    )


def _fail(db: Engine, *, work: _Work, worker_id: str, error: str, retryable: bool) -> None:
    with session_scope(db) as session:
        job = session.get(Job, work.job_id)
        generation = session.get(Generation, work.generation_id)
        if job is None or generation is None or not jobs.is_leased_by(job, worker_id):
            return
        if retryable and job.attempts < job.max_attempts:
            jobs.retry_later(session, job=job, error=error, delay_seconds=RETRY_DELAY_SECONDS)
            generation.status = GenerationStatus.PENDING
            generation.updated_at = utcnow()
            session.add(generation)
            return
        _mark_failed(session, job=job, generation=generation, error=error)


def _mark_failed(session: Session, *, job: Job, generation: Generation, error: str) -> None:
    """Fail for good: status, readable error, and the refund (exactly once, by its key)."""
    assert generation.id is not None
    now = utcnow()
    generation.status = GenerationStatus.FAILED
    generation.error = error
    generation.completed_at = now
    generation.updated_at = now
    session.add(generation)
    jobs.finish(session, job=job, status=JobStatus.FAILED, error=error)
    refunded = False
    if generation.credits_used > 0 and get_billing_settings(session).refund_on_failure:
        refunded = credits.refund(
            session,
            user_id=generation.user_id,
            amount=generation.credits_used,
            idempotency_key=f"refund:generation:{generation.id}",
            generation_id=generation.id,
            description=f"Refund for failed generation #{generation.id}",
        ).applied
    record_usage(
        session,
        action=UsageAction.GENERATION_FAILED,
        user_id=generation.user_id,
        details={"generation_id": generation.id, "error": error, "refunded": refunded},
    )
