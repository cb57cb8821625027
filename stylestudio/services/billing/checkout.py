"""Buying credit packs: checkout sessions, fulfilment exactly once, provider events.

Money arrives in the ledger by one function, `fulfil_checkout`, whoever calls it (the
webhook, the browser's return, reconciliation). It never trusts its caller: it reads the
session from the provider, and grants with the key `purchase:<session id>`, so however many
times and in whatever order it runs, a payment adds its credits once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from stylestudio.adapters.payments import (
    CheckoutProvider,
    CheckoutRequest,
    PaymentProviderError,
    ProviderSession,
)
from stylestudio.db import session_scope
from stylestudio.models import (
    CheckoutSession,
    CheckoutStatus,
    CreditPack,
    LedgerKind,
    PaymentProvider,
    ProcessedWebhookEvent,
    Purchase,
    PurchaseStatus,
    User,
    utcnow,
)
from stylestudio.services.billing import credits, payment_reversals
from stylestudio.services.billing.billing import format_money
from stylestudio.services.errors import NotFoundError, ValidationError
from stylestudio.services.integrations.webhook_events import emit_credits_purchased

log = logging.getLogger(__name__)

# Stripe event types that change a purchase; every other type is acknowledged and ignored.
SESSION_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    }
)
# Replaced by the purchase's id in a checkout's cancel URL: the return from checkout's
# Cancel link says which purchase the buyer gave up (Stripe fills in no id there).
PURCHASE_ID = "{PURCHASE_ID}"
REVERSAL_EVENTS = frozenset({"charge.refunded", "charge.dispute.created"})
# A purchase only moves forward: a late or repeated event never undoes a later state.
_RANK = {
    PurchaseStatus.PENDING: 0,
    PurchaseStatus.PROCESSING: 1,
    PurchaseStatus.FAILED: 2,
    PurchaseStatus.EXPIRED: 2,
    PurchaseStatus.CANCELLED: 2,
    PurchaseStatus.COMPLETED: 3,
    PurchaseStatus.REFUNDED: 4,
}


@dataclass(frozen=True)
class PurchaseOutcome:
    """What the buyer is told about one checkout."""

    purchase_id: int
    status: str  # a PurchaseStatus value
    credits: int
    credited_now: bool  # this call added the credits (False when they were added before)


@dataclass(frozen=True)
class _PendingPurchase:
    purchase_id: int
    request: CheckoutRequest


def start_checkout(
    *,
    db: Engine,
    provider: CheckoutProvider,
    user_id: int,
    pack_code: str,
    success_url: str,
    cancel_url: str,
) -> str:
    """Record a pending purchase at the pack's current price, open a checkout session with
    the provider and return the URL to send the browser to.

    The provider is called with no transaction open; its idempotency key is the purchase,
    so a retried call cannot open a second session for it.
    """
    with session_scope(db) as session:
        pending = _create_purchase(
            session,
            provider=provider,
            user_id=user_id,
            pack_code=pack_code,
            success_url=success_url,
            cancel_url=cancel_url,
        )
    remote = provider.create_session(pending.request)
    with session_scope(db) as session:
        purchase = session.get(Purchase, pending.purchase_id)
        assert purchase is not None
        purchase.stripe_checkout_session_id = remote.id
        session.add(purchase)
        session.add(
            CheckoutSession(
                user_id=user_id,
                purchase_id=pending.purchase_id,
                provider=_provider_enum(provider),
                provider_session_id=remote.id,
                status=CheckoutStatus.PENDING,
                url=remote.url[:2000],
            )
        )
    return remote.url


def _create_purchase(
    session: Session,
    *,
    provider: CheckoutProvider,
    user_id: int,
    pack_code: str,
    success_url: str,
    cancel_url: str,
) -> _PendingPurchase:
    if not isinstance(pack_code, str) or len(pack_code) > 50:
        raise ValidationError("Choose one of the credit packs.")
    pack = session.exec(
        select(CreditPack).where(CreditPack.code == pack_code, col(CreditPack.is_active))
    ).first()
    if pack is None:
        raise NotFoundError("That credit pack is no longer on sale.")
    if session.get(User, user_id) is None:
        raise NotFoundError("Your account no longer exists.")
    purchase = Purchase(
        user_id=user_id,
        pack_code=pack.code,
        pack_display_name=pack.display_name,
        amount_cents=pack.price_cents,
        currency=pack.currency,
        credits=pack.credits,
        status=PurchaseStatus.PENDING,
        provider=_provider_enum(provider),
        transaction_id=f"purchase-{uuid.uuid4().hex}",
    )
    session.add(purchase)
    session.flush()
    assert purchase.id is not None
    return _PendingPurchase(
        purchase_id=purchase.id,
        request=CheckoutRequest(
            purchase_id=purchase.id,
            user_id=user_id,
            pack_code=pack.code,
            pack_name=pack.display_name,
            credits=pack.credits,
            amount_cents=pack.price_cents,
            currency=pack.currency,
            success_url=success_url,
            cancel_url=cancel_url.replace(PURCHASE_ID, str(purchase.id)),
            idempotency_key=f"checkout:{purchase.transaction_id}",
        ),
    )


def fulfil_checkout(
    *, db: Engine, provider: CheckoutProvider, session_id: str, payment_failed: bool = False
) -> PurchaseOutcome:
    """Bring the purchase behind `session_id` up to date with the provider's session.

    Paid → credits granted once (key `purchase:<session id>`), purchase completed. Complete
    but unpaid (a method that settles later) → processing. Expired → expired.
    `payment_failed` is set by the `async_payment_failed` event, the only place the provider
    says so: an unpaid, still-pending purchase then fails.
    """
    remote = provider.retrieve_session(session_id)  # no transaction open while we wait
    with session_scope(db) as session:
        return apply_session(session, remote=remote, payment_failed=payment_failed)


def apply_session(
    session: Session, *, remote: ProviderSession, payment_failed: bool = False
) -> PurchaseOutcome:
    """The state change `fulfil_checkout` makes, inside the caller's transaction."""
    purchase = _purchase_for(session, remote)
    assert purchase.id is not None
    paid = remote.status == "complete" and remote.payment_status in ("paid", "no_payment_required")
    credited_now = False
    if paid:
        description = (
            f"Purchase — {purchase.pack_display_name} pack ({purchase.credits} credits)"
            f" · {format_money(remote.amount_total or purchase.amount_cents, purchase.currency)}"
        )
        credited_now = credits.grant(
            session,
            user_id=purchase.user_id,
            amount=purchase.credits,
            kind=LedgerKind.PURCHASE,
            idempotency_key=f"purchase:{remote.id}",
            purchase_id=purchase.id,
            description=description,
        ).applied  # the ledger also adds to the user's lifetime purchased total
        if remote.amount_total is not None:
            purchase.amount_cents = remote.amount_total
        if remote.currency:
            purchase.currency = remote.currency[:3]
        purchase.stripe_payment_intent_id = remote.payment_intent or None
        _advance(purchase, PurchaseStatus.COMPLETED)
        purchase.completed_at = purchase.completed_at or utcnow()
        if credited_now:  # once per purchase, whichever caller added the credits
            emit_credits_purchased(session, purchase=purchase)
    elif remote.status == "complete":
        _advance(purchase, PurchaseStatus.FAILED if payment_failed else PurchaseStatus.PROCESSING)
        if payment_failed:
            purchase.error = "The payment did not go through."
    elif remote.status == "expired":
        _advance(purchase, PurchaseStatus.EXPIRED)
    session.add(purchase)
    _mirror_checkout(session, remote.id, PurchaseStatus(purchase.status))
    return PurchaseOutcome(
        purchase_id=purchase.id,
        status=PurchaseStatus(purchase.status).value,
        credits=purchase.credits,
        credited_now=credited_now,
    )


