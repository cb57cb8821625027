"""Refunds and disputes: take back the credits of money that went back to the buyer.

Stripe tells us with `charge.refunded` (the charge, with its cumulative `amount_refunded`
and, when included, its refunds) and `charge.dispute.created` (the dispute). Each reversal
takes back the refunded or disputed share of the pack's credits through the ledger
(`credits.clawback`, keyed per refund or dispute id, so a replay takes nothing). The balance
never goes below zero: what the user already spent is recorded on the purchase as
uncollected credits, for an admin to see. A dispute also flags the account for review.

Both functions work inside the caller's transaction (the webhook records the event id in
the same one), so a failure leaves the event to be redelivered rather than half applied.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from stylestudio.models import Purchase, PurchaseStatus, User
from stylestudio.services.billing import credits
from stylestudio.services.billing.billing import format_money
from stylestudio.services.errors import ValidationError

# Refunds in these states gave no money back (or took it back again).
_VOID_REFUND_STATUSES = frozenset({"failed", "canceled"})


def apply_charge_refunded(session: Session, *, charge: dict[str, Any]) -> str:
    """Take back the refunded share of a purchase's credits; say what was done.

    The share is cumulative: after refunds totalling R of a charge of A, ceil(credits * R /
    A) credits are reversed in all, less what earlier refunds or disputes already reversed
    (taken or recorded as uncollected), so a full refund after a partial one takes only the
    rest and a shortfall is not collected again from credits bought later. Each new refund
    id listed on the charge is applied once (key `clawback:refund:<re id>`), oldest first.
    Stripe API versions since 2022-11-15 leave the charge's refund list out, so refunded
    money the list does not account for is applied under `clawback:refund:<ch id>:<R>`:
    R only grows, so that key is new exactly when more money went back.

    An unknown payment intent (a charge that is not a pack purchase) is "ignored".
    """
    purchase = _locked_purchase(session, charge.get("payment_intent"))
    if purchase is None:
        return "ignored"
    charged = _cents(charge.get("amount")) or purchase.amount_cents
    refunded_total = min(
        charged, max(_cents(charge.get("amount_refunded")), purchase.refunded_cents)
    )
    before = (purchase.clawed_back_credits, purchase.uncollected_credits)

    for refund in _refunds_oldest_first(charge):
        refund_id = str(refund.get("id") or "")
        if not refund_id or refund.get("status") in _VOID_REFUND_STATUSES:
            continue
        cumulative = min(refunded_total, purchase.refunded_cents + _cents(refund.get("amount")))
        _reverse(
            session,
            purchase,
            charged_cents=charged,
            reversed_cents=cumulative,
            refunded_cents=cumulative,
            idempotency_key=f"clawback:refund:{refund_id}",
            description=_describe("Refund", purchase, _cents(refund.get("amount"))),
        )
        if reason := refund.get("reason"):
            purchase.refund_reason = str(reason)[:500]

    if refunded_total > purchase.refunded_cents:
        charge_id = charge.get("id")
        if not isinstance(charge_id, str) or not charge_id:
            raise ValidationError("The charge has no id.")
        _reverse(
            session,
            purchase,
            charged_cents=charged,
            reversed_cents=refunded_total,
            refunded_cents=refunded_total,
            idempotency_key=f"clawback:refund:{charge_id}:{refunded_total}",
            description=_describe("Refund", purchase, refunded_total - purchase.refunded_cents),
        )

    if purchase.refunded_cents >= charged:
        purchase.status = PurchaseStatus.REFUNDED
    session.add(purchase)
    return _summary(purchase, before)


def apply_dispute_created(session: Session, *, dispute: dict[str, Any]) -> str:
    """Take back the disputed share of a purchase's credits and flag the buyer for review.

    A dispute pulls the money back before anyone has judged it, and chargebacks are how
    stolen cards cash out, so the credits go now (key `clawback:dispute:<dp id>`) and an
    admin looks at the account. The disputed share adds to what was already refunded (a
    dispute of the rest after a partial refund reverses the whole pack, never more).

    An unknown payment intent is "ignored".
    """
    dispute_id = dispute.get("id")
    if not isinstance(dispute_id, str) or not dispute_id:
        raise ValidationError("The dispute has no id.")
    purchase = _locked_purchase(session, dispute.get("payment_intent"))
    if purchase is None:
        return "ignored"
    assert purchase.id is not None
    before = (purchase.clawed_back_credits, purchase.uncollected_credits)
    amount = _cents(dispute.get("amount"))
    reason = str(dispute.get("reason") or "unspecified")[:100]
    applied = _reverse(
        session,
        purchase,
        charged_cents=purchase.amount_cents,
        reversed_cents=min(purchase.amount_cents, purchase.refunded_cents + amount),
        refunded_cents=None,
        idempotency_key=f"clawback:dispute:{dispute_id}",
        description=_describe(f"Dispute ({reason})", purchase, amount),
    )
    if applied:
        # A Core UPDATE: the clawback changed this row's balance behind the ORM's back.
        session.execute(
            sa.update(User)
            .where(col(User.id) == purchase.user_id)
            .values(
                flagged_for_review=True,
                flag_reason=f"Payment disputed ({reason}) on purchase #{purchase.id}",
            )
        )
    session.add(purchase)
    return _summary(purchase, before)


def _locked_purchase(session: Session, payment_intent: object) -> Purchase | None:
    """The purchase paid by `payment_intent`, with its buyer's row and its own locked.

    Locks are taken user first, then purchase — the order fulfilment takes them in (its
    grant updates the user, then the purchase) — so the two never deadlock. Holding them
    makes concurrent deliveries of refunds for one purchase apply one after the other, each
    seeing what the previous one reversed.
    """
    if not isinstance(payment_intent, str) or not payment_intent:
        return None
    user_id = session.exec(
        select(Purchase.user_id).where(Purchase.stripe_payment_intent_id == payment_intent)
    ).first()
    if user_id is None:
        return None
    session.execute(select(User.id).where(col(User.id) == user_id).with_for_update())
    return session.exec(
        select(Purchase)
        .where(Purchase.stripe_payment_intent_id == payment_intent)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _reverse(
    session: Session,
    purchase: Purchase,
    *,
    charged_cents: int,
    reversed_cents: int,
    refunded_cents: int | None,
    idempotency_key: str,
    description: str,
) -> bool:
    """Bring the purchase's reversed credits up to the share of `reversed_cents` of the
    charge, once per key; False when the key was used before (nothing changes).

    `refunded_cents` is the charge's refunded total after a refund (None for a dispute).
    """
    assert purchase.id is not None
    share = _ceil_div(purchase.credits * reversed_cents, charged_cents) if charged_cents else 0
    target = min(purchase.credits, share)
    owed = max(0, target - purchase.clawed_back_credits - purchase.uncollected_credits)
    result = credits.clawback(
        session,
        user_id=purchase.user_id,
        amount=owed,
        idempotency_key=idempotency_key,
        purchase_id=purchase.id,
        description=description,
    )
    if not result.applied:
        return False
    if refunded_cents is not None:
        purchase.refunded_cents = max(purchase.refunded_cents, refunded_cents)
    purchase.clawed_back_credits += result.taken
    purchase.uncollected_credits += result.shortfall
    return True


def _describe(what: str, purchase: Purchase, cents: int) -> str:
    """E.g. "Refund — Standard pack (50 credits) · $9.99" for the credits history."""
    money = format_money(cents, purchase.currency)
    return f"{what} — {purchase.pack_display_name} pack ({purchase.credits} credits) · {money}"


def _refunds_oldest_first(charge: dict[str, Any]) -> list[dict[str, Any]]:
    listing = charge.get("refunds")
    data = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(data, list):
        return []
    refunds = [r for r in reversed(data) if isinstance(r, dict)]  # Stripe lists newest first
    return sorted(refunds, key=lambda r: _cents(r.get("created")))


def _summary(purchase: Purchase, before: tuple[int, int]) -> str:
    taken = purchase.clawed_back_credits - before[0]
    short = purchase.uncollected_credits - before[1]
    if (taken, short) == (0, 0):
        return f"purchase {purchase.id} unchanged"
    return (
        f"purchase {purchase.id} {PurchaseStatus(purchase.status).value}: "
        f"{taken} credits taken back, {short} uncollected"
    )


def _cents(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)
