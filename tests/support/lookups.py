"""Reading back what a test made: balances, ledger entries, generations, their images and
the files in a storage directory."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from stylestudio.db import session_scope
from stylestudio.models import CreditLedgerEntry, Generation, Image, ImageCategory, LedgerKind
from stylestudio.services.billing import credits


def balance(db: Engine, user_id: int) -> int:
    """`user_id`'s credit balance now."""
    with session_scope(db, write=False) as session:
        return credits.balance(session, user_id=user_id)


def balance_and_ledger_sum(db: Engine, user_id: int) -> tuple[int, int]:
    """(balance, ledger sum): the two must always agree."""
    with session_scope(db, write=False) as session:
        return (
            credits.balance(session, user_id=user_id),
            credits.ledger_sum(session, user_id=user_id),
        )


def ledger_entries(db: Engine, user_id: int, kind: LedgerKind) -> list[CreditLedgerEntry]:
    """`user_id`'s ledger entries of `kind`, oldest first."""
    with session_scope(db, write=False) as session:
        return list(
            session.exec(
                select(CreditLedgerEntry)
                .where(CreditLedgerEntry.user_id == user_id, CreditLedgerEntry.kind == kind)
                .order_by(col(CreditLedgerEntry.id))
            ).all()
        )


def stored_generation(db: Engine, generation_id: int) -> Generation:
    """The generation as it is now (detached)."""
    with session_scope(db, write=False) as session:
        found = session.get(Generation, generation_id)
        assert found is not None
        return found


def generated_image_count(db: Engine, generation_id: int) -> int:
    """How many result images the generation has."""
    with session_scope(db, write=False) as session:
        return session.exec(
            select(func.count())
            .select_from(Image)
            .where(Image.generation_id == generation_id, Image.category == ImageCategory.GENERATED)
        ).one()


def files_under(root: Path) -> list[Path]:
    """Every file below `root` (none if it does not exist)."""
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
