"""How much work is in the system right now: generations by status, the job queue's depth
and the age of its oldest due job. Read on every metrics scrape, so each figure is one
grouped query over an indexed column."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from stylestudio.models import Generation, GenerationStatus, Job, JobStatus, utcnow


@dataclass(frozen=True)
class Workload:
    generations: dict[GenerationStatus, int]  # every status, zeros included
    jobs_due: int  # queued and due: waiting for a worker now
    jobs_scheduled: int  # queued for later (a provider's Retry-After)
    jobs_running: int
    oldest_due_age_s: float  # how long the oldest due job has waited; 0 when none


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def read_workload(session: Session, *, now: datetime | None = None) -> Workload:
    """The current figures (three small queries)."""
    now = now or utcnow()
    generations = dict.fromkeys(GenerationStatus, 0)
    for status, count in session.exec(
        select(Generation.status, sa.func.count()).group_by(col(Generation.status))
    ).all():
        generations[GenerationStatus(status)] = int(count)

    due = col(Job.run_after) <= now
    queued_due, queued_later, oldest = session.exec(
        select(
            sa.func.count().filter(due),
            sa.func.count().filter(sa.not_(due)),
            sa.func.min(col(Job.run_after)).filter(due),
        ).where(col(Job.status) == JobStatus.QUEUED)
    ).one()
    running = session.exec(
        select(sa.func.count()).select_from(Job).where(col(Job.status) == JobStatus.RUNNING)
    ).one()
    age = max(0.0, (now - _aware(oldest)).total_seconds()) if oldest is not None else 0.0
    return Workload(
        generations=generations,
        jobs_due=int(queued_due),
        jobs_scheduled=int(queued_later),
        jobs_running=int(running),
        oldest_due_age_s=age,
    )
