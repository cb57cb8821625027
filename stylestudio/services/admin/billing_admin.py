"""Administering billing: editing credit packs, billing settings and model prices, each
change audited (before and after of the fields that changed).

Every function takes the caller's `AdminProof` (services/accounts/admin_rights.py), made in the same
transaction: a call without one does not type-check.
Values arrive from a browser form, so each function checks types and ranges itself.
Purchases and revenue are in `admin_purchases`, the audit log's reading in `admin_audit_log`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeGuard

from sqlmodel import Session, col, select

from stylestudio.adapters.generation_engine import ModelSpec
from stylestudio.models import AuditLogEntry, BillingSettings, CreditPack, utcnow
from stylestudio.services.accounts.admin_rights import AdminProof
from stylestudio.services.billing import pricing
from stylestudio.services.billing.billing import format_money, get_billing_settings
from stylestudio.services.errors import NotFoundError, ValidationError

MAX_PACK_NAME_LENGTH = 100
MIN_PACK_CREDITS, MAX_PACK_CREDITS = 1, 100_000
MIN_PRICE_CENTS, MAX_PRICE_CENTS = 50, 1_000_000
MIN_FREE_TRIAL_CREDITS, MAX_FREE_TRIAL_CREDITS = 0, 1000

PACK_UPDATED = "billing.pack_updated"
SETTINGS_UPDATED = "billing.settings_updated"
MODEL_PRICE_UPDATED = "billing.model_multiplier_updated"

_DOLLARS_RE = re.compile(r"(\d{1,9})(?:\.(\d{1,2}))?|\.(\d{1,2})")
_WHOLE_RE = re.compile(r"\d{1,9}")


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
