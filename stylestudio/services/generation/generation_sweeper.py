"""No generation outlives its deadline: whatever happened to its worker, it ends failed and
refunded once, STYLESTUDIO_GENERATION_TIMEOUT_S after it was started."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from stylestudio.db import session_scope
from stylestudio.models import Generation, utcnow
from stylestudio.services.generation.generation_endings import end_generation
from stylestudio.services.generation.generation_work import OPEN_STATUSES, TIMED_OUT

BATCH = 200


def sweep_overdue(
    db: Engine, *, timeout_s: float, now: datetime | None = None
) -> list[tuple[int, str | None]]:
    """End every open generation created more than `timeout_s` ago. Returns the ones this
    call ended, with their prediction ids (to cancel at the provider)."""
    cutoff = (now or utcnow()) - timedelta(seconds=timeout_s)
    with session_scope(db, write=False) as session:
        overdue = session.exec(
            select(Generation.id, Generation.provider_prediction_id)
            .where(col(Generation.status).in_(OPEN_STATUSES), col(Generation.created_at) < cutoff)
            .order_by(col(Generation.id))
            .limit(BATCH)
        ).all()
    ended: list[tuple[int, str | None]] = []
    for generation_id, prediction_id in overdue:
        assert generation_id is not None
        with session_scope(db) as session:
            if end_generation(session, generation_id=generation_id, error=TIMED_OUT):
                ended.append((generation_id, prediction_id))
    return ended
