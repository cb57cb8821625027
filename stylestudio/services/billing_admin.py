# Over 500 lines: the parts of one admin screen (packs, prices, revenue…).
"""Administering billing: editing packs and settings (audited), purchases, revenue, audit log.

Every function takes the caller's `AdminProof` (services/admin_rights.py), made in the same
transaction: a call without one does not type-check.
Values arrive from a browser form, so each function checks types and ranges itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeGuard

from sqlmodel import Session, col, func, select

from stylestudio.adapters.generation_engine import ModelSpec
from stylestudio.models import (
    AuditLogEntry,
    BillingSettings,
    CreditPack,
    Purchase,
    PurchaseStatus,
    User,
    utc_iso,
    utcnow,
)
from stylestudio.services import pricing
from stylestudio.services.admin_rights import AdminProof
from stylestudio.services.admin_users import DESCRIPTIONS as USER_DESCRIPTIONS
from stylestudio.services.billing import format_money, get_billing_settings
from stylestudio.services.errors import NotFoundError, ValidationError
from stylestudio.services.featuring import DESCRIPTIONS as MODERATION_DESCRIPTIONS

MAX_PACK_NAME_LENGTH = 100
MIN_PACK_CREDITS, MAX_PACK_CREDITS = 1, 100_000
MIN_PRICE_CENTS, MAX_PRICE_CENTS = 50, 1_000_000
MIN_FREE_TRIAL_CREDITS, MAX_FREE_TRIAL_CREDITS = 0, 1000
MAX_LIST_LIMIT = 200

PACK_UPDATED = "billing.pack_updated"
SETTINGS_UPDATED = "billing.settings_updated"
MODEL_PRICE_UPDATED = "billing.model_multiplier_updated"

_DOLLARS_RE = re.compile(r"(\d{1,9})(?:\.(\d{1,2}))?|\.(\d{1,2})")
_WHOLE_RE = re.compile(r"\d{1,9}")
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
class EditablePack:
    """One pack as the admin's billing form shows it; `price` in dollars, e.g. "9.99"."""

    code: str
    name: str
    credits: int
    price: str
    is_active: bool


@dataclass(frozen=True)
class EditableBillingSettings:
    free_trial_credits: int
    refund_on_failure: bool


@dataclass(frozen=True)
class PurchaseRow:
    id: int
    user_email: str
    pack_name: str
    credits: int
    amount: str  # "$9.99"
    refunded: str  # "$4.99", or "" when nothing was refunded
    status: str  # a PurchaseStatus value
    provider: str
    provider_session_id: str
    payment_intent: str
    created_at: str  # ISO 8601 UTC
    clawed_back_credits: int
    uncollected_credits: int


@dataclass(frozen=True)
class AuditRow:
    id: int
    created_at: str  # ISO 8601 UTC
    actor: str
    what: str
    changes: list[str]  # "Price: $9.99 → $12.99", one per changed field


def parse_dollars(value: object) -> int:
    """A price typed in dollars ("9.99", "$10", "12.5") as cents; the range is checked by
    `update_pack`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value * 100
    if not isinstance(value, str) or len(value) > 20:
        raise ValidationError("Enter the price in dollars, e.g. 9.99.")
    match = _DOLLARS_RE.fullmatch(value.strip().removeprefix("$").replace(",", ""))
    if match is None:
        raise ValidationError("Enter the price in dollars, e.g. 9.99.")
    return int(Decimal(match.group(0)) * 100)


def parse_whole_number(value: object, *, label: str) -> int:
    """A count typed into a form ("50") as an int."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and len(value) <= 20 and _WHOLE_RE.fullmatch(value.strip()):
        return int(value.strip())
    raise ValidationError(f"{label} must be a whole number.")


def list_packs(session: Session, *, admin: AdminProof) -> list[EditablePack]:
    """Every pack, on sale or not, in display order, for the admin's billing form."""
    packs = session.exec(
        select(CreditPack).order_by(col(CreditPack.sort_order), col(CreditPack.id))
    ).all()
    return [
        EditablePack(
            code=p.code,
            name=p.display_name,
            credits=p.credits,
            price=f"{p.price_cents // 100}.{p.price_cents % 100:02d}",
            is_active=p.is_active,
        )
        for p in packs
    ]


def billing_settings_form(session: Session, *, admin: AdminProof) -> EditableBillingSettings:
    settings = get_billing_settings(session)
    return EditableBillingSettings(
        free_trial_credits=settings.free_trial_credits,
        refund_on_failure=settings.refund_on_failure,
    )


