"""The offline test checkout: a payment provider that takes no money, for running with no keys.

It behaves like Stripe Checkout from the product's side: sessions with ids and a hosted page
(`/checkout/test/<id>`), outcomes delivered as events signed exactly as Stripe signs them
(with this provider's own secret) to the same webhook endpoint, and sessions the product
re-reads before it believes anything. Its sessions live in our `checkout_sessions` table:
for this provider, our database is the provider.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from stylestudio.adapters.payments import (
    CheckoutRequest,
    PaymentProviderError,
    ProviderSession,
    sign_stripe_payload,
)
from stylestudio.db import session_scope
from stylestudio.models import (
    CheckoutSession,
    CheckoutStatus,
    PaymentProvider,
    Purchase,
    utcnow,
)

log = logging.getLogger(__name__)

SETTLE_AFTER_SECONDS = 4  # `Pay later`: an asynchronous method that clears a little later

# The provider's view of a session, from the row's status.
_REMOTE = {
    CheckoutStatus.PENDING: ("open", "unpaid"),
    CheckoutStatus.PROCESSING: ("complete", "unpaid"),
    CheckoutStatus.COMPLETED: ("complete", "paid"),
    CheckoutStatus.FAILED: ("complete", "unpaid"),
    CheckoutStatus.EXPIRED: ("expired", "unpaid"),
}
# What each button does: the session's new status and the event Stripe would send.
ACTIONS = {
    "pay": (CheckoutStatus.COMPLETED, "checkout.session.completed"),
    "pay_later": (CheckoutStatus.PROCESSING, "checkout.session.completed"),
    "decline": (CheckoutStatus.FAILED, "checkout.session.async_payment_failed"),
    "cancel": (CheckoutStatus.EXPIRED, "checkout.session.expired"),
    "settle": (CheckoutStatus.COMPLETED, "checkout.session.async_payment_succeeded"),
}
_FROM = {  # which statuses each action may start from
    "pay": {CheckoutStatus.PENDING},
    "pay_later": {CheckoutStatus.PENDING},
    "decline": {CheckoutStatus.PENDING},
    "cancel": {CheckoutStatus.PENDING},
    "settle": {CheckoutStatus.PROCESSING},
}


class TestCheckout:
    """Checkout sessions that take no money. Refused in production by the settings."""

    __test__ = False  # not a pytest test class, whatever its name
    name = "test"

    def __init__(self, *, db: Engine, public_url: str, webhook_url: str, secret: str) -> None:
        self.db = db
        self.public_url = public_url.rstrip("/")
        self.webhook_url = webhook_url
        self.secret = secret

    def create_session(self, request: CheckoutRequest) -> ProviderSession:
        session_id = "cs_test_" + secrets.token_urlsafe(24).replace("-", "x").replace("_", "y")
        return ProviderSession(
            id=session_id,
            url=f"{self.public_url}/checkout/test/{session_id}",
            status="open",
            payment_status="unpaid",
            amount_total=request.amount_cents,
            currency=request.currency,
            payment_intent=None,
            client_reference_id=str(request.user_id),
            metadata={
                "purchase_id": str(request.purchase_id),
                "pack_code": request.pack_code,
                "credits": str(request.credits),
            },
        )

    def retrieve_session(self, session_id: str) -> ProviderSession:
        with session_scope(self.db, write=False) as session:
            found = session.exec(
                select(CheckoutSession, Purchase)
                .join(Purchase, Purchase.id == CheckoutSession.purchase_id)  # type: ignore[arg-type]
                .where(CheckoutSession.provider_session_id == session_id)
            ).first()
        if found is None:
            raise PaymentProviderError("No such checkout session.", code="resource_missing")
        row, purchase = found
        status, payment_status = _REMOTE[CheckoutStatus(row.status)]
        return ProviderSession(
            id=session_id,
            url=row.url,
            status=status,
            payment_status=payment_status,
            amount_total=purchase.amount_cents,
            currency=purchase.currency,
            payment_intent=f"pi_test_{row.id}" if payment_status == "paid" else None,
            client_reference_id=str(purchase.user_id),
            metadata={"purchase_id": str(purchase.id), "pack_code": purchase.pack_code},
        )

    def act(self, session_id: str, action: str) -> bool:
        """Press a button of the test page: change the session as the provider would, then
        deliver the event. False when the session is not in a state that allows it."""
        new_status, event_type = ACTIONS[action]
        with session_scope(self.db) as session:
            row = session.exec(
                select(CheckoutSession).where(CheckoutSession.provider_session_id == session_id)
            ).first()
            if row is None or CheckoutStatus(row.status) not in _FROM[action]:
                return False
            row.status = new_status
            if action == "pay_later":
                # A processing session's expires_at is when its payment settles (this
                # provider's own bookkeeping; settle_due reads it).
                row.expires_at = utcnow() + timedelta(seconds=SETTLE_AFTER_SECONDS)
            session.add(row)
        self.deliver(event_type, self.retrieve_session(session_id))
        return True

    def settle_due(self) -> int:
        """Settle the `Pay later` payments whose time has come (the worker calls this)."""
        with session_scope(self.db, write=False) as session:
            due = session.exec(
                select(CheckoutSession.provider_session_id).where(
                    CheckoutSession.provider == PaymentProvider.OFFLINE,
                    CheckoutSession.status == CheckoutStatus.PROCESSING,
                    col(CheckoutSession.expires_at) <= utcnow(),
                )
            ).all()
        return sum(self.act(session_id, "settle") for session_id in due)

    def deliver(self, event_type: str, remote: ProviderSession) -> None:
        """POST the event to our webhook, signed as Stripe signs. A failed delivery is only
        logged: the buyer's return and the reconciliation job read the session anyway."""
        event: dict[str, Any] = {
            "id": "evt_test_" + secrets.token_hex(12),
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": {"id": remote.id, "object": "checkout.session"}},
        }
        payload = json.dumps(event).encode()
        headers = {
            "content-type": "application/json",
            "stripe-signature": sign_stripe_payload(payload, self.secret),
        }
        try:
            httpx.post(self.webhook_url, content=payload, headers=headers, timeout=10)
        except httpx.HTTPError as exc:
            log.warning("test checkout could not deliver %s: %s", event_type, exc)
