"""The gallery header's numbers through the service: generations, success rate (completed ÷
finished) and credits used (spent and not refunded), for one user only. SQLite and
PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from stylestudio.adapters.generation_engine import (
    GeneratedImage,
    GenerationEngineError,
    GenerationRequest,
)
from stylestudio.adapters.local_engine.engine import LocalEngine
from stylestudio.adapters.storage import LocalStorage
from stylestudio.db import session_scope
from stylestudio.models import CreditLedgerEntry, Generation, GenerationStatus, LedgerKind
from stylestudio.services.generation import generations
from stylestudio.services.library.stats import UserStats, user_stats
from tests.support.builders import (
    new_generation,
    new_upload,
    new_user,
    run_one_job,
    set_refund_on_failure,
)
from tests.support.lookups import balance_and_ledger_sum, stored_generation


def _stats(db: Engine, user_id: int) -> UserStats:
    with session_scope(db, write=False) as session:
        return user_stats(session, user_id=user_id)


def _unrefunded_credits(db: Engine, user_id: int) -> int:
    """The sum of credits_used of the user's generations that have no refund in the ledger."""
    refunded = sa.select(col(CreditLedgerEntry.generation_id)).where(
        col(CreditLedgerEntry.kind) == LedgerKind.REFUND
    )
    with session_scope(db, write=False) as session:
        total = session.execute(
            sa.select(sa.func.sum(col(Generation.credits_used))).where(
                col(Generation.user_id) == user_id, col(Generation.id).not_in(refunded)
            )
        ).scalar_one()
    return int(total or 0)


class RejectingEngine(LocalEngine):
    """The local engine's models, refusing every request for good (not retryable)."""

    def generate(self, request: GenerationRequest) -> GeneratedImage:
        raise GenerationEngineError("The model rejected this image")


class StatsWhileRunning(LocalEngine):
    """The local engine, reading the owner's stats while the generation is processing."""

    def __init__(self, db: Engine, user_id: int) -> None:
        self.db, self.user_id = db, user_id
        self.seen: UserStats | None = None

    def generate(self, request: GenerationRequest) -> GeneratedImage:
        self.seen = _stats(self.db, self.user_id)
        return super().generate(request)


def test_stats_count_one_users_generations_by_outcome(db: Engine, storage: LocalStorage) -> None:
    owner = new_user(db, "owner@example.com")
    image = new_upload(db, storage, owner)
    other = new_user(db, "other@example.com")
    other_image = new_upload(db, storage, other)

    # Another user's generation, finished first: it must not show in the owner's numbers.
    new_generation(db, user_id=other, image_id=other_image, key="other")
    assert run_one_job(db, storage, LocalEngine())

    completed = new_generation(db, user_id=owner, image_id=image, key="completed")  # 1 credit
    assert run_one_job(db, storage, LocalEngine())
    failed = new_generation(db, user_id=owner, image_id=image, key="failed", quality="high")  # 2
    assert run_one_job(db, storage, RejectingEngine())  # refunded
    set_refund_on_failure(db, False)
    unrefunded = new_generation(db, user_id=owner, image_id=image, key="failed-paid")  # 1
    assert run_one_job(db, storage, RejectingEngine())  # not refunded: its credit stays used
    set_refund_on_failure(db, True)
    cancelled = new_generation(  # 2
        db, user_id=owner, image_id=image, key="cancelled", quality="high"
    )
    with session_scope(db) as session:
        generations.cancel_generation(session, user_id=owner, generation_id=cancelled)
    running = new_generation(db, user_id=owner, image_id=image, key="running")  # 1
    queued = new_generation(db, user_id=owner, image_id=image, key="queued")  # 1

    statuses = {
        gid: stored_generation(db, gid).status for gid in (completed, failed, unrefunded, cancelled)
    }
    assert statuses == {
        completed: GenerationStatus.COMPLETED,
        failed: GenerationStatus.FAILED,
        unrefunded: GenerationStatus.FAILED,
        cancelled: GenerationStatus.CANCELLED,
    }
    assert balance_and_ledger_sum(db, owner) == (6, 6)  # 10 free - 8 spent + 2 + 2 refunded

    engine = StatsWhileRunning(db, owner)
    assert run_one_job(db, storage, engine)  # the oldest due job: `running`
    # Mid-run: six generations, four finished (completed, two failed, cancelled), one of
    # them completed; used = completed 1 + unrefunded failure 1 + running 1 + queued 1.
    assert engine.seen == UserStats(
        generations=6, completed=1, finished=4, success_rate="25%", credits_used=4
    )
    assert stored_generation(db, running).status == GenerationStatus.COMPLETED
    assert stored_generation(db, queued).status == GenerationStatus.PENDING
    assert _stats(db, owner) == UserStats(
        generations=6, completed=2, finished=5, success_rate="40%", credits_used=4
    )
    assert _unrefunded_credits(db, owner) == 4  # the brief's definition, while none is deleted
    assert _stats(db, other) == UserStats(
        generations=1, completed=1, finished=1, success_rate="100%", credits_used=1
    )

    # Deleting a finished generation takes it out of the counts; its credit stays spent.
    with session_scope(db) as session:
        generations.delete_generation(session, user_id=owner, generation_id=completed)
    assert _stats(db, owner) == UserStats(
        generations=5, completed=1, finished=4, success_rate="25%", credits_used=4
    )


def test_stats_of_a_user_with_nothing_finished(db: Engine, storage: LocalStorage) -> None:
    newcomer = new_user(db, "new@example.com")
    assert _stats(db, newcomer) == UserStats(
        generations=0, completed=0, finished=0, success_rate="—", credits_used=0
    )
    new_generation(db, user_id=newcomer, image_id=new_upload(db, storage, newcomer), key="queued")
    assert _stats(db, newcomer) == UserStats(
        generations=1, completed=0, finished=0, success_rate="—", credits_used=1
    )


def test_success_rate_rounds_down(db: Engine, storage: LocalStorage) -> None:
    user_id = new_user(db, "third@example.com")
    image = new_upload(db, storage, user_id)
    for key, engine in (("a", LocalEngine()), ("b", LocalEngine()), ("c", RejectingEngine())):
        new_generation(db, user_id=user_id, image_id=image, key=key)
        assert run_one_job(db, storage, engine)
    assert _stats(db, user_id).success_rate == "66%"  # 2 of 3, never shown as 67%
