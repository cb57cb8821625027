"""The credit ledger: grant, spend, refund and clawback, each atomic and idempotent.

Every grant, spend, refund and adjustment is one movement: a ledger row carrying a unique
idempotency key, inserted only if the balance allows it (`INSERT ... SELECT ... FROM users
WHERE credits + amount >= 0 ON CONFLICT (idempotency_key) DO NOTHING`), and the balance
update that goes with it, run only when the row went in. A replayed key (even a concurrent
one, which waits on the unique index and then does nothing) and a balance too small insert
nothing and change nothing, so no savepoint and no lookup before the write are needed:

- PostgreSQL: one statement. The insert's SELECT locks the user's row (FOR NO KEY UPDATE,
  which under READ COMMITTED reads the newest balance), and a data-modifying CTE sets the
  balance to the row's `balance_after` while the lock is held. NO KEY: the lock an UPDATE
  of the balance takes; FOR UPDATE would also wait for the key-share locks that inserting
  rows referring to the user (a batch's generations) holds, and two such transactions
  spending at once deadlocked.
- SQLite: two statements in one write transaction. Writes are serialized (BEGIN IMMEDIATE,
  or a deferred transaction that cannot take the write lock past a newer commit), so the
  balance the insert read is the one the update changes; the update returns the new balance
  and a mismatch is refused, never recorded.

Both are sent through the driver's cursor, compiled once (`stylestudio.db.compiled_for`):
the ORM's unit of work, a SAVEPOINT and a lookup by key cost a ledgered spend about eight
times a bare UPDATE on SQLite (bench/bench_credits.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, col, select

from stylestudio.db import fetch_prebuilt, write_prebuilt
from stylestudio.models import CreditLedgerEntry, LedgerKind, User, utc_iso, utcnow
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
    return _apply(
        session,
        user_id=user_id,
        amount=amount,
        kind=kind,
        idempotency_key=idempotency_key,
        purchased=amount if kind == LedgerKind.PURCHASE else 0,
        free=amount if kind == LedgerKind.GRANT else 0,
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
        used=amount,
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
        # Lifetime "used" counts what was really consumed; a refunded spend was not.
        used=-amount,
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
    the old one, so the balance is read under the row lock (FOR NO KEY UPDATE on PostgreSQL,
    the write lock a `session_scope` transaction holds from BEGIN IMMEDIATE on SQLite) and
    the UPDATE is conditional on it still being that value.
    """
    if amount < 0:
        raise ValidationError("A clawback cannot add credits.")

    def change() -> CreditLedgerEntry:
        held = session.execute(
            # FOR NO KEY UPDATE, the lock the UPDATE takes (see the module's docstring).
            select(User.credits).where(col(User.id) == user_id).with_for_update(key_share=True)
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


# One movement of credits: `amount` (signed) on the balance, `used` on the lifetime credits
# used (never below zero: a refund gives back only what was counted), `purchased` and `free`
# on their lifetime totals. The ledger row goes in only if the balance stays >= 0 and the key
# is new; the balance moves only if the row went in.
_COLUMNS = (
    "user_id, kind, amount, balance_after, idempotency_key, generation_id, purchase_id, "
    "description, created_at"
)
_TOTALS = "credits, total_credits_used, total_credits_purchased, free_credits_granted"
_SQLITE_INSERT = sa.text(
    f"INSERT INTO credit_ledger ({_COLUMNS}) "
    "SELECT id, :kind, :amount, credits + :amount, :key, :generation_id, :purchase_id, "
    ":description, :created_at FROM users WHERE id = :user_id AND credits + :amount >= 0 "
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, balance_after"
)
_SQLITE_UPDATE = sa.text(
    "UPDATE users SET credits = credits + :amount, "
    "total_credits_used = MAX(total_credits_used + :used, 0), "
    "total_credits_purchased = total_credits_purchased + :purchased, "
    "free_credits_granted = free_credits_granted + :free "
    f"WHERE id = :user_id RETURNING {_TOTALS}"
)
_POSTGRESQL_MOVE = sa.text(
    "WITH entry AS ("
    f"INSERT INTO credit_ledger ({_COLUMNS}) "
    "SELECT id, CAST(:kind AS VARCHAR), CAST(:amount AS INTEGER), "
    "credits + CAST(:amount AS INTEGER), CAST(:key AS VARCHAR), "
    "CAST(:generation_id AS INTEGER), CAST(:purchase_id AS INTEGER), "
    "CAST(:description AS VARCHAR), CAST(:created_at AS TIMESTAMPTZ) "
    "FROM users WHERE id = CAST(:user_id AS INTEGER) "
    "AND credits + CAST(:amount AS INTEGER) >= 0 FOR NO KEY UPDATE "
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, user_id, balance_after"
    "), moved AS ("
    "UPDATE users SET credits = entry.balance_after, "
    "total_credits_used = GREATEST(users.total_credits_used + CAST(:used AS INTEGER), 0), "
    "total_credits_purchased = users.total_credits_purchased + CAST(:purchased AS INTEGER), "
    "free_credits_granted = users.free_credits_granted + CAST(:free AS INTEGER) "
    "FROM entry WHERE users.id = entry.user_id "
    "RETURNING users.credits, users.total_credits_used, users.total_credits_purchased, "
    "users.free_credits_granted"
    ") SELECT entry.id, entry.balance_after, moved.* FROM entry LEFT JOIN moved ON true"
)
_TOTAL_ATTRIBUTES = (
    "credits",
    "total_credits_used",
    "total_credits_purchased",
    "free_credits_granted",
)
_CREATED_AT_PROCESSORS: dict[str, Callable[[object], object] | None] = {}


def _created_at(dialect: sa.Dialect) -> object:
    """Now, as the ORM would store it in `credit_ledger.created_at` on this database."""
    if dialect.name not in _CREATED_AT_PROCESSORS:
        column = CreditLedgerEntry.__table__.c.created_at  # type: ignore[attr-defined]
        _CREATED_AT_PROCESSORS[dialect.name] = column.type.bind_processor(dialect)
    processor = _CREATED_AT_PROCESSORS[dialect.name]
    now = utcnow()
    return processor(now) if processor is not None else now


def _apply(
    session: Session,
    *,
    user_id: int,
    amount: int,
    kind: LedgerKind,
    idempotency_key: str,
    used: int = 0,
    purchased: int = 0,
    free: int = 0,
    description: str = "",
    generation_id: int | None = None,
    purchase_id: int | None = None,
) -> LedgerResult:
    if not idempotency_key:
        raise ValidationError("Every ledger write needs an idempotency key.")
    dialect = session.get_bind().dialect
    values: dict[str, object] = {
        "user_id": user_id,
        "kind": kind.value,
        "amount": amount,
        "key": idempotency_key,
        "generation_id": generation_id,
        "purchase_id": purchase_id,
        "description": description,
        "created_at": _created_at(dialect),
        "used": used,
        "purchased": purchased,
        "free": free,
    }
    if dialect.name == "postgresql":
        rows = write_prebuilt(session, _POSTGRESQL_MOVE, values)
        moved = rows[0] if rows else None
    else:
        rows = write_prebuilt(session, _SQLITE_INSERT, values)
        moved = rows[0] + fetch_prebuilt(session, _SQLITE_UPDATE, values)[0] if rows else None
    if moved is None:
        return _not_moved(
            session,
            user_id=user_id,
            amount=amount,
            kind=kind,
            idempotency_key=idempotency_key,
            generation_id=generation_id,
            purchase_id=purchase_id,
        )
    entry_id, balance_after, *totals = moved
    if totals[0] != balance_after:  # impossible while the row is locked: refuse, never guess
        raise RuntimeError("The balance changed while its ledger row was written.")
    _sync_loaded_user(session, user_id, totals)
    return LedgerResult(applied=True, balance=balance_after, entry_id=entry_id)


def _sync_loaded_user(session: Session, user_id: int, totals: list[object]) -> None:
    """A caller holding the user's object sees the new balance and totals, as it did when
    the ORM wrote them."""
    user = session.identity_map.get(identity_key(User, user_id))
    if user is not None:
        for name, value in zip(_TOTAL_ATTRIBUTES, totals, strict=True):
            set_committed_value(user, name, value)


def _not_moved(
    session: Session,
    *,
    user_id: int,
    amount: int,
    kind: LedgerKind,
    idempotency_key: str,
    generation_id: int | None,
    purchase_id: int | None,
) -> LedgerResult:
    """Why nothing moved: the key was used before (a replay, or a conflict), or the balance
    was too small, or there is no such user."""
    entry = _existing(session, idempotency_key)
    if entry is None:
        raise _missing_or_insufficient(session, user_id=user_id, amount=-amount)
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
