"""Usage events: one row per user action, for analytics and the admin dashboard."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from stylestudio.models import UsageAction, UsageEvent


def record_usage(
    session: Session,
    *,
    action: UsageAction,
    user_id: int | None,
    details: dict[str, Any] | None = None,
    ip_address: str | None = None,
    session_id: int | None = None,
) -> None:
    """Append a usage event in the caller's transaction."""
    session.add(
        UsageEvent(
            user_id=user_id,
            action=action,
            details=details or {},
            ip_address=ip_address,
            session_id=session_id,
        )
    )
