"""Credits are money: concurrent spends never overdraw, replays never double-count."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from stylestudio.db import session_scope
from stylestudio.models import LedgerKind, User
from stylestudio.services.accounts import accounts
from stylestudio.services.billing import credits
from stylestudio.services.errors import IdempotencyConflictError, InsufficientCreditsError
from tests.support.builders import new_user
from tests.support.databases import migrated_engine


def test_new_user_gets_free_trial_once(db: Engine) -> None:
    user_id = new_user(db, "buyer@example.com")
    with session_scope(db) as session:
        accounts.grant_free_trial(session, user_id=user_id)  # a replay adds nothing
        assert credits.balance(session, user_id=user_id) == 10
        assert credits.ledger_sum(session, user_id=user_id) == 10


def test_200_concurrent_spends_against_balance_of_10(db: Engine) -> None:
    user_id = new_user(db, "buyer@example.com")
    successes: list[int] = []
    insufficient: list[InsufficientCreditsError] = []
    other: list[BaseException] = []
    barrier = threading.Barrier(200)
    lock = threading.Lock()

    def spend_one(i: int) -> None:
        barrier.wait()
        try:
            with session_scope(db) as session:
                result = credits.spend(
                    session, user_id=user_id, amount=1, idempotency_key=f"spend:test:{i}"
                )
            with lock:
                successes.append(result.balance)
        except InsufficientCreditsError as exc:
            with lock:
                insufficient.append(exc)
        except BaseException as exc:
            with lock:
                other.append(exc)

    threads = [threading.Thread(target=spend_one, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert other == []
    assert len(successes) == 10
    assert len(insufficient) == 190
    assert all("Not enough credits" in exc.message for exc in insufficient)
    with session_scope(db, write=False) as session:
        assert credits.balance(session, user_id=user_id) == 0
        assert credits.ledger_sum(session, user_id=user_id) == 0


def test_replayed_spend_and_grant_add_nothing(db: Engine) -> None:
    user_id = new_user(db, "buyer@example.com")
    with session_scope(db) as session:
        first = credits.spend(session, user_id=user_id, amount=3, idempotency_key="spend:k")
        again = credits.spend(session, user_id=user_id, amount=3, idempotency_key="spend:k")
        assert first.applied and not again.applied
        assert again.balance == 7
        g1 = credits.grant(
            session,
            user_id=user_id,
            amount=50,
            idempotency_key="purchase:cs_1",
            kind=LedgerKind.PURCHASE,
        )
        g2 = credits.grant(
            session,
            user_id=user_id,
            amount=50,
            idempotency_key="purchase:cs_1",
            kind=LedgerKind.PURCHASE,
        )
        assert g1.applied and not g2.applied
        assert credits.balance(session, user_id=user_id) == 57
        assert credits.ledger_sum(session, user_id=user_id) == 57


def test_concurrent_replays_of_one_key_apply_once(db: Engine) -> None:
    user_id = new_user(db, "buyer@example.com")
    barrier = threading.Barrier(20)
    errors: list[BaseException] = []

    def replay() -> None:
        barrier.wait()
        try:
            with session_scope(db) as session:
                credits.grant(
                    session,
                    user_id=user_id,
                    amount=5,
                    idempotency_key="event:evt_1",
                    kind=LedgerKind.PURCHASE,
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=replay) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_scope(db, write=False) as session:
        assert credits.balance(session, user_id=user_id) == 15
        assert credits.ledger_sum(session, user_id=user_id) == 15


def test_spend_more_than_balance_changes_nothing(db: Engine) -> None:
    user_id = new_user(db, "buyer@example.com")
    with pytest.raises(InsufficientCreditsError) as info, session_scope(db) as session:
        credits.spend(session, user_id=user_id, amount=11, idempotency_key="spend:big")
    assert info.value.required == 11 and info.value.available == 10
    assert "/credits" in info.value.message
    with session_scope(db, write=False) as session:
        assert credits.balance(session, user_id=user_id) == 10
        assert credits.ledger_sum(session, user_id=user_id) == 10


def test_a_refused_or_replayed_move_leaves_the_transaction_usable(db: Engine) -> None:
    """Refusals happen inside a caller's transaction (a batch of generations): on PostgreSQL
    a failed statement would abort all of it, so a refusal must write nothing and fail
    nothing, and the caller's other writes still commit."""
    user_id = new_user(db, "buyer@example.com")
    with session_scope(db) as session:
        credits.spend(session, user_id=user_id, amount=4, idempotency_key="spend:first")
        with pytest.raises(InsufficientCreditsError):
            credits.spend(session, user_id=user_id, amount=7, idempotency_key="spend:big")
        with pytest.raises(IdempotencyConflictError):
            credits.spend(session, user_id=user_id, amount=5, idempotency_key="spend:first")
        replay = credits.spend(session, user_id=user_id, amount=4, idempotency_key="spend:first")
        assert not replay.applied and replay.balance == 6
        credits.grant(session, user_id=user_id, amount=1, idempotency_key="grant:after")
    with session_scope(db, write=False) as session:
        assert credits.balance(session, user_id=user_id) == 7
        assert credits.ledger_sum(session, user_id=user_id) == 7


