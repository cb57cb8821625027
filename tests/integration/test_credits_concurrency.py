"""Credits are money: concurrent spends never overdraw, replays never double-count."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.engine import Engine

from stylestudio.db import session_scope
from stylestudio.models import LedgerKind
from stylestudio.services import accounts, credits
from stylestudio.services.errors import InsufficientCreditsError


def _new_user(db: Engine, email: str = "buyer@example.com") -> int:
    with session_scope(db) as session:
        user = accounts.sign_up(session, email=email, password="correct horse")
        assert user.id is not None
        return user.id


def test_new_user_gets_free_trial_once(db: Engine) -> None:
    user_id = _new_user(db)
    with session_scope(db) as session:
        accounts.grant_free_trial(session, user_id=user_id)  # a replay adds nothing
        assert credits.balance(session, user_id=user_id) == 10
        assert credits.ledger_sum(session, user_id=user_id) == 10


def test_200_concurrent_spends_against_balance_of_10(db: Engine) -> None:
    user_id = _new_user(db)
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
    user_id = _new_user(db)
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
    user_id = _new_user(db)
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
    user_id = _new_user(db)
    with pytest.raises(InsufficientCreditsError) as info, session_scope(db) as session:
        credits.spend(session, user_id=user_id, amount=11, idempotency_key="spend:big")
    assert info.value.required == 11 and info.value.available == 10
    assert "/credits" in info.value.message
    with session_scope(db, write=False) as session:
        assert credits.balance(session, user_id=user_id) == 10
        assert credits.ledger_sum(session, user_id=user_id) == 10
