"""Money arrives exactly once: fulfilment against the Stripe SDK and a local Stripe, on
SQLite and PostgreSQL, with real concurrency."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from stylestudio.adapters.payments import StripeCheckout
from stylestudio.db import session_scope
from stylestudio.models import (
    CheckoutSession,
    CreditLedgerEntry,
    ProcessedWebhookEvent,
    Purchase,
    User,
    utcnow,
)
from stylestudio.services.accounts import accounts
from stylestudio.services.billing import checkout
from stylestudio.services.errors import NotFoundError
from tests.support.builders import new_user
from tests.support.fake_stripe import FakeStripe
from tests.support.fake_stripe import fake_stripe as fake_stripe
from tests.support.races import race

SECRET = "whsec_test_fulfilment"
SUCCESS = "http://localhost:3000/credits?session_id={CHECKOUT_SESSION_ID}"
CANCEL = "http://localhost:3000/credits?cancelled=1"


@pytest.fixture
def provider(fake_stripe: FakeStripe) -> StripeCheckout:
    return StripeCheckout(api_key=fake_stripe.api_key, api_base=fake_stripe.api_base)


@pytest.fixture
def buyer(db: Engine) -> int:
    return new_user(db, "buyer@example.com")


def _buy(db: Engine, provider: StripeCheckout, user_id: int, pack: str = "standard") -> str:
    url = checkout.start_checkout(
        db=db,
        provider=provider,
        user_id=user_id,
        pack_code=pack,
        success_url=SUCCESS,
        cancel_url=CANCEL,
    )
    with session_scope(db, write=False) as session:
        purchase = session.exec(select(Purchase).order_by(col(Purchase.id).desc())).first()
        assert purchase is not None and purchase.stripe_checkout_session_id
        assert url.endswith(purchase.stripe_checkout_session_id)
        return purchase.stripe_checkout_session_id


def _state(db: Engine, user_id: int) -> tuple[int, int, str]:
    """(balance, ledger sum, purchase status) — the balance must always equal the sum."""
    with session_scope(db, write=False) as session:
        user = session.get(User, user_id)
        assert user is not None
        total = session.exec(
            select(func.coalesce(func.sum(CreditLedgerEntry.amount), 0)).where(
                CreditLedgerEntry.user_id == user_id
            )
        ).one()
        purchase = session.exec(select(Purchase).where(Purchase.user_id == user_id)).one()
        return user.credits, int(total), str(purchase.status)


def _deliver(db: Engine, provider: StripeCheckout, fake: FakeStripe, kind: str, sid: str) -> str:
    signed = fake.event(f"checkout.session.{kind}", fake.sessions[sid], secret=SECRET)
    return checkout.handle_stripe_event(db=db, provider=provider, event=signed.event)


def test_checkout_charges_the_packs_current_price_with_our_references(
    db: Engine, provider: StripeCheckout, fake_stripe: FakeStripe, buyer: int
) -> None:
    sid = _buy(db, provider, buyer)
    sent = fake_stripe.requests[-1]
    assert sent.form["mode"] == "payment"
    assert sent.form["line_items[0][price_data][unit_amount]"] == "999"
    assert sent.form["client_reference_id"] == str(buyer)
    assert sent.form["metadata[credits]"] == "50"
    assert sent.headers["idempotency-key"].startswith("checkout:purchase-")
    assert _state(db, buyer) == (10, 10, "pending")
    assert fake_stripe.sessions[sid]["amount_total"] == 999


def test_one_completed_event_delivered_twenty_times_at_once_credits_once(
    db: Engine, provider: StripeCheckout, fake_stripe: FakeStripe, buyer: int
) -> None:
    sid = _buy(db, provider, buyer)
    fake_stripe.complete(sid)
    signed = fake_stripe.event(
        "checkout.session.completed", fake_stripe.sessions[sid], secret=SECRET
    )
    results = race(
        *[
            (lambda: checkout.handle_stripe_event(db=db, provider=provider, event=signed.event))
            for _ in range(20)
        ]
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(1 for r in results if str(r).endswith("completed")) == 1
    assert sum(1 for r in results if r == "duplicate") == 19
    assert _state(db, buyer) == (60, 60, "completed")
    with session_scope(db, write=False) as session:
        assert session.exec(select(func.count()).select_from(ProcessedWebhookEvent)).one() == 1
        line = session.exec(
            select(CreditLedgerEntry).where(CreditLedgerEntry.idempotency_key == f"purchase:{sid}")
        ).one()
        assert line.description == "Purchase — Standard pack (50 credits) · $9.99"
        user = session.get(User, buyer)
        assert user is not None and user.total_credits_purchased == 50


def test_return_webhook_and_reconciliation_racing_credit_once(
    db: Engine, provider: StripeCheckout, fake_stripe: FakeStripe, buyer: int
) -> None:
    sid = _buy(db, provider, buyer)
    fake_stripe.complete(sid)
    fulfil = lambda: checkout.fulfil_checkout(db=db, provider=provider, session_id=sid)  # noqa: E731
    results = race(
        fulfil,  # the browser's success return
        lambda: _deliver(db, provider, fake_stripe, "completed", sid),  # the webhook
        fulfil,  # reconciliation
        fulfil,
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    outcomes = [r for r in results if isinstance(r, checkout.PurchaseOutcome)]
    assert sum(o.credited_now for o in outcomes) <= 1
    assert _state(db, buyer) == (60, 60, "completed")


def test_async_payment_in_any_order_ends_the_same(
    db: Engine, provider: StripeCheckout, fake_stripe: FakeStripe, buyer: int
) -> None:
    sid = _buy(db, provider, buyer)
    fake_stripe.complete(sid, paid=False)
    assert _deliver(db, provider, fake_stripe, "completed", sid).endswith("processing")
    assert _state(db, buyer) == (10, 10, "processing")
    fake_stripe.settle(sid)
    # async_payment_succeeded, then a late redelivered `completed`: the same end state.
    assert _deliver(db, provider, fake_stripe, "async_payment_succeeded", sid).endswith("completed")
    _deliver(db, provider, fake_stripe, "completed", sid)
    assert _state(db, buyer) == (60, 60, "completed")


def test_succeeded_before_completed_gives_the_same_final_state(
    db: Engine, provider: StripeCheckout, fake_stripe: FakeStripe, buyer: int
) -> None:
    sid = _buy(db, provider, buyer)
    fake_stripe.complete(sid, paid=False)
    fake_stripe.settle(sid)
    _deliver(db, provider, fake_stripe, "async_payment_succeeded", sid)
    _deliver(db, provider, fake_stripe, "completed", sid)
    assert _state(db, buyer) == (60, 60, "completed")


def test_a_failed_async_payment_credits_nothing(
    db: Engine, provider: StripeCheckout, fake_stripe: FakeStripe, buyer: int
) -> None:
    sid = _buy(db, provider, buyer)
    fake_stripe.complete(sid, paid=False)
    _deliver(db, provider, fake_stripe, "completed", sid)
    fake_stripe.settle(sid, succeeded=False)
    assert _deliver(db, provider, fake_stripe, "async_payment_failed", sid).endswith("failed")
    _deliver(db, provider, fake_stripe, "completed", sid)  # a late redelivery changes nothing
    assert _state(db, buyer) == (10, 10, "failed")


def test_expired_after_completed_changes_nothing(
    db: Engine, provider: StripeCheckout, fake_stripe: FakeStripe, buyer: int
) -> None:
    sid = _buy(db, provider, buyer)
    fake_stripe.complete(sid)
    _deliver(db, provider, fake_stripe, "completed", sid)
    signed = fake_stripe.event(
        "checkout.session.expired",
        {**fake_stripe.sessions[sid], "status": "expired"},
        secret=SECRET,
    )
    checkout.handle_stripe_event(db=db, provider=provider, event=signed.event)
    assert _state(db, buyer) == (60, 60, "completed")


def test_an_abandoned_checkout_expires_without_credits(
    db: Engine, provider: StripeCheckout, fake_stripe: FakeStripe, buyer: int
) -> None:
    sid = _buy(db, provider, buyer)
    fake_stripe.expire(sid)
    assert _deliver(db, provider, fake_stripe, "expired", sid).endswith("expired")
    assert _state(db, buyer) == (10, 10, "expired")


def test_other_event_types_are_acknowledged_and_ignored(
    db: Engine, provider: StripeCheckout, fake_stripe: FakeStripe, buyer: int
) -> None:
    signed = fake_stripe.event("customer.created", {"id": "cus_1"}, secret=SECRET)
    assert checkout.handle_stripe_event(db=db, provider=provider, event=signed.event) == "ignored"
    with session_scope(db, write=False) as session:
        assert session.exec(select(func.count()).select_from(Purchase)).one() == 0


def test_a_session_that_is_not_ours_is_refused(
    db: Engine, provider: StripeCheckout, fake_stripe: FakeStripe, buyer: int
) -> None:
    sid = _buy(db, provider, buyer)
    with session_scope(db) as session:
        purchase = session.exec(select(Purchase)).one()
        purchase.stripe_checkout_session_id = None
        session.add(purchase)
    # Neither our session id nor a purchase id of ours that is free to claim: refused.
    fake_stripe.complete(sid)
    with session_scope(db) as session:
        purchase = session.exec(select(Purchase)).one()
        purchase.stripe_checkout_session_id = "cs_test_someone_else"
        session.add(purchase)
    with pytest.raises(NotFoundError):
        checkout.fulfil_checkout(db=db, provider=provider, session_id=sid)
    assert _state(db, buyer) == (10, 10, "pending")


def _age_checkouts(db: Engine, minutes: int) -> None:
    with session_scope(db) as session:
        for row in session.exec(select(CheckoutSession)).all():
            row.created_at = utcnow() - timedelta(minutes=minutes)
            session.add(row)


def test_reconciliation_credits_a_payment_whose_webhook_was_lost(
    db: Engine, provider: StripeCheckout, fake_stripe: FakeStripe, buyer: int
) -> None:
    sid = _buy(db, provider, buyer)
    fake_stripe.complete(sid)  # paid, but no event ever arrives
    assert checkout.reconcile_open_checkouts(db=db, provider=provider) == 0  # too recent
    assert _state(db, buyer) == (10, 10, "pending")
    _age_checkouts(db, 11)
    assert checkout.reconcile_open_checkouts(db=db, provider=provider) == 1
    assert _state(db, buyer) == (60, 60, "completed")
    # Done: nothing left to reconcile, and a late webhook adds nothing.
    assert checkout.reconcile_open_checkouts(db=db, provider=provider) == 0
    _deliver(db, provider, fake_stripe, "completed", sid)
    assert _state(db, buyer) == (60, 60, "completed")


def test_reconciliation_expires_an_abandoned_checkout(
    db: Engine, provider: StripeCheckout, fake_stripe: FakeStripe, buyer: int
) -> None:
    sid = _buy(db, provider, buyer)
    fake_stripe.expire(sid)
    _age_checkouts(db, 30)
    assert checkout.reconcile_open_checkouts(db=db, provider=provider) == 1
    assert _state(db, buyer) == (10, 10, "expired")


def _purchase_id(db: Engine, sid: str) -> int:
    with session_scope(db, write=False) as session:
        purchase = session.exec(
            select(Purchase).where(Purchase.stripe_checkout_session_id == sid)
        ).one()
        assert purchase.id is not None
        return purchase.id


def _cancel(db: Engine, user_id: int, purchase_id: object) -> bool:
    with session_scope(db) as session:
        return checkout.cancel_by_buyer(session, user_id=user_id, purchase_id=purchase_id)


def test_the_cancel_link_names_the_purchase_and_records_it_cancelled(
    db: Engine, provider: StripeCheckout, fake_stripe: FakeStripe, buyer: int
) -> None:
    url = checkout.start_checkout(
        db=db,
        provider=provider,
        user_id=buyer,
        pack_code="standard",
        success_url=SUCCESS,
        cancel_url=f"http://localhost:3000/credits?cancelled={checkout.PURCHASE_ID}",
    )
    sid = url.rsplit("/", 1)[-1]
    purchase_id = _purchase_id(db, sid)
    assert fake_stripe.sessions[sid]["cancel_url"] == (
        f"http://localhost:3000/credits?cancelled={purchase_id}"
    )
    with session_scope(db) as session:
        stranger = accounts.sign_up(session, email="stranger@example.com", password="stranger-pw1")
        assert stranger.id is not None
        stranger_id = stranger.id
    assert not _cancel(db, stranger_id, purchase_id)  # not theirs: nothing changes
    assert not _cancel(db, buyer, "1")  # ids arrive as ints only
    assert _state(db, buyer) == (10, 10, "pending")
    assert _cancel(db, buyer, purchase_id)
    assert _state(db, buyer) == (10, 10, "cancelled")
    # Stripe closing the session a day later does not turn it back into "expired".
    fake_stripe.expire(sid)
    _deliver(db, provider, fake_stripe, "expired", sid)
    assert _state(db, buyer) == (10, 10, "cancelled")


def test_a_paid_checkout_stays_completed_whatever_the_cancel_link_says(
    db: Engine, provider: StripeCheckout, fake_stripe: FakeStripe, buyer: int
) -> None:
    sid = _buy(db, provider, buyer)
    fake_stripe.complete(sid)
    _deliver(db, provider, fake_stripe, "completed", sid)
    assert not _cancel(db, buyer, _purchase_id(db, sid))
    assert _state(db, buyer) == (60, 60, "completed")


def test_a_cancelled_checkout_paid_after_all_is_completed(
    db: Engine, provider: StripeCheckout, fake_stripe: FakeStripe, buyer: int
) -> None:
    sid = _buy(db, provider, buyer)
    assert _cancel(db, buyer, _purchase_id(db, sid))
    fake_stripe.complete(sid)  # the buyer went back to the still-open Stripe page
    _deliver(db, provider, fake_stripe, "completed", sid)
    assert _state(db, buyer) == (60, 60, "completed")
