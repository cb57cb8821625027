"""Ending a generation, exactly once.

Every ending is a compare-and-set on the generation's open status and, when a worker ends
it, on its job lease, in the same transaction: a loser writes nothing, and its stored files go
with its rolled-back transaction. Refunds carry ``refund:generation:<id>``. One lock order
everywhere: the job row, then the generation row."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

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
    JobStatus,
    UsageAction,
    utcnow,
)
from stylestudio.services.billing import credits
from stylestudio.services.billing.billing import get_billing_settings
from stylestudio.services.generation import jobs
from stylestudio.services.generation.generation_events import note_status_changed
from stylestudio.services.generation.generation_work import (
    OPEN_STATUSES,
    RETRY_DELAY_SECONDS,
    Lease,
    Output,
    Work,
    aware,
)
from stylestudio.services.integrations.webhook_events import emit_generation_ended
from stylestudio.services.media.media import new_storage_key, put_with_previews
from stylestudio.services.usage import record_usage


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
    # In this transaction: the user's webhook endpoints hear of the ending iff it commits.
    emit_generation_ended(session, generation_id=generation_id, status=status, error=error)
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
                    (utcnow() - aware(generation.started_at)).total_seconds() * 1000
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


def end_with(db: Engine, work: Work, error: str) -> None:
    with session_scope(db) as session:
        end_generation(session, generation_id=work.generation_id, error=error, lease=work.lease)
