"""Refunds and disputes take back a pack's credits exactly once, never below zero, on SQLite
and PostgreSQL: packs bought through the Stripe SDK against the local Stripe, reversal
events signed as Stripe signs them, replays and real concurrency."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from stylestudio.adapters.payments import StripeCheckout
from stylestudio.db import session_scope
from stylestudio.models import CreditLedgerEntry, LedgerKind, Purchase, PurchaseStatus, User
from stylestudio.services.accounts import accounts
from stylestudio.services.billing import checkout, credits, payment_reversals
from stylestudio.services.errors import ValidationError
from tests.support.builders import new_user, started_checkout
from tests.support.fake_stripe import FakeStripe
from tests.support.fake_stripe import fake_stripe as fake_stripe
from tests.support.lookups import balance
from tests.support.races import race

SECRET = "whsec_test_reversals"
SUCCESS = "http://localhost:3000/credits?session_id={CHECKOUT_SESSION_ID}"
CANCEL = "http://localhost:3000/credits?cancelled=1"
PRICE = 999  # the Standard pack: 50 credits for $9.99


@pytest.fixture
def provider(fake_stripe: FakeStripe) -> StripeCheckout:
    return StripeCheckout(api_key=fake_stripe.api_key, api_base=fake_stripe.api_base)


@dataclass(frozen=True)
class Bought:
    user_id: int
    purchase_id: int
    payment_intent: str


@pytest.fixture
def bought(db: Engine, provider: StripeCheckout, fake_stripe: FakeStripe) -> Bought:
    """A user with the free 10 credits who bought and paid for a Standard pack (60 in all)."""
    user_id = new_user(db, "buyer@example.com")
    sid = started_checkout(db, fake_stripe, user_id, cancel_url=CANCEL, paid=True)
    with session_scope(db, write=False) as session:
        purchase = session.exec(select(Purchase).where(Purchase.user_id == user_id)).one()
        assert purchase.id is not None and purchase.stripe_checkout_session_id == sid
    checkout.fulfil_checkout(db=db, provider=provider, session_id=sid)
    payment_intent = fake_stripe.sessions[sid]["payment_intent"]
    assert balance(db, user_id) == 60
    return Bought(user_id=user_id, purchase_id=purchase.id, payment_intent=payment_intent)


# --- Stripe objects, delivered in signed events ----------------------------------------------


def _charge(
    fake: FakeStripe, payment_intent: str, refunds: list[tuple[str, int]], *, listed: bool = True
) -> dict[str, Any]:
    """A `charge.refunded` event's charge: cumulative `amount_refunded`, refunds newest first.

    `listed=False` leaves the refund list out, as Stripe API versions since 2022-11-15 do.
    """
    refunded = sum(amount for _, amount in refunds)
    charge: dict[str, Any] = {
        "id": f"ch_{payment_intent.removeprefix('pi_')}",
        "object": "charge",
        "amount": PRICE,
        "amount_captured": PRICE,
        "amount_refunded": refunded,
        "currency": "usd",
        "paid": True,
        "payment_intent": payment_intent,
        "refunded": refunded >= PRICE,
        "status": "succeeded",
    }
    if listed:
        now = int(time.time())
        data = [
            {
                "id": refund_id,
                "object": "refund",
                "amount": amount,
                "charge": charge["id"],
                "created": now + i,
                "currency": "usd",
                "payment_intent": payment_intent,
                "reason": "requested_by_customer",
                "status": "succeeded",
            }
            for i, (refund_id, amount) in enumerate(refunds)
        ]
        charge["refunds"] = {
            "object": "list",
            "data": list(reversed(data)),
            "has_more": False,
            "total_count": len(data),
            "url": f"/v1/charges/{charge['id']}/refunds",
        }
    event = fake.event("charge.refunded", charge, secret=SECRET)
    obj: dict[str, Any] = event.event["data"]["object"]
    return obj


def _dispute(fake: FakeStripe, payment_intent: str, *, amount: int = PRICE) -> dict[str, Any]:
    dispute = {
        "id": "dp_1OwXyZ2eZvKYlo2C",
        "object": "dispute",
        "amount": amount,
        "charge": f"ch_{payment_intent.removeprefix('pi_')}",
        "currency": "usd",
        "payment_intent": payment_intent,
        "reason": "fraudulent",
        "status": "needs_response",
    }
    event = fake.event("charge.dispute.created", dispute, secret=SECRET)
    obj: dict[str, Any] = event.event["data"]["object"]
    return obj


def _refund(db: Engine, charge: dict[str, Any]) -> str:
    with session_scope(db) as session:
        return payment_reversals.apply_charge_refunded(session, charge=charge)


def _dispute_created(db: Engine, dispute: dict[str, Any]) -> str:
    with session_scope(db) as session:
        return payment_reversals.apply_dispute_created(session, dispute=dispute)


# --- reading the outcome ----------------------------------------------------------------------


def _purchase(db: Engine, purchase_id: int) -> Purchase:
    with session_scope(db, write=False) as session:
        purchase = session.get(Purchase, purchase_id)
        assert purchase is not None
        return purchase


def _clawbacks(db: Engine, user_id: int) -> list[int]:
    with session_scope(db, write=False) as session:
        return list(
            session.exec(
                select(CreditLedgerEntry.amount)
                .where(
                    CreditLedgerEntry.user_id == user_id,
                    CreditLedgerEntry.kind == LedgerKind.CLAWBACK,
                )
                .order_by(col(CreditLedgerEntry.id))
            ).all()
        )


def _assert_ledgers_match_balances(db: Engine) -> None:
    with session_scope(db, write=False) as session:
        for user in session.exec(select(User)).all():
            assert user.id is not None
            assert user.credits >= 0
            assert credits.ledger_sum(session, user_id=user.id) == user.credits, user.email


# --- refunds ------------------------------------------------------------------------------------


def test_a_full_refund_before_any_spend_takes_the_whole_pack_back(
    db: Engine, fake_stripe: FakeStripe, bought: Bought
) -> None:
    charge = _charge(fake_stripe, bought.payment_intent, [("re_full", PRICE)])
    assert _refund(db, charge) == (
        f"purchase {bought.purchase_id} refunded: 50 credits taken back, 0 uncollected"
    )
    assert balance(db, bought.user_id) == 10  # the free trial stays
    purchase = _purchase(db, bought.purchase_id)
    assert purchase.status == PurchaseStatus.REFUNDED
    assert (purchase.refunded_cents, purchase.clawed_back_credits) == (PRICE, 50)
    assert purchase.uncollected_credits == 0
    assert purchase.refund_reason == "requested_by_customer"
    assert _clawbacks(db, bought.user_id) == [-50]
    with session_scope(db, write=False) as session:
        line = session.exec(
            select(CreditLedgerEntry).where(CreditLedgerEntry.kind == LedgerKind.CLAWBACK)
        ).one()
        assert line.description == "Refund — Standard pack (50 credits) · $9.99"
        assert line.purchase_id == bought.purchase_id
        assert line.idempotency_key == "clawback:refund:re_full"
    _assert_ledgers_match_balances(db)


def test_a_refund_after_spending_stops_at_zero_and_records_the_rest(
    db: Engine, fake_stripe: FakeStripe, bought: Bought
) -> None:
    with session_scope(db) as session:
        credits.spend(session, user_id=bought.user_id, amount=55, idempotency_key="spend:t:55")
    _refund(db, _charge(fake_stripe, bought.payment_intent, [("re_full", PRICE)]))
    assert balance(db, bought.user_id) == 0
    purchase = _purchase(db, bought.purchase_id)
    assert (purchase.clawed_back_credits, purchase.uncollected_credits) == (5, 45)
    assert purchase.status == PurchaseStatus.REFUNDED
    # Credits bought later are not raided for the shortfall by a redelivered refund.
    with session_scope(db) as session:
        credits.grant(session, user_id=bought.user_id, amount=20, idempotency_key="grant:t:20")
    _refund(db, _charge(fake_stripe, bought.payment_intent, [("re_full", PRICE)]))
    assert balance(db, bought.user_id) == 20
    assert _clawbacks(db, bought.user_id) == [-5]
    _assert_ledgers_match_balances(db)


def test_a_partial_then_a_full_refund_take_the_pack_back_once_in_all(
    db: Engine, fake_stripe: FakeStripe, bought: Bought
) -> None:
    half = _charge(fake_stripe, bought.payment_intent, [("re_half", 500)])
    assert _refund(db, half).endswith("26 credits taken back, 0 uncollected")  # rounded up
    purchase = _purchase(db, bought.purchase_id)
    assert purchase.status == PurchaseStatus.COMPLETED
    assert (purchase.refunded_cents, purchase.clawed_back_credits) == (500, 26)

    # Stripe's second event lists both refunds, with the cumulative amount refunded.
    rest = _charge(fake_stripe, bought.payment_intent, [("re_half", 500), ("re_rest", 499)])
    assert _refund(db, rest).endswith("24 credits taken back, 0 uncollected")
    assert _refund(db, rest) == f"purchase {bought.purchase_id} unchanged"  # replayed
    assert _refund(db, half) == f"purchase {bought.purchase_id} unchanged"  # late, out of order
    assert balance(db, bought.user_id) == 10
    assert _clawbacks(db, bought.user_id) == [-26, -24]
    purchase = _purchase(db, bought.purchase_id)
    assert purchase.status == PurchaseStatus.REFUNDED
    assert (purchase.refunded_cents, purchase.clawed_back_credits) == (PRICE, 50)
    _assert_ledgers_match_balances(db)


def test_refunds_without_a_refund_list_follow_the_amount_refunded(
    db: Engine, fake_stripe: FakeStripe, bought: Bought
) -> None:
    half = _charge(fake_stripe, bought.payment_intent, [("re_a", 500)], listed=False)
    full = _charge(fake_stripe, bought.payment_intent, [("re_a", 500), ("re_b", 499)], listed=False)
    _refund(db, half)
    _refund(db, full)
    _refund(db, full)
    _refund(db, half)
    assert _clawbacks(db, bought.user_id) == [-26, -24]
    assert balance(db, bought.user_id) == 10
    assert _purchase(db, bought.purchase_id).status == PurchaseStatus.REFUNDED
    _assert_ledgers_match_balances(db)


def test_one_refund_event_delivered_ten_times_at_once_takes_back_once(
    db: Engine, fake_stripe: FakeStripe, bought: Bought
) -> None:
    charge = _charge(fake_stripe, bought.payment_intent, [("re_full", PRICE)])
    results = race(*[(lambda: _refund(db, charge)) for _ in range(10)])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(1 for r in results if str(r).endswith("50 credits taken back, 0 uncollected")) == 1
    assert balance(db, bought.user_id) == 10
    assert _clawbacks(db, bought.user_id) == [-50]
    assert _purchase(db, bought.purchase_id).clawed_back_credits == 50
    _assert_ledgers_match_balances(db)


def test_two_refunds_racing_take_the_pack_back_once_in_all(
    db: Engine, fake_stripe: FakeStripe, bought: Bought
) -> None:
    half = _charge(fake_stripe, bought.payment_intent, [("re_half", 500)])
    both = _charge(fake_stripe, bought.payment_intent, [("re_half", 500), ("re_rest", 499)])
    results = race(*[(lambda c=c: _refund(db, c)) for c in (half, both) * 5])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(_clawbacks(db, bought.user_id)) == -50
    assert balance(db, bought.user_id) == 10
    purchase = _purchase(db, bought.purchase_id)
    assert (purchase.clawed_back_credits, purchase.uncollected_credits) == (50, 0)
    _assert_ledgers_match_balances(db)


def test_a_refund_of_a_payment_that_is_not_a_purchase_is_ignored(
    db: Engine, fake_stripe: FakeStripe, bought: Bought
) -> None:
    charge = _charge(fake_stripe, "pi_not_ours", [("re_other", 500)])
    assert _refund(db, charge) == "ignored"
    assert _dispute_created(db, _dispute(fake_stripe, "pi_not_ours")) == "ignored"
    assert balance(db, bought.user_id) == 60
    assert _clawbacks(db, bought.user_id) == []
    _assert_ledgers_match_balances(db)


# --- disputes -----------------------------------------------------------------------------------


def test_a_dispute_takes_the_pack_back_and_flags_the_account(
    db: Engine, fake_stripe: FakeStripe, bought: Bought
) -> None:
    with session_scope(db) as session:
        credits.spend(session, user_id=bought.user_id, amount=30, idempotency_key="spend:t:30")
    dispute = _dispute(fake_stripe, bought.payment_intent)
    assert _dispute_created(db, dispute).endswith("30 credits taken back, 20 uncollected")
    assert _dispute_created(db, dispute) == f"purchase {bought.purchase_id} unchanged"
    assert balance(db, bought.user_id) == 0
    purchase = _purchase(db, bought.purchase_id)
    assert (purchase.clawed_back_credits, purchase.uncollected_credits) == (30, 20)
    with session_scope(db, write=False) as session:
        user = session.get(User, bought.user_id)
        assert user is not None and user.flagged_for_review
        assert user.flag_reason == (
            f"Payment disputed (fraudulent) on purchase #{bought.purchase_id}"
        )
    # A refund of the disputed charge afterwards takes nothing more.
    _refund(db, _charge(fake_stripe, bought.payment_intent, [("re_full", PRICE)]))
    assert sum(_clawbacks(db, bought.user_id)) == -30
    assert _purchase(db, bought.purchase_id).uncollected_credits == 20
    _assert_ledgers_match_balances(db)


def test_other_accounts_are_not_flagged_or_touched(
    db: Engine, fake_stripe: FakeStripe, bought: Bought
) -> None:
    bystander = new_user(db, "bystander@example.com")
    _dispute_created(db, _dispute(fake_stripe, bought.payment_intent))
    with session_scope(db, write=False) as session:
        other = session.get(User, bystander)
        assert other is not None and not other.flagged_for_review and other.flag_reason is None
    assert balance(db, bystander) == 10
    assert balance(db, bought.user_id) == 10
    _assert_ledgers_match_balances(db)


# --- credits.clawback -------------------------------------------------------------------------


def test_clawback_takes_what_the_balance_holds_once_per_key(db: Engine) -> None:
    user_id = new_user(db, "buyer@example.com")
    with session_scope(db) as session:
        first = credits.clawback(session, user_id=user_id, amount=4, idempotency_key="cb:1")
        assert (first.applied, first.taken, first.shortfall, first.balance) == (True, 4, 0, 6)
        again = credits.clawback(session, user_id=user_id, amount=4, idempotency_key="cb:1")
        assert (again.applied, again.taken, again.shortfall, again.balance) == (False, 0, 0, 6)
        short = credits.clawback(session, user_id=user_id, amount=25, idempotency_key="cb:2")
        assert (short.applied, short.taken, short.shortfall, short.balance) == (True, 6, 19, 0)
        # Nothing left: the key is still remembered (a zero line), so a replay after new
        # credits arrive takes nothing.
        empty = credits.clawback(session, user_id=user_id, amount=3, idempotency_key="cb:3")
        assert (empty.applied, empty.taken, empty.shortfall) == (True, 0, 3)
        credits.grant(session, user_id=user_id, amount=5, idempotency_key="grant:t:5")
        late = credits.clawback(session, user_id=user_id, amount=3, idempotency_key="cb:3")
        assert (late.applied, late.taken, late.balance) == (False, 0, 5)
        with pytest.raises(ValidationError):
            credits.clawback(session, user_id=user_id, amount=-1, idempotency_key="cb:neg")
        with pytest.raises(ValidationError, match="another account"):
            other = accounts.sign_up(session, email="other@example.com", password="other-pass")
            assert other.id is not None
            credits.clawback(session, user_id=other.id, amount=1, idempotency_key="cb:1")
    assert _clawbacks(db, user_id) == [-4, -6, 0]
    _assert_ledgers_match_balances(db)


def test_one_clawback_key_racing_ten_times_takes_once(db: Engine) -> None:
    user_id = new_user(db, "buyer@example.com")

    def claw() -> credits.ClawbackResult:
        with session_scope(db) as session:
            return credits.clawback(session, user_id=user_id, amount=7, idempotency_key="cb:race")

    results = race(*[claw for _ in range(10)])
    assert not [r for r in results if isinstance(r, Exception)], results
    applied = [r for r in results if isinstance(r, credits.ClawbackResult) and r.applied]
    assert [(r.taken, r.balance) for r in applied] == [(7, 3)]
    assert balance(db, user_id) == 3
    _assert_ledgers_match_balances(db)


def test_concurrent_clawbacks_never_take_the_balance_below_zero(db: Engine) -> None:
    user_id = new_user(db, "buyer@example.com")

    def claw(i: int) -> credits.ClawbackResult:
        with session_scope(db) as session:
            return credits.clawback(session, user_id=user_id, amount=3, idempotency_key=f"cb:{i}")

    results = race(*[(lambda i=i: claw(i)) for i in range(20)])
    assert not [r for r in results if isinstance(r, Exception)], results
    done = [r for r in results if isinstance(r, credits.ClawbackResult)]
    assert all(r.applied for r in done) and len(done) == 20
    assert sum(r.taken for r in done) == 10  # all there was
    assert sum(r.shortfall for r in done) == 20 * 3 - 10
    assert balance(db, user_id) == 0
    _assert_ledgers_match_balances(db)
