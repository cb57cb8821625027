"""A user's own numbers at a glance (the gallery's header): generations, success rate and
credits used."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col

from stylestudio.models import Generation, GenerationStatus, User

NO_RATE = "—"
_FINISHED = (GenerationStatus.COMPLETED, GenerationStatus.FAILED, GenerationStatus.CANCELLED)


@dataclass(frozen=True)
class UserStats:
    """Display-ready: the counts, and the rate already formatted."""

    generations: int  # every generation the user has (a deleted one is gone)
    completed: int
    finished: int  # completed, failed or cancelled
    success_rate: str  # completed ÷ finished, rounded down: "83%"; NO_RATE before any
    credits_used: int  # credits spent on generations and not refunded


def no_stats() -> UserStats:
    """What a user with no generations has (and what shows before anything is known)."""
    return UserStats(generations=0, completed=0, finished=0, success_rate=NO_RATE, credits_used=0)


def user_stats(session: Session, *, user_id: int) -> UserStats:
    """The user's generation numbers, in one statement.

    The counts aggregate the user's generations on (user_id, status) alone, which the index
    ix_generations_user_id_status holds. Credits used is the ledger's running total
    (`users.total_credits_used`: every spend adds, every refund of a failed or cancelled
    generation takes back; see services.billing.credits): what the user's generations cost and was
    not refunded, including running ones (refunded if they fail) and deleted ones (whose
    credits stay spent).
    """
    used = sa.select(col(User.total_credits_used)).where(col(User.id) == user_id)
    row = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count().filter(col(Generation.status) == GenerationStatus.COMPLETED),
            sa.func.count().filter(col(Generation.status).in_(_FINISHED)),
            used.scalar_subquery(),
        ).where(col(Generation.user_id) == user_id)
    ).one()
    generations, completed, finished, credits_used = (int(v or 0) for v in row)
    return UserStats(
        generations=generations,
        completed=completed,
        finished=finished,
        # Rounded down: "100%" only when nothing failed.
        success_rate=f"{100 * completed // finished}%" if finished else NO_RATE,
        credits_used=credits_used,
    )
