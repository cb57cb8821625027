"""Administering users on /admin: find them, adjust their credits with a reason, suspend and
restore them. Every change is audited. Every function takes the caller's `AdminProof`
(services/accounts/admin_rights.py), made in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from stylestudio.models import AuditLogEntry, LedgerKind, User, UserSession, utc_iso, utcnow
from stylestudio.services.accounts import accounts
from stylestudio.services.accounts.admin_rights import AdminProof
from stylestudio.services.billing import credits
from stylestudio.services.errors import NotFoundError, ValidationError

CREDITS_ADJUSTED = "user.credits_adjusted"
SUSPENDED = "user.suspended"
RESTORED = "user.restored"
MAX_ADJUSTMENT = 100_000
MAX_REASON = 500
DESCRIPTIONS = {
    CREDITS_ADJUSTED: "Credits adjusted",
    SUSPENDED: "User suspended",
    RESTORED: "User restored",
}


@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    name: str
    credits: int
    role: str
    suspended: bool
    suspended_reason: str
    created_at: str
    last_login_at: str


def search_users(
    session: Session, *, admin: AdminProof, query: object, limit: int = 50
) -> list[UserRow]:
    """Users whose email or name contains `query` (all users, newest first, without one)."""
    text = query.strip().lower()[:200] if isinstance(query, str) else ""
    stmt = select(User).order_by(col(User.id).desc()).limit(max(1, min(limit, 200)))
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            sa.or_(
                sa.func.lower(col(User.email)).like(pattern, escape="\\"),
                sa.func.lower(col(User.name)).like(pattern, escape="\\"),
            )
        )
    users = session.exec(stmt).all()
    # Accounts from before sign-ins were recorded on the user: their newest session.
    latest_session = dict(
        session.exec(
            select(UserSession.user_id, sa.func.max(UserSession.created_at))
            .where(col(UserSession.user_id).in_([u.id for u in users]))
            .group_by(col(UserSession.user_id))
        ).all()
    )
    return [
        UserRow(
            id=u.id or 0,
            email=u.email,
            name=u.name,
            credits=u.credits,
            role=u.role.value,
            suspended=u.is_disabled,
            suspended_reason=u.disabled_reason or "",
            created_at=utc_iso(u.created_at),
            last_login_at=utc_iso(_latest(u.last_login_at, latest_session.get(u.id or 0))),
        )
        for u in users
    ]


def _latest(*moments: datetime | None) -> datetime | None:
    known = [m.replace(tzinfo=None) for m in moments if m is not None]
    return max(known) if known else None


def _user_by_email(session: Session, email: object) -> User:
    try:
        address = accounts.normalize_email(email)
    except ValidationError:
        raise NotFoundError("No user has that email address.") from None
    user = session.exec(select(User).where(User.email == address)).first()
    if user is None or user.id is None:
        raise NotFoundError("No user has that email address.")
    return user


def _reason(reason: object) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise ValidationError("Give a reason.")
    if len(text) > MAX_REASON:
        raise ValidationError(f"Keep the reason under {MAX_REASON} characters.")
    return text


def adjust_credits(
    session: Session,
    *,
    admin: AdminProof,
    email: object,
    change: object,
    reason: object,
    request_key: str,
) -> int:
    """Add (positive `change`) or take back (negative) credits, as a ledger `adjustment`
    with the admin's reason; once per `request_key`. Taking more than the balance is
    refused. Returns the new balance."""
    user = _user_by_email(session, email)
    assert user.id is not None
    if isinstance(change, str):
        try:
            change = int(change.strip())
        except ValueError:
            raise ValidationError("Enter the change as a whole number, e.g. 25 or -10.") from None
    if isinstance(change, bool) or not isinstance(change, int) or change == 0:
        raise ValidationError("Enter the change as a whole number, e.g. 25 or -10.")
    if abs(change) > MAX_ADJUSTMENT:
        raise ValidationError(f"Adjust by at most {MAX_ADJUSTMENT} credits at a time.")
    text = _reason(reason)
    key = f"adjustment:{request_key}"[:100]
    description = f"Adjustment by an administrator: {text}"
    if change > 0:
        result = credits.grant(
            session,
            user_id=user.id,
            amount=change,
            idempotency_key=key,
            kind=LedgerKind.ADJUSTMENT,
            description=description,
        )
    else:
        result = credits.take_adjustment(
            session, user_id=user.id, amount=-change, idempotency_key=key, description=description
        )
    if result.applied:
        _audit(session, admin.user_id, CREDITS_ADJUSTED, user.id, {"change": change}, text)
    return result.balance


def set_suspended(
    session: Session, *, admin: AdminProof, email: object, suspended: bool, reason: object
) -> None:
    """Suspend (no sign-in, no generating; every open session ends) or restore a user."""
    user = _user_by_email(session, email)
    assert user.id is not None
    if user.id == admin.user_id:
        raise ValidationError("You cannot suspend or restore your own account.")
    text = _reason(reason)
    if user.is_disabled == suspended:
        return
    now = utcnow()
    user.is_disabled = suspended
    user.disabled_reason = text if suspended else None
    user.updated_at = now
    session.add(user)
    if suspended:
        session.execute(
            sa.update(UserSession)
            .where(col(UserSession.user_id) == user.id, col(UserSession.revoked_at).is_(None))
            .values(revoked_at=now)
        )
    _audit(
        session,
        admin.user_id,
        SUSPENDED if suspended else RESTORED,
        user.id,
        {"suspended": suspended},
        text,
    )


def _audit(
    session: Session,
    actor_user_id: int,
    action: str,
    user_id: int,
    change: dict[str, object],
    reason: str,
) -> None:
    session.add(
        AuditLogEntry(
            actor_user_id=actor_user_id,
            action=action,
            target_type="user",
            target_id=str(user_id),
            details={**change, "reason": reason},
        )
    )
