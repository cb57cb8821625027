"""Shared column helpers and the metadata naming convention Alembic relies on."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# Named constraints keep migrations identical on SQLite and PostgreSQL.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Aware UTC now; SQLModel's UTCDateTime stores it zone-less on SQLite, UTC on PostgreSQL."""
    return datetime.now(UTC)


def utc_iso(value: datetime | None) -> str:
    """ISO 8601 in UTC with an explicit `Z`, for the browser to show in the viewer's zone.

    A zone-less value (as SQLite returns them) is UTC by construction (see utcnow).
    """
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def enum_type(enum_cls: type[StrEnum]) -> sa.Enum:
    """A VARCHAR-backed enum (no native PostgreSQL type to migrate later)."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda e: [m.value for m in e],
    )


def enum_field(enum_cls: type[StrEnum], default: Any, *, index: bool = False) -> Any:
    return Field(default=default, sa_type=enum_type(enum_cls), nullable=False, index=index)


def created_at_field() -> Any:
    return Field(default_factory=utcnow, nullable=False)


def json_field() -> Any:
    return Field(default_factory=dict, sa_type=sa.JSON, nullable=False)


def never_reuse_ids(metadata: sa.MetaData) -> None:
    """Mark every table keyed by an integer `id` AUTOINCREMENT on SQLite (migration 0007).

    Keys of the ledger, receipts and jobs are built from row ids; SQLite would otherwise hand
    the largest id out again once its row is deleted. PostgreSQL sequences never go back.
    """
    for table in metadata.tables.values():
        key = list(table.primary_key.columns)
        if len(key) == 1 and key[0].name == "id" and isinstance(key[0].type, sa.Integer):
            table.dialect_kwargs["sqlite_autoincrement"] = True
