"""Admins edit packs and billing settings (validated, audited), see purchases and revenue,
and ask the provider about a purchase — on SQLite and PostgreSQL, through the same
`admin_rights.require_admin` check the admin page makes on every event."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from stylestudio.adapters.payments import StripeCheckout
from stylestudio.db import session_scope
from stylestudio.models import (
    AuditLogEntry,
    BillingSettings,
    CreditPack,
    Purchase,
    PurchaseStatus,
    User,
    UserRole,
)
from stylestudio.services.accounts import accounts, admin_rights
from stylestudio.services.admin import admin_audit_log, admin_purchases, billing_admin
from stylestudio.services.billing import billing, checkout
from stylestudio.services.errors import ForbiddenError, NotFoundError, ValidationError
from tests.support.admins import admin_proof, make_admin
from tests.support.builders import new_signed_in_user, started_checkout
from tests.support.fake_stripe import FakeStripe
from tests.support.fake_stripe import fake_stripe as fake_stripe

STANDARD = {"display_name": "Standard", "credits": 50, "price_cents": 999, "is_active": True}


@pytest.fixture
def admin(db: Engine) -> tuple[int, str]:
    return new_signed_in_user(db, "owner@example.com", role=UserRole.ADMIN)


def _save_pack(db: Engine, token: str, code: str = "standard", **changes: Any) -> None:
    """What the admin page's `save_pack` does: the admin check and the change in one
    transaction."""
    with session_scope(db) as session:
        admin = admin_rights.require_admin(session, token=token)
        billing_admin.update_pack(session, admin=admin, code=code, **{**STANDARD, **changes})


def _save_settings(db: Engine, token: str, *, free_trial_credits: Any, refund: Any) -> None:
    """What `save_billing` does; values typed `Any`, as a browser may send anything."""
    with session_scope(db) as session:
        admin = admin_rights.require_admin(session, token=token)
        billing_admin.update_billing_settings(
            session,
            admin=admin,
            free_trial_credits=free_trial_credits,
            refund_on_failure=refund,
        )


def _audit(db: Engine) -> list[AuditLogEntry]:
    with session_scope(db, write=False) as session:
        return list(session.exec(select(AuditLogEntry).order_by(col(AuditLogEntry.id))).all())


def _standard(db: Engine) -> CreditPack:
    with session_scope(db, write=False) as session:
        return session.exec(select(CreditPack).where(CreditPack.code == "standard")).one()


def test_a_price_change_goes_on_sale_and_is_audited(
    db: Engine, admin: tuple[int, str], fake_stripe: FakeStripe
) -> None:
    admin_id, token = admin
    _save_pack(db, token, price_cents=1299)

    with session_scope(db, write=False) as session:
        standard = next(p for p in billing.list_active_packs(session) if p.code == "standard")
        rows = admin_audit_log.list_audit_log(session, admin=admin_proof(session))
    assert standard.price == "$12.99"
    [entry] = _audit(db)
    assert entry.actor_user_id == admin_id
    assert (entry.action, entry.target_type, entry.target_id) == (
        "billing.pack_updated",
        "credit_pack",
        "standard",
    )
    assert entry.details == {"before": {"price_cents": 999}, "after": {"price_cents": 1299}}
    assert rows[0].actor == "owner@example.com"
    assert rows[0].what == "Pack updated: standard"
    assert rows[0].changes == ["Price: $9.99 → $12.99"]

    # The next checkout charges the new price.
    buyer_id, _ = new_signed_in_user(db, "buyer@example.com")
    started_checkout(db, fake_stripe, buyer_id)
    [remote] = fake_stripe.sessions.values()
    assert remote["amount_total"] == 1299


def test_every_field_of_a_pack_and_the_settings_can_change(
    db: Engine, admin: tuple[int, str]
) -> None:
    _, token = admin
    _save_pack(db, token, display_name="  Standard plus ", credits=60, is_active=False)
    _save_settings(db, token, free_trial_credits=0, refund=False)

    pack = _standard(db)
    assert (pack.display_name, pack.credits, pack.price_cents, pack.is_active) == (
        "Standard plus",
        60,
        999,
        False,
    )
    with session_scope(db, write=False) as session:
        assert "standard" not in [p.code for p in billing.list_active_packs(session)]
        assert "standard" in [
            p.code for p in billing_admin.list_packs(session, admin=admin_proof(session))
        ]
        settings = billing.get_billing_settings(session)
        assert (settings.free_trial_credits, settings.refund_on_failure) == (0, False)
        assert settings.updated_by_id == admin[0]
        rows = admin_audit_log.list_audit_log(session, admin=admin_proof(session))
    assert rows[0].what == "Billing settings updated"
    assert rows[0].changes == ["Free-trial credits: 10 → 0", "Refund on failure: on → off"]
    assert rows[1].changes == [
        "Name: Standard → Standard plus",
        "Credits: 50 → 60",
        "On sale: on → off",
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"display_name": ""}, "Pack name must be 1–100 characters."),
        ({"display_name": "   "}, "Pack name must be 1–100 characters."),
        ({"display_name": "x" * 101}, "Pack name must be 1–100 characters."),
        ({"display_name": ["Standard"]}, "Pack name must be 1–100 characters."),
        ({"credits": 0}, "Credits must be a whole number from 1 to 100,000."),
        ({"credits": 100_001}, "Credits must be a whole number from 1 to 100,000."),
        ({"credits": "50"}, "Credits must be a whole number from 1 to 100,000."),
        ({"credits": True}, "Credits must be a whole number from 1 to 100,000."),
        ({"price_cents": 49}, "Price must be between $0.50 and $10,000.00."),
        ({"price_cents": 1_000_001}, "Price must be between $0.50 and $10,000.00."),
        ({"price_cents": 9.99}, "Price must be between $0.50 and $10,000.00."),
        ({"is_active": "on"}, "On sale must be on or off."),
    ],
)
def test_invalid_pack_values_are_refused_and_nothing_is_written(
    db: Engine, admin: tuple[int, str], changes: dict[str, Any], message: str
) -> None:
    _, token = admin
    with pytest.raises(ValidationError) as refused:
        _save_pack(db, token, **changes)
    assert refused.value.message == message
    pack = _standard(db)
    assert (pack.display_name, pack.credits, pack.price_cents, pack.is_active) == (
        "Standard",
        50,
        999,
        True,
    )
    assert _audit(db) == []


def test_invalid_settings_and_unknown_packs_are_refused(db: Engine, admin: tuple[int, str]) -> None:
    _, token = admin
    for bad in (-1, 1001, "10", None):
        with pytest.raises(ValidationError, match="Free-trial credits must be a whole number"):
            _save_settings(db, token, free_trial_credits=bad, refund=True)
    with pytest.raises(ValidationError, match="Refund on failure must be on or off"):
        _save_settings(db, token, free_trial_credits=10, refund="yes")
    with pytest.raises(NotFoundError):
        _save_pack(db, token, code="platinum")
    with session_scope(db, write=False) as session:
        settings = session.get(BillingSettings, 1)
        assert settings is not None
        assert (settings.free_trial_credits, settings.refund_on_failure) == (10, True)
    assert _audit(db) == []


@pytest.mark.parametrize(
    ("typed", "cents"),
    [("9.99", 999), ("$12", 1200), ("12.5", 1250), (" 1,000.00 ", 100_000), (".5", 50)],
)
def test_prices_typed_in_dollars_become_cents(typed: str, cents: int) -> None:
    assert billing_admin.parse_dollars(typed) == cents


@pytest.mark.parametrize("typed", ["", "abc", "9.999", "-5", "1e3", "9,99.1.1", "9" * 30, None])
def test_prices_that_are_not_dollars_are_refused(typed: object) -> None:
    with pytest.raises(ValidationError, match="Enter the price in dollars"):
        billing_admin.parse_dollars(typed)


def test_a_save_that_changes_nothing_writes_no_audit_entry(
    db: Engine, admin: tuple[int, str]
) -> None:
    _, token = admin
    _save_pack(db, token)
    _save_pack(db, token, display_name=" Standard ")  # trimmed, it is the same name
    _save_settings(db, token, free_trial_credits=10, refund=True)
    assert _audit(db) == []
    _save_pack(db, token, price_cents=1099)
    _save_pack(db, token, price_cents=1099)
    assert len(_audit(db)) == 1


def test_a_non_admin_is_refused_and_nothing_changes(db: Engine, admin: tuple[int, str]) -> None:
    _, user_token = new_signed_in_user(db, "shopper@example.com")
    with pytest.raises(ForbiddenError):
        _save_pack(db, user_token, price_cents=1)
    with pytest.raises(ForbiddenError):
        _save_pack(db, user_token, price_cents=5000)
    with pytest.raises(ForbiddenError):
        _save_settings(db, user_token, free_trial_credits=1000, refund=False)
    assert _standard(db).price_cents == 999
    assert _audit(db) == []

    # The role is re-read every time: an admin demoted a moment ago is refused too.
    _, admin_token = admin
    with session_scope(db) as session:
        accounts.set_role(session, email="owner@example.com", role=UserRole.USER)
    with pytest.raises(ForbiddenError):
        _save_pack(db, admin_token, price_cents=5000)
    assert _standard(db).price_cents == 999
    assert _audit(db) == []


def _purchase(
    session: Session, user_id: int, status: PurchaseStatus, cents: int, **more: Any
) -> None:
    n = len(session.exec(select(Purchase.id)).all())
    session.add(
        Purchase(
            user_id=user_id,
            pack_code="standard",
            pack_display_name="Standard",
            amount_cents=cents,
            credits=50,
            status=status,
            transaction_id=f"t-{n}",
            **more,
        )
    )


def test_revenue_is_completed_minus_refunded(db: Engine) -> None:
    make_admin(db)  # the one who reads what the admin page shows
    user_id, _ = new_signed_in_user(db, "buyer@example.com")
    has_refunded_column = hasattr(Purchase, "refunded_cents")
    with session_scope(db) as session:
        assert admin_purchases.revenue_summary(session, admin=admin_proof(session)) == "$0.00"
        _purchase(session, user_id, PurchaseStatus.COMPLETED, 999)
        _purchase(session, user_id, PurchaseStatus.COMPLETED, 2499)
        refunded = {"refunded_cents": 999} if has_refunded_column else {}
        _purchase(session, user_id, PurchaseStatus.REFUNDED, 999, **refunded)
        _purchase(session, user_id, PurchaseStatus.PENDING, 999)
        _purchase(session, user_id, PurchaseStatus.PROCESSING, 999)
        _purchase(session, user_id, PurchaseStatus.FAILED, 999)
        _purchase(session, user_id, PurchaseStatus.EXPIRED, 999)
    with session_scope(db, write=False) as session:
        assert admin_purchases.revenue_summary(session, admin=admin_proof(session)) == "$34.98"
    if not has_refunded_column:
        return
    # A partial refund keeps the purchase completed and takes its share off the revenue.
    with session_scope(db) as session:
        _purchase(session, user_id, PurchaseStatus.COMPLETED, 9999, refunded_cents=2500)
    with session_scope(db, write=False) as session:
        assert admin_purchases.revenue_summary(session, admin=admin_proof(session)) == "$109.97"


def test_purchases_list_newest_first_with_what_refunds_took(db: Engine) -> None:
    make_admin(db)  # the one who reads what the admin page shows
    user_id, _ = new_signed_in_user(db, "buyer@example.com")
    reversal = (
        {"refunded_cents": 999, "clawed_back_credits": 20, "uncollected_credits": 30}
        if hasattr(Purchase, "uncollected_credits")
        else {}
    )
    with session_scope(db) as session:
        _purchase(session, user_id, PurchaseStatus.PENDING, 999)
        _purchase(
            session,
            user_id,
            PurchaseStatus.REFUNDED,
            999,
            stripe_checkout_session_id="cs_test_1",
            stripe_payment_intent_id="pi_test_1",
            **reversal,
        )
    with session_scope(db, write=False) as session:
        newest, oldest = admin_purchases.list_purchases(session, admin=admin_proof(session))
    assert (newest.user_email, newest.pack_name, newest.amount, newest.status) == (
        "buyer@example.com",
        "Standard",
        "$9.99",
        "refunded",
    )
    assert (newest.provider_session_id, newest.payment_intent) == ("cs_test_1", "pi_test_1")
    assert newest.created_at.endswith("Z")
    assert (oldest.provider_session_id, oldest.status) == ("", "pending")
    if reversal:
        assert (newest.clawed_back_credits, newest.uncollected_credits) == (20, 30)
        assert newest.refunded == "$9.99"


def test_checking_a_purchase_with_the_provider_credits_it_once(
    db: Engine, admin: tuple[int, str], fake_stripe: FakeStripe
) -> None:
    """The "Check with provider" path: a lost webhook still ends in credits, once."""
    buyer_id, _ = new_signed_in_user(db, "buyer@example.com")
    session_id = started_checkout(db, fake_stripe, buyer_id, paid=True)
    assert list(fake_stripe.sessions) == [session_id]
    provider = StripeCheckout(api_key=fake_stripe.api_key, api_base=fake_stripe.api_base)
    _, token = admin
    with session_scope(db, write=False) as session:
        proof = admin_rights.require_admin(session, token=token)
        [row] = admin_purchases.list_purchases(session, admin=proof)
        assert (
            admin_purchases.checkout_session_of(session, admin=proof, purchase_id=row.id)
            == session_id
        )
    first = checkout.fulfil_checkout(db=db, provider=provider, session_id=session_id)
    again = checkout.fulfil_checkout(db=db, provider=provider, session_id=session_id)
    assert (first.status, first.credited_now, again.credited_now) == ("completed", True, False)
    with session_scope(db, write=False) as session:
        buyer = session.get(User, buyer_id)
        assert buyer is not None and buyer.credits == 10 + 50  # free trial + the pack
        with pytest.raises(NotFoundError):
            admin_purchases.checkout_session_of(
                session, admin=admin_proof(session), purchase_id=row.id + 1
            )