def test_every_kind_of_move_keeps_the_lifetime_totals(db: Engine) -> None:
    user_id = new_user(db, "buyer@example.com")  # 10 free credits
    with session_scope(db) as session:
        user = session.get(User, user_id)
        assert user is not None
        credits.grant(
            session,
            user_id=user_id,
            amount=50,
            idempotency_key="purchase:cs_9",
            kind=LedgerKind.PURCHASE,
        )
        credits.spend(session, user_id=user_id, amount=3, idempotency_key="spend:9")
        # A refund gives back more than was counted as used: "used" stops at zero.
        credits.refund(session, user_id=user_id, amount=5, idempotency_key="refund:9")
        credits.grant(
            session,
            user_id=user_id,
            amount=2,
            idempotency_key="admin:9",
            kind=LedgerKind.ADJUSTMENT,
        )
        credits.take_adjustment(session, user_id=user_id, amount=1, idempotency_key="take:9")
        # The caller's own object of the user shows what the moves did.
        totals = (
            user.credits,
            user.total_credits_purchased,
            user.total_credits_used,
            user.free_credits_granted,
        )
        assert totals == (63, 50, 0, 10)
    with session_scope(db, write=False) as session:
        stored = session.get(User, user_id)
        assert stored is not None
        assert (
            stored.credits,
            stored.total_credits_purchased,
            stored.total_credits_used,
            stored.free_credits_granted,
        ) == totals
        assert credits.ledger_sum(session, user_id=user_id) == 63


def test_spenders_that_wrote_rows_of_the_user_first_do_not_deadlock(tmp_path: Path) -> None:
    """PostgreSQL: inserting a row that refers to the user (a generation, a usage event)
    holds a key-share lock on the user's row until commit. Two such transactions spending
    at once must queue on the balance, not each wait for the other's key-share lock."""
    with migrated_engine("postgresql", tmp_path) as db:
        user_id = new_user(db, "buyer@example.com")
        both_wrote = threading.Barrier(2, timeout=30)
        outcomes: list[str] = []

        def spend(n: int) -> None:
            try:
                with session_scope(db) as session:
                    session.execute(
                        sa.text(
                            "INSERT INTO usage_events (user_id, action, details, created_at) "
                            "VALUES (:u, 'generation_started', '{}', now())"
                        ),
                        {"u": user_id},
                    )
                    both_wrote.wait()
                    credits.spend(session, user_id=user_id, amount=6, idempotency_key=f"s:{n}")
                outcomes.append("spent")
            except InsufficientCreditsError:
                outcomes.append("refused")
            except Exception as exc:
                outcomes.append(type(exc).__name__)

        threads = [threading.Thread(target=spend, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["refused", "spent"]
        with session_scope(db, write=False) as session:
            assert credits.balance(session, user_id=user_id) == 4
            assert credits.ledger_sum(session, user_id=user_id) == 4