def record_event(session: Session, *, provider: str, event_id: str, event_type: str) -> bool:
    """Remember a provider event; False when it was seen before (a redelivery)."""
    try:
        with session.begin_nested():
            session.add(
                ProcessedWebhookEvent(
                    provider=provider, event_id=event_id[:255], event_type=event_type[:100]
                )
            )
            session.flush()
    except IntegrityError:
        return False
    return True


def handle_stripe_event(*, db: Engine, provider: CheckoutProvider, event: dict[str, object]) -> str:
    """Act on one verified Stripe event, once per event id; say what was done.

    The session is re-read from the provider, and the event is remembered in the same
    transaction that applies it, so a failure leaves it to be redelivered, not lost.
    """
    event_id, event_type = str(event.get("id") or ""), str(event.get("type") or "")
    if not event_id:
        raise ValidationError("The event has no id.")
    if event_type in REVERSAL_EVENTS:
        return _handle_reversal(db=db, event_id=event_id, event_type=event_type, event=event)
    if event_type not in SESSION_EVENTS:
        with session_scope(db) as session:
            record_event(session, provider="stripe", event_id=event_id, event_type=event_type)
        return "ignored"
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    session_id = obj.get("id") if isinstance(obj, dict) else None
    if not isinstance(session_id, str) or not session_id:
        raise ValidationError("The event names no checkout session.")
    with session_scope(db, write=False) as session:
        if _seen(session, provider="stripe", event_id=event_id):
            return "duplicate"
    remote = provider.retrieve_session(session_id)
    with session_scope(db) as session:
        if not record_event(session, provider="stripe", event_id=event_id, event_type=event_type):
            return "duplicate"
        outcome = apply_session(
            session,
            remote=remote,
            payment_failed=event_type == "checkout.session.async_payment_failed",
        )
    return f"purchase {outcome.purchase_id} {outcome.status}"


