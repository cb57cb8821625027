"""The credit ledger: grant, spend, refund and clawback, each atomic and idempotent.

Every change is one conditional UPDATE of the balance plus one ledger row carrying a unique
idempotency key, inside a SAVEPOINT: a replayed key (even a concurrent one, which loses on the
unique index) rolls its savepoint back and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from stylestudio.models import CreditLedgerEntry, LedgerKind, User, utc_iso
from stylestudio.services.errors import (
    IdempotencyConflictError,
    InsufficientCreditsError,
    NotFoundError,
    ValidationError,
)


@dataclass(frozen=True)
class LedgerResult:
    applied: bool  # False when the idempotency key had already been used
    balance: int
    entry_id: int


_TOTAL_COLUMN = {
    LedgerKind.GRANT: "free_credits_granted",
    LedgerKind.PURCHASE: "total_credits_purchased",
}


def grant(
    session: Session,
    *,
    user_id: int,
    amount: int,
    idempotency_key: str,
    kind: LedgerKind = LedgerKind.GRANT,
    description: str = "",
    purchase_id: int | None = None,
) -> LedgerResult:
    """Add `amount` credits (free grant, purchase or admin adjustment) exactly once per key."""
    if amount <= 0:
        raise ValidationError("A grant must add at least one credit.")
    if kind not in (LedgerKind.GRANT, LedgerKind.PURCHASE, LedgerKind.ADJUSTMENT):
        raise ValidationError(f"{kind} is not a kind of grant.")
    values: dict[str, object] = {"credits": User.credits + amount}
    if total := _TOTAL_COLUMN.get(kind):
        values[total] = getattr(User, total) + amount
    return _apply(
        session,
        user_id=user_id,
        amount=amount,
        kind=kind,
        idempotency_key=idempotency_key,
        values=values,
        description=description,
        purchase_id=purchase_id,
    )


def spend(
    session: Session,
    *,
    user_id: int,
    amount: int,
    idempotency_key: str,
    generation_id: int | None = None,
    description: str = "",
) -> LedgerResult:
    """Take `amount` credits, or raise InsufficientCreditsError leaving the balance untouched."""
    if amount <= 0:
        raise ValidationError("A spend must take at least one credit.")
    return _apply(
        session,
        user_id=user_id,
        amount=-amount,
        kind=LedgerKind.SPEND,
        idempotency_key=idempotency_key,
        values={
            "credits": User.credits - amount,
            "total_credits_used": User.total_credits_used + amount,
        },
        condition=col(User.credits) >= amount,
        description=description,
        generation_id=generation_id,
    )


def refund(
    session: Session,
    *,
    user_id: int,
    amount: int,
    idempotency_key: str,
    generation_id: int | None = None,
    description: str = "",
) -> LedgerResult:
    """Give back credits of a spend that failed for good, exactly once per key."""
    if amount <= 0:
        raise ValidationError("A refund must return at least one credit.")
    return _apply(
        session,
        user_id=user_id,
        amount=amount,
        kind=LedgerKind.REFUND,
        idempotency_key=idempotency_key,
        values={
            "credits": User.credits + amount,
            # Lifetime "used" counts what was really consumed; a refunded spend was not.
            "total_credits_used": sa.case(
                (col(User.total_credits_used) >= amount, col(User.total_credits_used) - amount),
                else_=0,
            ),
        },
        description=description,
        generation_id=generation_id,
    )


@dataclass(frozen=True)
class ClawbackResult:
    """What one clawback call did: a replayed key takes nothing (applied False, taken 0)."""

    applied: bool
    taken: int  # credits removed from the balance by this call
    shortfall: int  # credits asked for that the balance no longer held
    balance: int
    entry_id: int


def take_adjustment(
    session: Session, *, user_id: int, amount: int, idempotency_key: str, description: str = ""
) -> LedgerResult:
    """An admin takes `amount` credits back (an `adjustment`), or InsufficientCreditsError
    leaving the balance untouched: the balance never goes below zero."""
    if amount <= 0:
        raise ValidationError("An adjustment must take at least one credit.")
    return _apply(
        session,
        user_id=user_id,
        amount=-amount,
        kind=LedgerKind.ADJUSTMENT,
        idempotency_key=idempotency_key,
        values={"credits": User.credits - amount},
        condition=col(User.credits) >= amount,
        description=description,
    )


def clawback(
    session: Session,
    *,
    user_id: int,
    amount: int,
    idempotency_key: str,
    purchase_id: int | None = None,
    description: str = "",
) -> ClawbackResult:
    """Take back up to `amount` credits of a refunded or disputed purchase, once per key.

    Unlike a spend, a clawback cannot be refused: the money has already gone back. It takes
    what the balance holds and never more (the balance stays >= 0), and reports the rest as
    a shortfall for the caller to record. The ledger row is written even when nothing could
    be taken (amount 0), so the key is remembered and a replay takes nothing.

    RETURNING only yields the new balance (SQLite; PostgreSQL before 18), and `taken` needs
    the old one, so the balance is read under the row lock (FOR UPDATE on PostgreSQL, the
    write lock a `session_scope` transaction holds from BEGIN IMMEDIATE on SQLite) and the
    UPDATE is conditional on it still being that value.
    """
    if amount < 0:
        raise ValidationError("A clawback cannot add credits.")

    def change() -> CreditLedgerEntry:
        held = session.execute(
            select(User.credits).where(col(User.id) == user_id).with_for_update()
        ).scalar_one_or_none()
        if held is None:
            raise NotFoundError("User not found.")
        taken = min(held, amount)
        new_balance = session.execute(
            sa.update(User)
            .where(col(User.id) == user_id, col(User.credits) == held)
            .values(credits=User.credits - taken)
            .returning(col(User.credits))
        ).scalar_one_or_none()
        if new_balance is None:  # impossible while the lock is held: refuse, never guess
            raise RuntimeError("The balance changed while it was locked.")
        return CreditLedgerEntry(
            user_id=user_id,
            kind=LedgerKind.CLAWBACK,
            amount=-taken,
            balance_after=new_balance,
            idempotency_key=idempotency_key,
            purchase_id=purchase_id,
            description=description,
        )

    applied, entry = _once(session, idempotency_key=idempotency_key, change=change)
    if not applied:
        return _replayed_clawback(session, entry, user_id)
    assert entry.id is not None
    return ClawbackResult(
        applied=True,
        taken=-entry.amount,
        shortfall=amount + entry.amount,
        balance=entry.balance_after,
        entry_id=entry.id,
    )


def _replayed_clawback(session: Session, entry: CreditLedgerEntry, user_id: int) -> ClawbackResult:
    replay = _replayed(session, entry, user_id)
    return ClawbackResult(
        applied=False, taken=0, shortfall=0, balance=replay.balance, entry_id=replay.entry_id
    )


def balance(session: Session, *, user_id: int) -> int:
    value = session.exec(select(User.credits).where(User.id == user_id)).first()
    if value is None:
        raise NotFoundError("User not found.")
    return value


def ledger_sum(session: Session, *, user_id: int) -> int:
    """The sum of every ledger entry; always equals the balance."""
    total = session.exec(
        select(sa.func.coalesce(sa.func.sum(CreditLedgerEntry.amount), 0)).where(
            CreditLedgerEntry.user_id == user_id
        )
    ).one()
    return int(total)


def _existing(session: Session, idempotency_key: str) -> CreditLedgerEntry | None:
    return session.exec(
        select(CreditLedgerEntry).where(CreditLedgerEntry.idempotency_key == idempotency_key)
    ).first()


def _apply(
    session: Session,
    *,
    user_id: int,
    amount: int,
    kind: LedgerKind,
    idempotency_key: str,
    values: dict[str, object],
    condition: sa.ColumnElement[bool] | None = None,
    description: str = "",
    generation_id: int | None = None,
    purchase_id: int | None = None,
) -> LedgerResult:
    stmt = sa.update(User).where(col(User.id) == user_id).values(values)
    if condition is not None:
        stmt = stmt.where(condition)

    def change() -> CreditLedgerEntry:
        new_balance = session.execute(stmt.returning(col(User.credits))).scalar_one_or_none()
        if new_balance is None:
            raise _missing_or_insufficient(session, user_id=user_id, amount=-amount)
        return CreditLedgerEntry(
            user_id=user_id,
            kind=kind,
            amount=amount,
            balance_after=new_balance,
            idempotency_key=idempotency_key,
            generation_id=generation_id,
            purchase_id=purchase_id,
            description=description,
        )

    applied, entry = _once(session, idempotency_key=idempotency_key, change=change)
    if not applied:
        if (entry.kind, entry.amount, entry.generation_id, entry.purchase_id) != (
            kind,
            amount,
            generation_id,
            purchase_id,
        ) and entry.user_id == user_id:
            # The key is taken by another movement: a replay is the same movement, so this
            # is a key built from something that was reused. Refuse; never call it done.
            raise IdempotencyConflictError()
        return _replayed(session, entry, user_id)
    assert entry.id is not None
    return LedgerResult(applied=True, balance=entry.balance_after, entry_id=entry.id)


def _once(
    session: Session, *, idempotency_key: str, change: Callable[[], CreditLedgerEntry]
) -> tuple[bool, CreditLedgerEntry]:
    """Run `change` (a balance update that returns its ledger row) in a savepoint, once per
    key: (True, the new row), or (False, the row an earlier or concurrent call wrote)."""
    if not idempotency_key:
        raise ValidationError("Every ledger write needs an idempotency key.")
    if (entry := _existing(session, idempotency_key)) is not None:
        return False, entry
    try:
        with session.begin_nested():
            entry = change()
            session.add(entry)
            session.flush()
    except IntegrityError:
        # A concurrent writer used the same key first; our savepoint is gone, theirs stands.
        winner = _existing(session, idempotency_key)
        if winner is None:
            raise
        return False, winner
    return True, entry


def _replayed(session: Session, entry: CreditLedgerEntry, user_id: int) -> LedgerResult:
    if entry.user_id != user_id:
        raise IdempotencyConflictError("This idempotency key belongs to another account.")
    assert entry.id is not None
    return LedgerResult(applied=False, balance=balance(session, user_id=user_id), entry_id=entry.id)


def _missing_or_insufficient(session: Session, *, user_id: int, amount: int) -> Exception:
    available = session.exec(select(User.credits).where(User.id == user_id)).first()
    if available is None:
        return NotFoundError("User not found.")
    return InsufficientCreditsError(required=amount, available=available)


@dataclass(frozen=True)
class LedgerLine:
    when: str
    kind: str
    amount: str  # "+10" / "-2"
    balance_after: int
    description: str


def ledger_history(session: Session, *, user_id: int, limit: int = 20) -> list[LedgerLine]:
    """The user's most recent credit movements, newest first."""
    rows = session.exec(
        select(CreditLedgerEntry)
        .where(CreditLedgerEntry.user_id == user_id)
        .order_by(col(CreditLedgerEntry.id).desc())
        .limit(limit)
    ).all()
    return [
        LedgerLine(
            when=utc_iso(r.created_at),
            kind=str(r.kind).capitalize(),
            amount=f"{r.amount:+d}",
            balance_after=r.balance_after,
            description=r.description,
        )
        for r in rows
    ]
