"""The audit log as the admin page shows it: when, who, what, and each changed field's
before → after, in words (billing, user and moderation actions alike).

Every function takes the caller's `AdminProof` (services/accounts/admin_rights.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from stylestudio.models import AuditLogEntry, User, utc_iso
from stylestudio.services.accounts.admin_rights import AdminProof
from stylestudio.services.admin.admin_users import DESCRIPTIONS as USER_DESCRIPTIONS
from stylestudio.services.admin.billing_admin import (
    MODEL_PRICE_UPDATED,
    PACK_UPDATED,
    SETTINGS_UPDATED,
)
from stylestudio.services.billing.billing import format_money
from stylestudio.services.moderation.featuring import DESCRIPTIONS as MODERATION_DESCRIPTIONS

MAX_LIST_LIMIT = 200
# How audit details read on the admin page.
_LABELS = {
    "display_name": "Name",
    "credits": "Credits",
    "price_cents": "Price",
    "is_active": "On sale",
    "free_trial_credits": "Free-trial credits",
    "refund_on_failure": "Refund on failure",
    "multiplier": "Price multiplier",
    "moderation_status": "Status",
    "featured": "On Explore",
    "reason": "Reason",
    "title": "Title",
    "publishing_suspended": "Publishing suspended",
}


@dataclass(frozen=True)
class AuditRow:
    id: int
    created_at: str  # ISO 8601 UTC
    actor: str
    what: str
    changes: list[str]  # "Price: $9.99 → $12.99", one per changed field


def list_audit_log(session: Session, *, admin: AdminProof, limit: int = 30) -> list[AuditRow]:
    """The newest audit entries: when, who, what, and each changed field's before → after."""
    rows = session.exec(
        select(AuditLogEntry, User.email)
        .join(User, col(User.id) == AuditLogEntry.actor_user_id, isouter=True)
        .order_by(col(AuditLogEntry.id).desc())
        .limit(max(1, min(int(limit), MAX_LIST_LIMIT)))
    ).all()
    # Entries about a user name them by email (their id means nothing to a reader).
    user_ids = {
        int(entry.target_id)
        for entry, _ in rows
        if entry.target_type == "user" and entry.target_id.isdigit()
    }
    emails = (
        dict(session.exec(select(User.id, User.email).where(col(User.id).in_(user_ids))).all())
        if user_ids
        else {}
    )
    result = []
    for entry, email in rows:
        assert entry.id is not None
        result.append(
            AuditRow(
                id=entry.id,
                created_at=utc_iso(entry.created_at),
                actor=email or ("(deleted account)" if entry.actor_user_id else "system"),
                what=_describe_action(entry, emails),
                changes=_describe_changes(entry.details),
            )
        )
    return result


def _describe_action(entry: AuditLogEntry, emails: dict[int | None, str]) -> str:
    if entry.action == SETTINGS_UPDATED:
        return "Billing settings updated"
    if entry.action == PACK_UPDATED:
        return f"Pack updated: {entry.target_id}"
    if entry.action == MODEL_PRICE_UPDATED:
        return f"Model price updated: {entry.target_id}"
    target = f"{entry.target_type} {entry.target_id}"
    if entry.target_type == "user":
        found = emails.get(int(entry.target_id)) if entry.target_id.isdigit() else None
        target = found or "(deleted account)"
    if entry.action in USER_DESCRIPTIONS:
        return f"{USER_DESCRIPTIONS[entry.action]}: {target}"
    if entry.action in MODERATION_DESCRIPTIONS:
        return f"{MODERATION_DESCRIPTIONS[entry.action]}: {target}"
    return f"{entry.action} ({target})"


def _describe_changes(details: object) -> list[str]:
    if not isinstance(details, dict):
        return []
    before, after = details.get("before"), details.get("after")
    if not isinstance(before, dict) or not isinstance(after, dict):
        return [f"{k}: {v}" for k, v in details.items()]
    return [
        f"{_LABELS.get(key, key)}: {_show(key, before.get(key))} → {_show(key, after.get(key))}"
        for key in after
    ]


def _show(key: str, value: object) -> str:
    if key == "price_cents" and type(value) is int:
        return format_money(value)
    if isinstance(value, bool):
        return "on" if value else "off"
    return "—" if value is None else str(value)