def update_pack(
    session: Session,
    *,
    admin: AdminProof,
    code: str,
    display_name: str,
    credits: int,
    price_cents: int,
    is_active: bool,
) -> None:
    """Change a pack's name, size, price and whether it is on sale.

    Every value is validated before anything is written; a change is recorded in the audit
    log (before and after of the fields that changed), a save that changes nothing is not.
    The next checkout charges the new price (purchases copy it when they are created).
    """
    if not isinstance(code, str) or not code or len(code) > 50:
        raise NotFoundError("That credit pack does not exist.")
    name = _pack_name(display_name)
    _check_range(credits, MIN_PACK_CREDITS, MAX_PACK_CREDITS, "Credits")
    if not _is_int(price_cents) or not MIN_PRICE_CENTS <= price_cents <= MAX_PRICE_CENTS:
        raise ValidationError(
            f"Price must be between {format_money(MIN_PRICE_CENTS)}"
            f" and {format_money(MAX_PRICE_CENTS)}."
        )
    if not isinstance(is_active, bool):
        raise ValidationError("On sale must be on or off.")
    # Locked, so two admins saving at once each audit what they actually replaced.
    pack = session.exec(select(CreditPack).where(CreditPack.code == code).with_for_update()).first()
    if pack is None:
        raise NotFoundError("That credit pack does not exist.")
    before = {
        "display_name": pack.display_name,
        "credits": pack.credits,
        "price_cents": pack.price_cents,
        "is_active": pack.is_active,
    }
    after = {
        "display_name": name,
        "credits": credits,
        "price_cents": price_cents,
        "is_active": is_active,
    }
    changed = _changed(before, after)
    if not changed:
        return
    pack.display_name, pack.credits, pack.price_cents, pack.is_active = (
        name,
        credits,
        price_cents,
        is_active,
    )
    pack.updated_at = utcnow()
    session.add(pack)
    _audit(
        session,
        actor_user_id=admin.user_id,
        action=PACK_UPDATED,
        target_type="credit_pack",
        target_id=pack.code,
        before={k: before[k] for k in changed},
        after={k: after[k] for k in changed},
    )


def update_billing_settings(
    session: Session, *, admin: AdminProof, free_trial_credits: int, refund_on_failure: bool
) -> None:
    """Change the free-trial grant for new accounts and whether failed generations are
    refunded; audited like `update_pack`, and a no-op save writes nothing."""
    _check_range(
        free_trial_credits, MIN_FREE_TRIAL_CREDITS, MAX_FREE_TRIAL_CREDITS, "Free-trial credits"
    )
    if not isinstance(refund_on_failure, bool):
        raise ValidationError("Refund on failure must be on or off.")
    settings = session.exec(
        select(BillingSettings).where(BillingSettings.id == 1).with_for_update()
    ).first() or get_billing_settings(session)
    before = {
        "free_trial_credits": settings.free_trial_credits,
        "refund_on_failure": settings.refund_on_failure,
    }
    after = {"free_trial_credits": free_trial_credits, "refund_on_failure": refund_on_failure}
    changed = _changed(before, after)
    if not changed:
        return
    settings.free_trial_credits = free_trial_credits
    settings.refund_on_failure = refund_on_failure
    settings.updated_at = utcnow()
    settings.updated_by_id = admin.user_id
    session.add(settings)
    _audit(
        session,
        actor_user_id=admin.user_id,
        action=SETTINGS_UPDATED,
        target_type="billing_settings",
        target_id=str(settings.id),
        before={k: before[k] for k in changed},
        after={k: after[k] for k in changed},
    )


@dataclass(frozen=True)
class EditableModelPrice:
    key: str
    label: str
    multiplier: str  # as the admin edits it, e.g. "1.5"


def model_prices_form(
    session: Session, *, admin: AdminProof, models: tuple[ModelSpec, ...]
) -> list[EditableModelPrice]:
    """The configured engine's models with their price multipliers."""
    overrides = get_billing_settings(session).model_multipliers
    return [
        EditableModelPrice(
            key=m.key,
            label=m.label,
            multiplier=pricing.format_multiplier(pricing.model_multiplier(m.key, overrides)),
        )
        for m in models
    ]


def update_model_multiplier(
    session: Session,
    *,
    admin: AdminProof,
    model: str,
    multiplier: object,
    models: tuple[ModelSpec, ...],
) -> None:
    """Set what one of the engine's models costs (its multiplier of the base price); audited
    like `update_pack`, and a no-op save writes nothing. The next quote and spend use it."""
    if not isinstance(model, str) or model not in {m.key for m in models}:
        raise NotFoundError("That model is not offered by the configured engine.")
    value = pricing.parse_multiplier(multiplier)
    settings = session.exec(
        select(BillingSettings).where(BillingSettings.id == 1).with_for_update()
    ).first() or get_billing_settings(session)
    current = pricing.model_multiplier(model, settings.model_multipliers)
    if current == value:
        return
    # A new dict: SQLAlchemy sees a JSON column change only when the value is replaced.
    settings.model_multipliers = {
        **settings.model_multipliers,
        model: pricing.format_multiplier(value),
    }
    settings.updated_at = utcnow()
    settings.updated_by_id = admin.user_id
    session.add(settings)
    _audit(
        session,
        actor_user_id=admin.user_id,
        action=MODEL_PRICE_UPDATED,
        target_type="model",
        target_id=model,
        before={"multiplier": pricing.format_multiplier(current)},
        after={"multiplier": pricing.format_multiplier(value)},
    )


