"""Checkout providers: the shared contract, Stripe's implementation, webhook signatures.

A provider opens a hosted checkout session for one pending purchase and reads it back; the
services never trust the browser about the outcome, they re-read the session here. Stripe's
webhook events are verified with the SDK's own helper; ``sign_stripe_payload`` produces the
same ``Stripe-Signature`` header, so the offline provider's events and the tests' events go
through exactly the verification real Stripe events do.

No Reflex or database imports: the worker, the webhook route and the tests use this module.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import stripe
from stripe.params.checkout import SessionCreateParams

logger = logging.getLogger(__name__)

STRIPE_API_BASE = "https://api.stripe.com"
WEBHOOK_TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class CheckoutRequest:
    """One checkout for one pending purchase (the price is the pack's price right now)."""

    purchase_id: int
    user_id: int
    pack_code: str
    pack_name: str
    credits: int
    amount_cents: int
    currency: str  # "usd"
    success_url: str  # contains the literal "{CHECKOUT_SESSION_ID}" placeholder
    cancel_url: str
    idempotency_key: str  # e.g. "checkout:purchase-<uuid>" (never a row id: see migration 0007)


@dataclass(frozen=True)
class ProviderSession:
    """A checkout session as the provider sees it."""

    id: str  # "cs_test_..."
    url: str
    status: str  # "open" | "complete" | "expired"
    payment_status: str  # "paid" | "unpaid" | "no_payment_required"
    amount_total: int | None
    currency: str | None
    payment_intent: str | None
    client_reference_id: str | None
    metadata: dict[str, str] = field(default_factory=dict)


class PaymentProviderError(Exception):
    """The provider refused or could not be reached; `message` is safe to show."""

    def __init__(self, message: str, *, retryable: bool = False, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.code = code  # the provider's error code (e.g. "resource_missing"), for logs


class InvalidWebhookSignature(Exception):
    """A webhook body is not a genuine, recent event signed with a configured secret."""


class CheckoutProvider(Protocol):
    name: str  # "stripe" or "test"

    def create_session(self, request: CheckoutRequest) -> ProviderSession: ...

    def retrieve_session(self, session_id: str) -> ProviderSession: ...


def verify_stripe_event(
    payload: bytes,
    signature_header: str | None,
    secrets: Sequence[str],
    *,
    tolerance: int = WEBHOOK_TOLERANCE_SECONDS,
) -> dict[str, Any]:
    """Return the event in ``payload`` if its ``Stripe-Signature`` matches one of ``secrets``.

    Several secrets may be configured while one is rotated out. Raises
    ``InvalidWebhookSignature`` for a missing header, a signature that matches no secret, a
    timestamp older than ``tolerance`` seconds, or a body that is not a Stripe event.
    """
    if not signature_header:
        raise InvalidWebhookSignature("missing Stripe-Signature header")
    if isinstance(secrets, str):  # "whsec_a,whsec_b" straight from the setting
        secrets = secrets.split(",")
    usable = [secret.strip() for secret in secrets if secret and secret.strip()]
    if not usable:
        raise InvalidWebhookSignature("no webhook secret configured")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidWebhookSignature("payload is not UTF-8") from exc

    last_error: stripe.SignatureVerificationError | None = None
    for secret in usable:
        try:
            stripe.WebhookSignature.verify_header(text, signature_header, secret, tolerance)
        except stripe.SignatureVerificationError as exc:
            last_error = exc
            continue
        break
    else:
        raise InvalidWebhookSignature(str(last_error)) from last_error

    try:
        event = json.loads(text)
    except ValueError as exc:
        raise InvalidWebhookSignature("payload is not JSON") from exc
    if not isinstance(event, dict) or event.get("object") != "event" or "type" not in event:
        raise InvalidWebhookSignature("payload is not a Stripe event")
    return event


def sign_stripe_payload(payload: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header for ``payload``, computed as Stripe computes it."""
    ts = int(time.time()) if timestamp is None else timestamp
    signed = f"{ts}.".encode() + payload
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


class StripeCheckout:
    """Stripe Checkout (hosted page, payment mode) through the official SDK's ``StripeClient``.

    ``api_base`` lets a local server that speaks Stripe's protocol stand in for Stripe.
    The SDK retries connection errors, 409s, 5xx and responses marked
    ``Stripe-Should-Retry: true`` by itself, re-sending the same ``Idempotency-Key``.
    """

    name = "stripe"

    def __init__(
        self,
        *,
        api_key: str,
        api_base: str = STRIPE_API_BASE,
        max_network_retries: int = 2,
        timeout: float = 30.0,
    ) -> None:
        if not api_key:
            raise ValueError("a Stripe secret key is required")
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")},
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def create_session(self, request: CheckoutRequest) -> ProviderSession:
        params: SessionCreateParams = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": request.currency,
                        "unit_amount": request.amount_cents,
                        "product_data": {
                            "name": f"{request.pack_name} pack ({request.credits} credits)"
                        },
                    },
                }
            ],
            "client_reference_id": str(request.user_id),
            "metadata": {
                "purchase_id": str(request.purchase_id),
                "pack_code": request.pack_code,
                "credits": str(request.credits),
            },
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
        }
        try:
            session = self._client.v1.checkout.sessions.create(
                params, {"idempotency_key": request.idempotency_key}
            )
        except stripe.StripeError as exc:
            raise _provider_error(exc, "create a checkout session") from exc
        return _provider_session(session.to_dict())

    def retrieve_session(self, session_id: str) -> ProviderSession:
        try:
            session = self._client.v1.checkout.sessions.retrieve(session_id)
        except stripe.StripeError as exc:
            raise _provider_error(exc, f"retrieve checkout session {session_id}") from exc
        return _provider_session(session.to_dict())


def _provider_session(data: dict[str, Any]) -> ProviderSession:
    payment_intent = data.get("payment_intent")
    if isinstance(payment_intent, dict):  # expanded
        payment_intent = payment_intent.get("id")
    metadata = data.get("metadata") or {}
    return ProviderSession(
        id=str(data["id"]),
        url=str(data.get("url") or ""),
        status=str(data.get("status") or ""),
        payment_status=str(data.get("payment_status") or ""),
        amount_total=data.get("amount_total"),
        currency=data.get("currency"),
        payment_intent=payment_intent,
        client_reference_id=data.get("client_reference_id"),
        metadata={str(key): str(value) for key, value in metadata.items()},
    )


def _provider_error(exc: stripe.StripeError, action: str) -> PaymentProviderError:
    """Turn an SDK error into a message a user may see and whether trying again can help."""
    status = exc.http_status
    logger.warning(
        "stripe: could not %s: %s (status %s, code %s, request %s)",
        action,
        exc.user_message,
        status,
        exc.code,
        exc.request_id,
    )
    if isinstance(exc, stripe.APIConnectionError):
        return PaymentProviderError(
            "The payment provider could not be reached. Please try again in a moment.",
            retryable=True,
            code=exc.code,
        )
    if isinstance(exc, stripe.RateLimitError):
        return PaymentProviderError(
            "The payment provider is busy. Please try again in a moment.",
            retryable=True,
            code=exc.code,
        )
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return PaymentProviderError(
            "Payments are not configured correctly. Please contact support.", code=exc.code
        )
    if isinstance(exc, stripe.CardError):
        return PaymentProviderError(exc.user_message or "The payment was declined.", code=exc.code)
    if isinstance(exc, stripe.InvalidRequestError) and exc.code == "resource_missing":
        return PaymentProviderError("That checkout session does not exist.", code=exc.code)
    if isinstance(exc, stripe.APIError) and (status is None or status >= 500):
        return PaymentProviderError(
            "The payment provider had a problem. Please try again in a moment.",
            retryable=True,
            code=exc.code,
        )
    # Invalid requests, idempotency conflicts and anything else: trying again cannot help.
    return PaymentProviderError("The payment provider refused this checkout.", code=exc.code)
