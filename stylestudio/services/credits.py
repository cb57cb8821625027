"""The credit ledger: grant, spend and refund, each atomic and idempotent.

Every change is one conditional UPDATE of the balance plus one ledger row carrying a unique
idempotency key, inside a SAVEPOINT: a replayed key (even a concurrent one, which loses on the
unique index) rolls its savepoint back and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from stylestudio.models import CreditLedgerEntry, LedgerKind, User
from stylestudio.services.errors import InsufficientCreditsError, NotFoundError, ValidationError


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
    if not idempotency_key:
        raise ValidationError("Every ledger write needs an idempotency key.")
    if (entry := _existing(session, idempotency_key)) is not None:
        return _replayed(session, entry, user_id)

    stmt = sa.update(User).where(col(User.id) == user_id).values(values)
    if condition is not None:
        stmt = stmt.where(condition)
    try:
        with session.begin_nested():
            new_balance = session.execute(stmt.returning(col(User.credits))).scalar_one_or_none()
            if new_balance is None:
                raise _missing_or_insufficient(session, user_id=user_id, amount=-amount)
            entry = CreditLedgerEntry(
                user_id=user_id,
                kind=kind,
                amount=amount,
                balance_after=new_balance,
                idempotency_key=idempotency_key,
                generation_id=generation_id,
                purchase_id=purchase_id,
                description=description,
            )
            session.add(entry)
            session.flush()
    except IntegrityError:
        # A concurrent writer used the same key first; our savepoint is gone, theirs stands.
        winner = _existing(session, idempotency_key)
        if winner is None:
            raise
        return _replayed(session, winner, user_id)
    assert entry.id is not None
    return LedgerResult(applied=True, balance=new_balance, entry_id=entry.id)


def _replayed(session: Session, entry: CreditLedgerEntry, user_id: int) -> LedgerResult:
    if entry.user_id != user_id:
        raise ValidationError("This idempotency key belongs to another account.")
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
            when=r.created_at.strftime("%d %b %Y, %H:%M"),
            kind=str(r.kind).capitalize(),
            amount=f"{r.amount:+d}",
            balance_after=r.balance_after,
            description=r.description,
        )
        for r in rows
    ]