def _handle_reversal(
    *, db: Engine, event_id: str, event_type: str, event: dict[str, object]
) -> str:
    """A refund or a dispute: take the credits back (as far as the balance allows) in the
    transaction that remembers the event."""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise ValidationError("The event carries no object.")
    with session_scope(db) as session:
        if not record_event(session, provider="stripe", event_id=event_id, event_type=event_type):
            return "duplicate"
        if event_type == "charge.refunded":
            return payment_reversals.apply_charge_refunded(session, charge=obj)
        return payment_reversals.apply_dispute_created(session, dispute=obj)


def _seen(session: Session, *, provider: str, event_id: str) -> bool:
    return (
        session.exec(
            select(ProcessedWebhookEvent.id).where(
                ProcessedWebhookEvent.provider == provider,
                ProcessedWebhookEvent.event_id == event_id,
            )
        ).first()
        is not None
    )


def _purchase_for(session: Session, remote: ProviderSession) -> Purchase:
    purchase = session.exec(
        select(Purchase).where(Purchase.stripe_checkout_session_id == remote.id)
    ).first()
    if purchase is None:
        # The provider answered before we recorded its session id (a crash in between):
        # our own purchase id travels in the session's metadata.
        raw = remote.metadata.get("purchase_id", "")
        purchase = session.get(Purchase, int(raw)) if raw.isdigit() else None
        if purchase is None or purchase.stripe_checkout_session_id not in (None, remote.id):
            raise NotFoundError("No purchase belongs to that checkout session.")
        purchase.stripe_checkout_session_id = remote.id
    if remote.client_reference_id and remote.client_reference_id != str(purchase.user_id):
        raise ValidationError("That checkout session belongs to another account.")
    return purchase


def _advance(purchase: Purchase, status: PurchaseStatus) -> None:
    if _RANK[status] > _RANK[PurchaseStatus(purchase.status)]:
        purchase.status = status


def _mirror_checkout(session: Session, provider_session_id: str, status: PurchaseStatus) -> None:
    row = session.exec(
        select(CheckoutSession).where(CheckoutSession.provider_session_id == provider_session_id)
    ).first()
    if row is None:
        return
    row.status = {
        PurchaseStatus.PENDING: CheckoutStatus.PENDING,
        PurchaseStatus.PROCESSING: CheckoutStatus.PROCESSING,
        PurchaseStatus.COMPLETED: CheckoutStatus.COMPLETED,
        PurchaseStatus.REFUNDED: CheckoutStatus.COMPLETED,
        PurchaseStatus.FAILED: CheckoutStatus.FAILED,
        PurchaseStatus.EXPIRED: CheckoutStatus.EXPIRED,
        PurchaseStatus.CANCELLED: CheckoutStatus.EXPIRED,
    }[status]
    if status == PurchaseStatus.COMPLETED:
        row.completed_at = row.completed_at or utcnow()
    session.add(row)


