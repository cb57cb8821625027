"""What happened: usage events, their daily rollups and the admin audit log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from stylestudio.models.base import created_at_field, enum_field, json_field
from stylestudio.models.enums import UsageAction


class UsageEvent(SQLModel, table=True):
    __tablename__ = "usage_events"
    __table_args__ = (
        sa.Index("ix_usage_events_user_id_created_at", "user_id", "created_at"),
        sa.Index("ix_usage_events_action_created_at", "action", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    action: UsageAction = enum_field(UsageAction, UsageAction.LOGIN)
    details: dict[str, Any] = json_field()
    ip_address: str | None = Field(default=None, max_length=64)
    session_id: int | None = None
    created_at: datetime = created_at_field()


class UsageDaily(SQLModel, table=True):
    __tablename__ = "usage_daily"
    __table_args__ = (sa.UniqueConstraint("day", "user_id", "action"),)

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    action: UsageAction = enum_field(UsageAction, UsageAction.LOGIN)
    count: int = Field(default=0)
    credits: int = Field(default=0)


class AuditLogEntry(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_target_type_target_id", "target_type", "target_id"),)

    id: int | None = Field(default=None, primary_key=True)
    actor_user_id: int | None = Field(
        default=None, foreign_key="users.id", index=True, ondelete="SET NULL"
    )
    action: str = Field(max_length=100)
    target_type: str = Field(max_length=50)
    target_id: str = Field(max_length=100)
    details: dict[str, Any] = json_field()
    ip_address: str | None = Field(default=None, max_length=64)
    created_at: datetime = created_at_field()
