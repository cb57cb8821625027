"""The credit ledger read back a page at a time, for the REST API (`GET /credits/ledger`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from stylestudio.models import CreditLedgerEntry, utc_iso


@dataclass(frozen=True)
class LedgerEntryView:
    """One credit movement as the REST API lists it (amount signed, times in UTC)."""

    id: int
    created_at: str
    kind: str
    amount: int
    balance_after: int
    description: str
    generation_id: int | None


def ledger_page(
    session: Session, *, user_id: int, limit: int = 50, before_id: int | None = None
) -> list[LedgerEntryView]:
    """A page of the user's credit movements, newest first, keyset on id: the next page
    starts before the last one's id (rows added meanwhile never shift a page)."""
    stmt = select(CreditLedgerEntry).where(CreditLedgerEntry.user_id == user_id)
    if before_id is not None:
        stmt = stmt.where(col(CreditLedgerEntry.id) < before_id)
    rows = session.exec(
        stmt.order_by(col(CreditLedgerEntry.id).desc()).limit(max(1, min(limit, 201)))
    ).all()
    return [
        LedgerEntryView(
            id=r.id or 0,
            created_at=utc_iso(r.created_at),
            kind=str(r.kind),
            amount=r.amount,
            balance_after=r.balance_after,
            description=r.description,
            generation_id=r.generation_id,
        )
        for r in rows
    ]