def _provider_enum(provider: CheckoutProvider) -> PaymentProvider:
    return PaymentProvider.STRIPE if provider.name == "stripe" else PaymentProvider.OFFLINE


@dataclass(frozen=True)
class CheckoutView:
    """A checkout as its buyer sees it (the test checkout page and the return to /credits)."""

    session_id: str
    pack_name: str
    credits: int
    price: str
    status: str  # a PurchaseStatus value
    purchase_id: int = 0


def cancel_by_buyer(session: Session, *, user_id: int, purchase_id: object) -> bool:
    """The buyer came back by checkout's Cancel link: their purchase, if still open (or
    closed by the provider as expired, which a cancel also causes), is recorded as
    cancelled. A payment that went through stays completed. True when it changed."""
    if not isinstance(purchase_id, int) or isinstance(purchase_id, bool):
        return False
    purchase = session.get(Purchase, purchase_id)
    if purchase is None or purchase.user_id != user_id:
        return False
    if PurchaseStatus(purchase.status) not in (PurchaseStatus.PENDING, PurchaseStatus.EXPIRED):
        return False
    purchase.status = PurchaseStatus.CANCELLED
    session.add(purchase)
    log.info("checkout cancelled by the buyer", extra={"purchase_id": purchase_id})
    return True


def checkout_for_buyer(session: Session, *, user_id: int, session_id: object) -> CheckoutView:
    """The buyer's own checkout; anyone else's is reported as not found."""
    if not isinstance(session_id, str) or not 0 < len(session_id) <= 255:
        raise NotFoundError("That checkout does not exist.")
    purchase = session.exec(
        select(Purchase).where(Purchase.stripe_checkout_session_id == session_id)
    ).first()
    if purchase is None or purchase.user_id != user_id:
        raise NotFoundError("That checkout does not exist.")
    return CheckoutView(
        session_id=session_id,
        pack_name=purchase.pack_display_name,
        credits=purchase.credits,
        price=format_money(purchase.amount_cents, purchase.currency),
        status=PurchaseStatus(purchase.status).value,
        purchase_id=purchase.id or 0,
    )


def open_checkouts(
    session: Session,
    *,
    provider: str,
    statuses: tuple[CheckoutStatus, ...],
    older_than: timedelta,
    limit: int = 50,
) -> list[str]:
    """Provider session ids of checkouts still open after `older_than` (at most two days,
    past which Stripe has expired them and said so)."""
    now = utcnow()
    return list(
        session.exec(
            select(CheckoutSession.provider_session_id)
            .where(
                CheckoutSession.provider == provider,
                col(CheckoutSession.status).in_(statuses),
                CheckoutSession.created_at < now - older_than,
                CheckoutSession.created_at > now - timedelta(days=2),
            )
            .order_by(col(CheckoutSession.id))
            .limit(limit)
        ).all()
    )


def reconcile_open_checkouts(
    *, db: Engine, provider: CheckoutProvider, older_than: timedelta = timedelta(minutes=10)
) -> int:
    """Re-read checkouts still open after `older_than` and apply what the provider says, so
    a lost webhook still ends in credits (or in an expired purchase). Returns how many."""
    with session_scope(db, write=False) as session:
        due = open_checkouts(
            session,
            provider=_provider_enum(provider).value,
            statuses=(CheckoutStatus.PENDING, CheckoutStatus.PROCESSING),
            older_than=older_than,
        )
    done = 0
    for session_id in due:
        try:
            fulfil_checkout(db=db, provider=provider, session_id=session_id)
            done += 1
        except PaymentProviderError as exc:
            log.warning("reconciling %s: %s", session_id, exc.message)
    return done
