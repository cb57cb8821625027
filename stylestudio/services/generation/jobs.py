"""Durable jobs: enqueue, claim under a lease, heartbeat, finish, retry.

A job is claimable when it is queued and due, or when it is running but its lease has
expired (its worker died). PostgreSQL claims with FOR UPDATE SKIP LOCKED so workers never
wait on each other; SQLite serialises writers anyway (the session began IMMEDIATE).

Leases are short and renewed while the work goes on. Every write a worker makes to end or
reschedule a job is one compare-and-set statement on (job, lease owner, running): a worker
whose lease was taken over changes nothing, on any database.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from stylestudio.models import Job, JobKind, JobStatus, utcnow

DEFAULT_LEASE_SECONDS = 30
HEARTBEAT_SECONDS = 10
_OPEN = (JobStatus.QUEUED, JobStatus.RUNNING)


def enqueue(
    session: Session,
    *,
    kind: JobKind,
    payload: dict[str, Any],
    generation_id: int | None = None,
    run_after: datetime | None = None,
    max_attempts: int = 2,
) -> Job:
    """Add a job in the caller's transaction: it exists iff the caller commits."""
    job = Job(
        kind=kind,
        payload=payload,
        generation_id=generation_id,
        run_after=run_after or utcnow(),
        max_attempts=max_attempts,
    )
    session.add(job)
    session.flush()
    return job


def claim_next_job(
    session: Session,
    *,
    worker_id: str,
    kinds: tuple[JobKind, ...] = tuple(JobKind),
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
    now: datetime | None = None,
) -> Job | None:
    """Lease the oldest due job to `worker_id`, or return None when there is nothing to do."""
    claimed = claim_jobs(
        session,
        worker_id=worker_id,
        limit=1,
        kinds=kinds,
        lease_seconds=lease_seconds,
        now=now,
    )
    return claimed[0] if claimed else None


def claim_jobs(
    session: Session,
    *,
    worker_id: str,
    limit: int,
    kinds: tuple[JobKind, ...] = tuple(JobKind),
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
    now: datetime | None = None,
) -> list[Job]:
    """Lease up to `limit` due jobs to `worker_id` in one transaction."""
    now = now or utcnow()
    due = sa.or_(
        sa.and_(col(Job.status) == JobStatus.QUEUED, col(Job.run_after) <= now),
        sa.and_(col(Job.status) == JobStatus.RUNNING, col(Job.lease_expires_at) < now),
    )
    stmt = (
        select(Job)
        .where(due, col(Job.kind).in_(kinds))
        .order_by(col(Job.run_after), col(Job.id))
        .limit(max(0, limit))
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    claimed = list(session.exec(stmt).all())
    for job in claimed:
        job.status = JobStatus.RUNNING
        job.lease_owner = worker_id
        job.lease_expires_at = now + timedelta(seconds=lease_seconds)
        job.attempts += 1
        job.updated_at = now
        session.add(job)
    session.flush()
    return claimed


def heartbeat_many(
    session: Session,
    *,
    worker_id: str,
    job_ids: list[int],
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
) -> set[int]:
    """Extend the leases of a worker's jobs in one statement; returns those still ours."""
    if not job_ids:
        return set()
    now = utcnow()
    rows = session.execute(
        sa.update(Job)
        .where(
            col(Job.id).in_(job_ids),
            col(Job.lease_owner) == worker_id,
            col(Job.status) == JobStatus.RUNNING,
        )
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
        .returning(col(Job.id))
    ).all()
    return {int(row[0]) for row in rows}


def _ended(status: JobStatus, error: str | None) -> dict[str, Any]:
    """The columns of a job that has ended, however it ended."""
    now = utcnow()
    return {
        "status": status,
        "last_error": error,
        "lease_owner": None,
        "lease_expires_at": None,
        "finished_at": now,
        "updated_at": now,
    }


def _owned(job_id: int, worker_id: str) -> tuple[Any, ...]:
    return (
        col(Job.id) == job_id,
        col(Job.lease_owner) == worker_id,
        col(Job.status) == JobStatus.RUNNING,
    )


def finish_if_owner(
    session: Session, *, job_id: int, worker_id: str, status: JobStatus, error: str | None = None
) -> bool:
    """End the job only if `worker_id` still holds its lease (one compare-and-set)."""
    result = session.execute(
        sa.update(Job).where(*_owned(job_id, worker_id)).values(**_ended(status, error))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def retry_if_owner(
    session: Session,
    *,
    job_id: int,
    worker_id: str,
    error: str,
    delay_seconds: float,
    count_attempt: bool = True,
) -> bool:
    """Queue the job again after a delay, only if `worker_id` still holds its lease.

    `count_attempt=False` gives the attempt back: the provider asked us to wait (429), the
    work itself did not fail."""
    now = utcnow()
    values: dict[str, Any] = {
        "status": JobStatus.QUEUED,
        "last_error": error,
        "lease_owner": None,
        "lease_expires_at": None,
        "run_after": now + timedelta(seconds=delay_seconds),
        "updated_at": now,
    }
    if not count_attempt:
        values["attempts"] = sa.case((col(Job.attempts) > 0, col(Job.attempts) - 1), else_=0)
    result = session.execute(sa.update(Job).where(*_owned(job_id, worker_id)).values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def lock_for_generation(session: Session, *, generation_id: int) -> None:
    """Take the row locks of a generation's jobs (PostgreSQL; SQLite has one writer anyway)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        select(Job.id)
        .where(col(Job.generation_id) == generation_id)
        .order_by(col(Job.id))
        .with_for_update()
    )


def finish_for_generation(
    session: Session, *, generation_id: int, status: JobStatus, error: str | None = None
) -> int:
    """End a generation's open jobs whoever holds them: the generation itself already
    reached its end (by a webhook, a cancel or the timeout sweeper)."""
    result = session.execute(
        sa.update(Job)
        .where(col(Job.generation_id) == generation_id, col(Job.status).in_(_OPEN))
        .values(**_ended(status, error))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def heartbeat(
    session: Session, *, job_id: int, worker_id: str, lease_seconds: int = DEFAULT_LEASE_SECONDS
) -> bool:
    """Extend the lease; False means the job is no longer ours (stop working on it)."""
    now = utcnow()
    result = session.execute(
        sa.update(Job)
        .where(
            col(Job.id) == job_id,
            col(Job.lease_owner) == worker_id,
            col(Job.status) == JobStatus.RUNNING,
        )
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def is_leased_by(job: Job, worker_id: str) -> bool:
    return job.status == JobStatus.RUNNING and job.lease_owner == worker_id