def checkout_session_of(session: Session, *, admin: AdminProof, purchase_id: int) -> str:
    """The provider's checkout session id of a purchase, to ask the provider about it."""
    if not _is_int(purchase_id):
        raise NotFoundError("That purchase does not exist.")
    purchase = session.get(Purchase, purchase_id)
    if purchase is None:
        raise NotFoundError("That purchase does not exist.")
    if not purchase.stripe_checkout_session_id:
        raise ValidationError(
            f"Purchase {purchase_id} never reached the provider: there is nothing to check."
        )
    return purchase.stripe_checkout_session_id


def list_purchases(session: Session, *, admin: AdminProof, limit: int = 50) -> list[PurchaseRow]:
    """The newest purchases of every user, with what refunds could and could not take back."""
    rows = session.exec(
        select(Purchase, User.email)
        .join(User, col(User.id) == Purchase.user_id, isouter=True)
        .order_by(col(Purchase.id).desc())
        .limit(_clamp(limit))
    ).all()
    result = []
    for purchase, email in rows:
        assert purchase.id is not None
        refunded_cents = int(getattr(purchase, "refunded_cents", 0) or 0)
        result.append(
            PurchaseRow(
                id=purchase.id,
                user_email=email or "(deleted account)",
                pack_name=purchase.pack_display_name,
                credits=purchase.credits,
                amount=format_money(purchase.amount_cents, purchase.currency),
                refunded=format_money(refunded_cents, purchase.currency) if refunded_cents else "",
                status=PurchaseStatus(purchase.status).value,
                provider=str(purchase.provider),
                provider_session_id=purchase.stripe_checkout_session_id or "",
                payment_intent=purchase.stripe_payment_intent_id or "",
                created_at=utc_iso(purchase.created_at),
                # Columns of the refunds migration; zero on a schema without them.
                clawed_back_credits=int(getattr(purchase, "clawed_back_credits", 0) or 0),
                uncollected_credits=int(getattr(purchase, "uncollected_credits", 0) or 0),
            )
        )
    return result


def revenue_summary(session: Session, *, admin: AdminProof) -> str:
    """Money kept: completed and refunded purchases minus what was refunded, e.g. "$34.98".

    Without a `refunded_cents` column a refunded purchase counts as refunded in full.
    """
    kept = (PurchaseStatus.COMPLETED, PurchaseStatus.REFUNDED)
    gross = session.exec(
        select(func.coalesce(func.sum(Purchase.amount_cents), 0)).where(
            col(Purchase.status).in_(kept)
        )
    ).one()
    refunded_column = getattr(Purchase, "refunded_cents", None)
    if refunded_column is not None:
        refunded = session.exec(
            select(func.coalesce(func.sum(refunded_column), 0)).where(
                col(Purchase.status).in_(kept)
            )
        ).one()
    else:
        refunded = session.exec(
            select(func.coalesce(func.sum(Purchase.amount_cents), 0)).where(
                Purchase.status == PurchaseStatus.REFUNDED
            )
        ).one()
    return format_money(int(gross) - int(refunded))


def list_audit_log(session: Session, *, admin: AdminProof, limit: int = 30) -> list[AuditRow]:
    """The newest audit entries: when, who, what, and each changed field's before → after."""
    rows = session.exec(
        select(AuditLogEntry, User.email)
        .join(User, col(User.id) == AuditLogEntry.actor_user_id, isouter=True)
        .order_by(col(AuditLogEntry.id).desc())
        .limit(_clamp(limit))
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


def _pack_name(value: object) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name or len(name) > MAX_PACK_NAME_LENGTH:
        raise ValidationError(f"Pack name must be 1–{MAX_PACK_NAME_LENGTH} characters.")
    return name


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_range(value: object, low: int, high: int, label: str) -> None:
    if not _is_int(value) or not low <= value <= high:
        raise ValidationError(f"{label} must be a whole number from {low:,} to {high:,}.")


def _clamp(limit: int) -> int:
    return max(1, min(int(limit), MAX_LIST_LIMIT))


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [key for key in after if before[key] != after[key]]


def _audit(
    session: Session,
    *,
    actor_user_id: int,
    action: str,
    target_type: str,
    target_id: str,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    session.add(
        AuditLogEntry(
            actor_user_id=actor_user_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details={"before": before, "after": after},
        )
    )


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
    if key == "price_cents" and _is_int(value):
        return format_money(value)
    if isinstance(value, bool):
        return "on" if value else "off"
    return "—" if value is None else str(value)
