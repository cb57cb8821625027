"""The Stripe checkout provider, through the official SDK, against a local Stripe server.

Also the webhook signature matrix for ``verify_stripe_event``.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from stylestudio.adapters.payments import (
    CheckoutRequest,
    InvalidWebhookSignature,
    PaymentProviderError,
    StripeCheckout,
    sign_stripe_payload,
    verify_stripe_event,
)
from tests.support.fake_stripe import FakeStripe, stripe_signature_header
from tests.support.fake_stripe import fake_stripe as fake_stripe

SECRET = "whsec_current_0123456789"
OLD_SECRET = "whsec_previous_9876543210"


def checkout_request(purchase_id: int = 42, **changes: object) -> CheckoutRequest:
    fields: dict[str, object] = {
        "purchase_id": purchase_id,
        "user_id": 7,
        "pack_code": "standard",
        "pack_name": "Standard",
        "credits": 50,
        "amount_cents": 999,
        "currency": "usd",
        "success_url": "http://localhost:3000/credits?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://localhost:3000/credits?cancelled=1",
        "idempotency_key": f"checkout:purchase:{purchase_id}",
    }
    fields.update(changes)
    return CheckoutRequest(**fields)  # type: ignore[arg-type]


def provider(fake: FakeStripe, **options: object) -> StripeCheckout:
    return StripeCheckout(api_key=fake.api_key, api_base=fake.api_base, **options)  # type: ignore[arg-type]


# --- checkout sessions --------------------------------------------------------------------


def test_create_session_sends_stripe_form_encoding_and_idempotency_key(
    fake_stripe: FakeStripe,
) -> None:
    session = provider(fake_stripe).create_session(checkout_request())

    assert session.id.startswith("cs_test_")
    assert session.url == f"https://checkout.stripe.com/c/pay/{session.id}"
    assert (session.status, session.payment_status) == ("open", "unpaid")
    assert (session.amount_total, session.currency) == (999, "usd")
    assert session.client_reference_id == "7"
    assert session.payment_intent is None
    assert session.metadata == {"purchase_id": "42", "pack_code": "standard", "credits": "50"}

    (sent,) = fake_stripe.requests
    assert (sent.method, sent.path) == ("POST", "/v1/checkout/sessions")
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.headers["authorization"] == f"Bearer {fake_stripe.api_key}"
    assert sent.headers["idempotency-key"] == "checkout:purchase:42"
    assert sent.form == {
        "mode": "payment",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "usd",
        "line_items[0][price_data][unit_amount]": "999",
        "line_items[0][price_data][product_data][name]": "Standard pack (50 credits)",
        "client_reference_id": "7",
        "metadata[purchase_id]": "42",
        "metadata[pack_code]": "standard",
        "metadata[credits]": "50",
        "success_url": "http://localhost:3000/credits?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://localhost:3000/credits?cancelled=1",
    }
    assert fake_stripe.success_redirect(session.id).endswith(f"session_id={session.id}")


def test_a_retried_create_with_the_same_key_returns_the_same_session(
    fake_stripe: FakeStripe,
) -> None:
    checkout = provider(fake_stripe)
    first = checkout.create_session(checkout_request())
    again = checkout.create_session(checkout_request())

    assert again == first
    assert list(fake_stripe.sessions) == [first.id]
    assert len(fake_stripe.requests) == 2


def test_the_same_key_with_other_parameters_is_refused(fake_stripe: FakeStripe) -> None:
    checkout = provider(fake_stripe)
    checkout.create_session(checkout_request())

    with pytest.raises(PaymentProviderError) as caught:
        checkout.create_session(checkout_request(amount_cents=1999))

    assert caught.value.retryable is False
    assert len(fake_stripe.sessions) == 1


def test_a_new_purchase_gets_a_new_session(fake_stripe: FakeStripe) -> None:
    checkout = provider(fake_stripe)
    first = checkout.create_session(checkout_request(42))
    second = checkout.create_session(checkout_request(43))

    assert first.id != second.id
    assert second.metadata["purchase_id"] == "43"


def test_a_wrong_api_key_is_not_retryable(fake_stripe: FakeStripe) -> None:
    checkout = StripeCheckout(api_key="sk_test_wrong_key_1234", api_base=fake_stripe.api_base)

    with pytest.raises(PaymentProviderError) as caught:
        checkout.create_session(checkout_request())

    assert caught.value.retryable is False
    assert "sk_test" not in caught.value.message
    assert fake_stripe.sessions == {}
    assert len(fake_stripe.requests) == 1  # the SDK does not retry a 401


def test_the_sdk_retries_a_lock_timeout_429_with_the_same_idempotency_key(
    fake_stripe: FakeStripe,
) -> None:
    fake_stripe.fail_next(429, "invalid_request_error", code="lock_timeout", should_retry=True)

    session = provider(fake_stripe, max_network_retries=2).create_session(checkout_request())

    assert session.status == "open"
    attempts = fake_stripe.requests
    assert len(attempts) == 2
    assert {a.headers["idempotency-key"] for a in attempts} == {"checkout:purchase:42"}


def test_the_sdk_retries_a_500(fake_stripe: FakeStripe) -> None:
    fake_stripe.fail_next(500, "api_error")

    session = provider(fake_stripe, max_network_retries=1).create_session(checkout_request())

    assert session.id in fake_stripe.sessions
    assert len(fake_stripe.requests) == 2


def test_a_429_with_retries_off_is_a_retryable_error(fake_stripe: FakeStripe) -> None:
    fake_stripe.fail_next(429, "invalid_request_error", code="lock_timeout", should_retry=True)

    with pytest.raises(PaymentProviderError) as caught:
        provider(fake_stripe, max_network_retries=0).create_session(checkout_request())

    assert caught.value.retryable is True
    assert fake_stripe.sessions == {}


def test_a_plain_rate_limit_is_not_retried_by_the_sdk_but_is_retryable(
    fake_stripe: FakeStripe,
) -> None:
    fake_stripe.fail_next(429, "rate_limit_error", code="rate_limit")

    with pytest.raises(PaymentProviderError) as caught:
        provider(fake_stripe, max_network_retries=2).create_session(checkout_request())

    assert caught.value.retryable is True
    assert len(fake_stripe.requests) == 1


def test_a_server_error_after_retries_is_retryable(fake_stripe: FakeStripe) -> None:
    fake_stripe.fail_next(500, "api_error")
    fake_stripe.fail_next(503, "api_error")

    with pytest.raises(PaymentProviderError) as caught:
        provider(fake_stripe, max_network_retries=1).create_session(checkout_request())

    assert caught.value.retryable is True
    assert len(fake_stripe.requests) == 2


def test_an_unreachable_server_is_retryable() -> None:
    with FakeStripe() as server:
        api_base = server.api_base
    checkout = StripeCheckout(api_key="sk_test_x", api_base=api_base, max_network_retries=0)

    with pytest.raises(PaymentProviderError) as caught:
        checkout.create_session(checkout_request())

    assert caught.value.retryable is True


def test_retrieve_after_completion_shows_paid_and_the_payment_intent(
    fake_stripe: FakeStripe,
) -> None:
    checkout = provider(fake_stripe)
    created = checkout.create_session(checkout_request())
    assert checkout.retrieve_session(created.id).status == "open"

    completed = fake_stripe.complete(created.id)
    session = checkout.retrieve_session(created.id)

    assert (session.status, session.payment_status) == ("complete", "paid")
    assert session.payment_intent == completed["payment_intent"]
    assert session.payment_intent is not None and session.payment_intent.startswith("pi_")
    assert session.metadata["purchase_id"] == "42"
    assert fake_stripe.requests[-1].method == "GET"
    assert fake_stripe.requests[-1].path == f"/v1/checkout/sessions/{created.id}"


def test_retrieve_an_async_payment_then_expiry(fake_stripe: FakeStripe) -> None:
    checkout = provider(fake_stripe)
    pending = checkout.create_session(checkout_request(1))
    abandoned = checkout.create_session(checkout_request(2))

    fake_stripe.complete(pending.id, paid=False)
    fake_stripe.expire(abandoned.id)

    assert (
        checkout.retrieve_session(pending.id).status,
        checkout.retrieve_session(pending.id).payment_status,
    ) == ("complete", "unpaid")
    assert checkout.retrieve_session(abandoned.id).status == "expired"


def test_retrieve_an_unknown_session_is_not_retryable(fake_stripe: FakeStripe) -> None:
    with pytest.raises(PaymentProviderError) as caught:
        provider(fake_stripe).retrieve_session("cs_test_nope")

    assert caught.value.retryable is False
    assert caught.value.code == "resource_missing"


def test_the_fake_answers_like_stripe_on_the_wire(fake_stripe: FakeStripe) -> None:
    """Replays, conflicts and error shapes as Stripe sends them (what the SDK relies on)."""
    auth = {"Authorization": f"Bearer {fake_stripe.api_key}"}
    form = {
        "mode": "payment",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "usd",
        "line_items[0][price_data][unit_amount]": "500",
        "line_items[0][price_data][product_data][name]": "Starter pack (20 credits)",
        "success_url": "http://localhost:3000/credits?session_id={CHECKOUT_SESSION_ID}",
    }
    with httpx.Client(base_url=fake_stripe.api_base) as http:
        first = http.post(
            "/v1/checkout/sessions", data=form, headers={**auth, "Idempotency-Key": "k1"}
        )
        replay = http.post(
            "/v1/checkout/sessions", data=form, headers={**auth, "Idempotency-Key": "k1"}
        )
        conflict = http.post(
            "/v1/checkout/sessions",
            data={**form, "line_items[0][price_data][unit_amount]": "600"},
            headers={**auth, "Idempotency-Key": "k1"},
        )
        unknown = http.post("/v1/checkout/sessions", data={**form, "bogus": "1"}, headers=auth)
        no_key = http.post("/v1/checkout/sessions", data=form)
        missing = http.get("/v1/checkout/sessions/cs_test_nope", headers=auth)

    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    assert first.json()["object"] == "checkout.session" and first.json()["livemode"] is False
    assert first.json()["amount_total"] == 500
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert conflict.status_code == 400
    assert conflict.json()["error"]["type"] == "idempotency_error"
    assert unknown.status_code == 400
    assert unknown.json()["error"] == {
        "type": "invalid_request_error",
        "message": "Received unknown parameter: bogus",
        "code": "parameter_unknown",
        "param": "bogus",
    }
    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "invalid_request_error"
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "resource_missing"
    assert len(fake_stripe.sessions) == 1


# --- webhook signatures -------------------------------------------------------------------


def completed_event(fake: FakeStripe, **signing: object) -> tuple[bytes, str]:
    session = {"id": "cs_test_abc", "object": "checkout.session", "status": "complete"}
    signed = fake.event("checkout.session.completed", session, **signing)  # type: ignore[arg-type]
    return signed.payload, signed.signature


def test_a_validly_signed_event_is_returned(fake_stripe: FakeStripe) -> None:
    payload, signature = completed_event(fake_stripe, secret=SECRET)

    event = verify_stripe_event(payload, signature, [SECRET])

    assert event["type"] == "checkout.session.completed"
    assert event["data"]["object"]["id"] == "cs_test_abc"
    assert event["id"].startswith("evt_")


def test_our_signature_is_the_one_the_stripe_sdk_computes() -> None:
    import stripe

    payload = b'{"object": "event", "type": "x"}'
    expected = stripe.WebhookSignature.generate_signature_header(
        payload.decode(), SECRET, timestamp=1700000000
    )
    assert sign_stripe_payload(payload, SECRET, timestamp=1700000000) == expected


def test_a_wrong_secret_is_refused(fake_stripe: FakeStripe) -> None:
    payload, signature = completed_event(fake_stripe, secret="whsec_someone_else")
    with pytest.raises(InvalidWebhookSignature):
        verify_stripe_event(payload, signature, [SECRET])


def test_a_tampered_body_is_refused(fake_stripe: FakeStripe) -> None:
    payload, signature = completed_event(fake_stripe, secret=SECRET)
    tampered = payload.replace(b"cs_test_abc", b"cs_test_xyz")
    assert tampered != payload
    with pytest.raises(InvalidWebhookSignature):
        verify_stripe_event(tampered, signature, [SECRET])


def test_a_timestamp_older_than_300_seconds_is_refused(fake_stripe: FakeStripe) -> None:
    payload, signature = completed_event(
        fake_stripe, secret=SECRET, timestamp=int(time.time()) - 301
    )
    with pytest.raises(InvalidWebhookSignature):
        verify_stripe_event(payload, signature, [SECRET])


def test_a_timestamp_within_tolerance_is_accepted(fake_stripe: FakeStripe) -> None:
    payload, signature = completed_event(
        fake_stripe, secret=SECRET, timestamp=int(time.time()) - 240
    )
    assert verify_stripe_event(payload, signature, [SECRET])["type"]


@pytest.mark.parametrize("header", [None, "", "garbage", "t=abc,v1=00", "v1=deadbeef"])
def test_a_missing_or_malformed_header_is_refused(
    fake_stripe: FakeStripe, header: str | None
) -> None:
    payload, _ = completed_event(fake_stripe, secret=SECRET)
    with pytest.raises(InvalidWebhookSignature):
        verify_stripe_event(payload, header, [SECRET])


def test_rotation_two_v1_signatures_of_which_one_matches(fake_stripe: FakeStripe) -> None:
    payload, signature = completed_event(fake_stripe, secret=[OLD_SECRET, SECRET])
    assert signature.count("v1=") == 2

    assert verify_stripe_event(payload, signature, [SECRET])["type"]
    with pytest.raises(InvalidWebhookSignature):
        verify_stripe_event(payload, signature, ["whsec_neither"])


def test_rotation_two_configured_secrets_and_the_event_signed_with_the_second(
    fake_stripe: FakeStripe,
) -> None:
    payload, signature = completed_event(fake_stripe, secret=SECRET)

    assert verify_stripe_event(payload, signature, [OLD_SECRET, SECRET])["type"]
    assert verify_stripe_event(payload, signature, f"{OLD_SECRET}, {SECRET}")["type"]


def test_no_configured_secret_refuses_everything(fake_stripe: FakeStripe) -> None:
    payload, signature = completed_event(fake_stripe, secret=SECRET)
    with pytest.raises(InvalidWebhookSignature):
        verify_stripe_event(payload, signature, [])
    with pytest.raises(InvalidWebhookSignature):
        verify_stripe_event(payload, signature, ["", "  "])


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        json.dumps({"object": "charge", "type": "charge.refunded"}).encode(),
    ],
)
def test_a_signed_body_that_is_not_a_stripe_event_is_refused(payload: bytes) -> None:
    header = stripe_signature_header(payload, SECRET)
    with pytest.raises(InvalidWebhookSignature):
        verify_stripe_event(payload, header, [SECRET])
