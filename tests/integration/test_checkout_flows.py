"""Buying credits as the pages (and later the REST API) call it: the provider's refusals
reach the page as domain errors, the return from checkout is confirmed with the provider,
and only an admin asks the provider about a purchase. Against the Stripe SDK and a local
Stripe; SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from stylestudio.adapters.payments import StripeCheckout
from stylestudio.db import session_scope
from stylestudio.models import Purchase
from stylestudio.services.billing import checkout_flows
from stylestudio.services.errors import (
    ForbiddenError,
    NotFoundError,
    PaymentProviderUnavailableError,
    UnauthorizedError,
)
from tests.support.admins import make_admin
from tests.support.builders import new_signed_in_user, signed_in_session
from tests.support.fake_stripe import FakeStripe
from tests.support.fake_stripe import fake_stripe as fake_stripe
from tests.support.lookups import balance

PUBLIC = "http://localhost:3000/"


@pytest.fixture
def provider(fake_stripe: FakeStripe) -> StripeCheckout:
    return StripeCheckout(api_key=fake_stripe.api_key, api_base=fake_stripe.api_base)


def _purchases(db: Engine) -> int:
    with session_scope(db, write=False) as session:
        return session.exec(select(func.count()).select_from(Purchase)).one()


def test_buying_without_a_provider_or_with_a_refusing_one_is_a_message(
    db: Engine, provider: StripeCheckout, fake_stripe: FakeStripe
) -> None:
    buyer, _token = new_signed_in_user(db, "buyer@example.com")
    with pytest.raises(PaymentProviderUnavailableError, match="not configured"):
        checkout_flows.buy_pack(
            db=db, provider=None, user_id=buyer, pack_code="standard", public_url=PUBLIC
        )
    assert _purchases(db) == 0

    fake_stripe.fail_next(400, "invalid_request_error", message="Your account cannot sell.")
    with pytest.raises(PaymentProviderUnavailableError, match="refused this checkout"):
        checkout_flows.buy_pack(
            db=db, provider=provider, user_id=buyer, pack_code="standard", public_url=PUBLIC
        )


def test_the_return_from_checkout_is_confirmed_with_the_provider_once(
    db: Engine, provider: StripeCheckout, fake_stripe: FakeStripe
) -> None:
    buyer, token = new_signed_in_user(db, "buyer@example.com")
    before = balance(db, buyer)
    url = checkout_flows.buy_pack(
        db=db, provider=provider, user_id=buyer, pack_code="standard", public_url=PUBLIC
    )
    [session_id] = list(fake_stripe.sessions)
    assert url.endswith(session_id)
    assert fake_stripe.sessions[session_id]["success_url"] == (
        "http://localhost:3000/credits?session_id={CHECKOUT_SESSION_ID}"
    )
    fake_stripe.complete(session_id)

    def returned(confirm: bool, as_token: str | None = token) -> checkout_flows.CheckoutView:
        return checkout_flows.returned_checkout(
            db=db, provider=provider, token=as_token, session_id=session_id, confirm=confirm
        )

    asked = len(fake_stripe.requests)
    assert returned(confirm=False).status == "pending"  # read only: the provider not asked
    assert len(fake_stripe.requests) == asked
    view = returned(confirm=True)
    assert (view.status, balance(db, buyer)) == ("completed", before + view.credits)
    assert returned(confirm=True).status == "completed"
    assert balance(db, buyer) == before + view.credits  # granted once

    _other, other_token = new_signed_in_user(db, "other@example.com")
    with pytest.raises(NotFoundError):
        returned(confirm=False, as_token=other_token)
    with pytest.raises(UnauthorizedError):
        returned(confirm=False, as_token=None)


def test_only_an_admin_asks_the_provider_about_a_purchase(
    db: Engine, provider: StripeCheckout, fake_stripe: FakeStripe
) -> None:
    buyer, buyer_token = new_signed_in_user(db, "buyer@example.com")
    checkout_flows.buy_pack(
        db=db, provider=provider, user_id=buyer, pack_code="standard", public_url=PUBLIC
    )
    [session_id] = list(fake_stripe.sessions)
    fake_stripe.complete(session_id)
    with session_scope(db, write=False) as session:
        purchase_id = session.exec(select(Purchase.id)).one()
    assert purchase_id is not None

    with pytest.raises(ForbiddenError):
        checkout_flows.check_purchase(
            db=db, provider=provider, token=buyer_token, purchase_id=purchase_id
        )
    with session_scope(db, write=False) as session:
        assert session.get(Purchase, purchase_id).status == "pending"  # type: ignore[union-attr]

    admin_token = signed_in_session(db, make_admin(db))
    with pytest.raises(PaymentProviderUnavailableError, match="no provider to ask"):
        checkout_flows.check_purchase(
            db=db, provider=None, token=admin_token, purchase_id=purchase_id
        )
    fake_stripe.fail_next(500)
    fake_stripe.fail_next(500)
    fake_stripe.fail_next(500)
    with pytest.raises(PaymentProviderUnavailableError, match="could not be asked"):
        checkout_flows.check_purchase(
            db=db, provider=provider, token=admin_token, purchase_id=purchase_id
        )
    outcome = checkout_flows.check_purchase(
        db=db, provider=provider, token=admin_token, purchase_id=purchase_id
    )
    assert (outcome.status, outcome.credited_now) == ("completed", True)
