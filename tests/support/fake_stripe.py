"""A local HTTP server that speaks Stripe's API protocol for the endpoints Style Studio calls.

The official ``stripe`` SDK is pointed at it (``StripeCheckout(api_base=fake.api_base)``) and
talks to it exactly as it talks to Stripe: form-encoded bodies in Stripe's bracket notation,
Bearer auth with the secret key, ``Idempotency-Key`` replays and conflicts, Stripe's JSON
objects and error shapes. Tests steer it with plain methods (``complete``, ``expire``,
``fail_next``) and read what the SDK sent from ``requests``; ``event`` builds a webhook event
signed as Stripe signs it.

Use the ``fake_stripe`` fixture; import it with a redundant alias so linters see it used:
``from tests.support.fake_stripe import fake_stripe as fake_stripe``.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import pytest
import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from stylestudio.adapters.payments import sign_stripe_payload
from tests.support.server_thread import ServerThread

DEFAULT_API_KEY = "sk_test_fake_stylestudio_0000"
SESSION_LIFETIME_SECONDS = 24 * 3600


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]  # flat, as sent: {"line_items[0][price_data][unit_amount]": "999"}
    headers: dict[str, str]  # names lower-cased


@dataclass(frozen=True)
class SignedEvent:
    """A webhook delivery: the exact body bytes and its ``Stripe-Signature`` header."""

    event: dict[str, Any]
    payload: bytes
    signature: str


class StripeAPIError(Exception):
    """An error answer in Stripe's shape: ``{"error": {"type", "message", "code", "param"}}``."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        error_type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": error_type, "message": message}
        self.body |= {k: v for k, v in (("code", code), ("param", param)) if v}


def _new_id(prefix: str, length: int = 24) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def stripe_signature_header(
    payload: bytes, secret: str | Sequence[str], *, timestamp: int | None = None
) -> str:
    """``t=..,v1=..[,v1=..]``: one ``v1`` per secret, as Stripe sends while a secret rotates."""
    all_secrets = [secret] if isinstance(secret, str) else list(secret)
    ts = int(time.time()) if timestamp is None else timestamp
    parts = [sign_stripe_payload(payload, s, timestamp=ts).split(",", 1)[1] for s in all_secrets]
    return ",".join([f"t={ts}", *parts])


# --- Stripe's bracket form encoding --------------------------------------------------------

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def decode_form(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """``a[b][0][c]=v`` pairs → nested dicts/lists (values stay strings, as on the wire)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            raise StripeAPIError(f"Invalid parameter name: {key}")
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise StripeAPIError(f"Invalid hash: {key}")
            node = child
        node[parts[-1]] = value
    result = _listify(root)
    assert isinstance(result, dict)
    return result


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {key: _listify(value) for key, value in node.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


# What the fake accepts on POST /v1/checkout/sessions: nested dicts, [item schema], leaf types.
METADATA = "metadata"
_PRODUCT_DATA = {"name": str, "description": str, "metadata": METADATA}
_PRICE_DATA = {"currency": str, "unit_amount": int, "product_data": _PRODUCT_DATA}
_CREATE_SCHEMA: dict[str, Any] = {
    "mode": str,
    "success_url": str,
    "cancel_url": str,
    "client_reference_id": str,
    "metadata": METADATA,
    "line_items": [{"quantity": int, "price_data": _PRICE_DATA}],
    "payment_intent_data": {"description": str, "metadata": METADATA},
}


def _check(value: Any, schema: Any, path: str) -> Any:
    """Validate and coerce one decoded parameter against the schema, Stripe-style errors."""
    if schema == METADATA:
        if not isinstance(value, dict) or any(isinstance(v, dict | list) for v in value.values()):
            raise StripeAPIError(f"Invalid hash: {path}", param=path)
        if len(value) > 50 or any(len(k) > 40 or len(str(v)) > 500 for k, v in value.items()):
            raise StripeAPIError("Metadata too large", param=path)
        return {str(k): str(v) for k, v in value.items() if v != ""}
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            raise StripeAPIError(f"Invalid object: {path}", param=path)
        for key in value:
            if key not in schema:
                name = f"{path}[{key}]" if path else key
                message = f"Received unknown parameter: {name}"
                raise StripeAPIError(message, code="parameter_unknown", param=name)
        return {k: _check(v, schema[k], f"{path}[{k}]" if path else k) for k, v in value.items()}
    if isinstance(schema, list):
        if not isinstance(value, list):
            raise StripeAPIError(f"Invalid array: {path}", param=path)
        return [_check(item, schema[0], f"{path}[{i}]") for i, item in enumerate(value)]
    if schema is int:
        if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
            raise StripeAPIError(f"Invalid integer: {value}", param=path)
        return int(value)
    if not isinstance(value, str):
        raise StripeAPIError(f"Invalid string: {path}", param=path)
    return value


def _require(params: dict[str, Any], *names: str, prefix: str = "") -> None:
    for name in names:
        if params.get(name) in (None, "", [], {}):
            param = f"{prefix}[{name}]" if prefix else name
            message = f"Missing required param: {param}."
            raise StripeAPIError(message, code="parameter_missing", param=param)


# --- the server -----------------------------------------------------------------------------


class FakeStripe(ServerThread):
    """Stripe's Checkout Sessions API on 127.0.0.1, in a thread, with test controls."""

    def __init__(self, *, api_key: str = DEFAULT_API_KEY) -> None:
        self.api_key = api_key
        self._lock = threading.Lock()
        self._sessions: dict[str, dict[str, Any]] = {}
        self._requests: list[RecordedRequest] = []
        self._failures: list[tuple[StripeAPIError, bool | None]] = []
        # Idempotency-Key -> (fingerprint of the request, the response body first given)
        self._idempotent: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        routes = [Route("/{path:path}", self._handle, methods=["GET", "POST", "DELETE"])]
        self._app = Starlette(routes=routes)
        super().__init__(self._app, name="the fake Stripe server")

    # -- lifecycle --
    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # -- test controls --
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def sessions(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._sessions)

    def complete(self, session_id: str, *, paid: bool = True) -> dict[str, Any]:
        """The customer finished checkout: paid now, or (``paid=False``) an async method."""
        with self._lock:
            session = self._open_session(session_id)
            session["status"] = "complete"
            session["payment_status"] = "paid" if paid else "unpaid"
            session["payment_intent"] = _new_id("pi_")
            return copy.deepcopy(session)

    def settle(self, session_id: str, *, succeeded: bool = True) -> dict[str, Any]:
        """An asynchronous payment of a completed session cleared (or failed)."""
        with self._lock:
            session = self._sessions[session_id]
            if session["status"] != "complete" or session["payment_status"] != "unpaid":
                raise ValueError(f"{session_id} has no pending asynchronous payment")
            session["payment_status"] = "paid" if succeeded else "unpaid"
            return copy.deepcopy(session)

    def expire(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            session = self._open_session(session_id)
            session["status"] = "expired"
            return copy.deepcopy(session)

    def fail_next(
        self,
        status_code: int,
        error_type: str = "api_error",
        *,
        code: str | None = None,
        message: str | None = None,
        should_retry: bool | None = None,
    ) -> None:
        """Answer the next request with this error (queued: call twice for two failures).

        ``should_retry`` sets ``Stripe-Should-Retry``, which Stripe sends e.g. on a 429
        ``lock_timeout``; the SDK retries a 429 only when it is ``true``.
        """
        with self._lock:
            error = StripeAPIError(
                message or f"Injected {status_code}",
                status=status_code,
                error_type=error_type,
                code=code,
            )
            self._failures.append((error, should_retry))

    def success_redirect(self, session_id: str) -> str:
        """Where Stripe sends the browser after payment: the placeholder filled in."""
        with self._lock:
            url = str(self._sessions[session_id]["success_url"])
        return url.replace("{CHECKOUT_SESSION_ID}", session_id)

    def event(
        self,
        type: str,
        data_object: dict[str, Any],
        *,
        secret: str | Sequence[str],
        timestamp: int | None = None,
        event_id: str | None = None,
    ) -> SignedEvent:
        """A Stripe event around ``data_object``, signed with ``secret`` (or several)."""
        created = int(time.time()) if timestamp is None else timestamp
        event = {
            "id": event_id or _new_id("evt_"),
            "object": "event",
            "api_version": stripe.api_version,
            "created": created,
            "data": {"object": copy.deepcopy(data_object)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type,
        }
        payload = json.dumps(event, indent=2).encode()
        signature = stripe_signature_header(payload, secret, timestamp=created)
        return SignedEvent(event, payload, signature)

    def _open_session(self, session_id: str) -> dict[str, Any]:
        session = self._sessions[session_id]
        if session["status"] != "open":
            raise ValueError(f"{session_id} is {session['status']}, not open")
        return session

    # -- HTTP --
    async def _handle(self, request: Request) -> JSONResponse:
        body = (await request.body()).decode("utf-8", errors="replace")
        pairs = parse_qsl(body, keep_blank_values=True)
        record = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            form=dict(pairs),
            headers={k.lower(): v for k, v in request.headers.items()},
        )
        headers = {"Request-Id": _new_id("req_", 14), "Stripe-Version": stripe.api_version}
        with self._lock:
            self._requests.append(record)
            failure = self._failures.pop(0) if self._failures else None
        try:
            if failure is not None:
                error, should_retry = failure
                if should_retry is not None:
                    headers["Stripe-Should-Retry"] = str(should_retry).lower()
                raise error
            self._authenticate(record.headers.get("authorization"))
            result, replayed = self._route(record, pairs)
        except StripeAPIError as exc:
            return JSONResponse({"error": exc.body}, status_code=exc.status, headers=headers)
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(result, headers=headers)

    def _authenticate(self, authorization: str | None) -> None:
        if not authorization or not authorization.startswith("Bearer "):
            raise StripeAPIError(
                status=401,
                message="You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        key = authorization.removeprefix("Bearer ").strip()
        if not secrets.compare_digest(key.encode(), self.api_key.encode()):
            masked = key[:8] + "*" * max(len(key) - 12, 0) + key[-4:]
            code = "api_key_invalid" if key.startswith("sk_") else None
            raise StripeAPIError(f"Invalid API Key provided: {masked}", status=401, code=code)

    def _route(
        self, record: RecordedRequest, pairs: Sequence[tuple[str, str]]
    ) -> tuple[dict[str, Any], bool]:
        """The response body for an authenticated request, and whether it is a replay."""
        if (record.method, record.path) == ("POST", "/v1/checkout/sessions"):
            return self._create(record, pairs)
        retrieve = re.fullmatch(r"/v1/checkout/sessions/([^/]+)", record.path)
        if record.method == "GET" and retrieve:
            with self._lock:
                session = copy.deepcopy(self._sessions.get(retrieve.group(1)))
            if session is None:
                message = f"No such checkout.session: '{retrieve.group(1)}'"
                raise StripeAPIError(message, status=404, code="resource_missing", param="session")
            return session, False
        message = f"Unrecognized request URL ({record.method}: {record.path})."
        raise StripeAPIError(message, status=404)

    def _create(
        self, record: RecordedRequest, pairs: Sequence[tuple[str, str]]
    ) -> tuple[dict[str, Any], bool]:
        key = record.headers.get("idempotency-key")
        fingerprint = (record.path, tuple(sorted(pairs)))
        if key:
            with self._lock:
                stored = self._idempotent.get(key)
            if stored is not None:
                if stored[0] != fingerprint:
                    message = (
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with. Try using a key other than "
                        f"'{key}' if you meant to execute a different request."
                    )
                    raise StripeAPIError(message, error_type="idempotency_error")
                return copy.deepcopy(stored[1]), True

        params = _check(decode_form(pairs), _CREATE_SCHEMA, "")
        _require(params, "mode", "line_items", "success_url")
        if params["mode"] != "payment":
            raise StripeAPIError("This server supports only mode=payment.", param="mode")
        currencies = set()
        total = 0
        for i, item in enumerate(params["line_items"]):
            _require(item, "quantity", "price_data", prefix=f"line_items[{i}]")
            price = item["price_data"]
            prefix = f"line_items[{i}][price_data]"
            _require(price, "currency", "unit_amount", "product_data", prefix=prefix)
            _require(price["product_data"], "name", prefix=f"{prefix}[product_data]")
            if item["quantity"] < 1 or price["unit_amount"] < 0:
                raise StripeAPIError("Invalid amount or quantity.", param=f"line_items[{i}]")
            currencies.add(price["currency"].lower())
            total += price["unit_amount"] * item["quantity"]
        if len(currencies) != 1:
            message = "All line items must use the same currency."
            raise StripeAPIError(message, param="line_items")

        now = int(time.time())
        session_id = _new_id("cs_test_", 58)
        session: dict[str, Any] = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": currencies.pop(),
            "customer": None,
            "customer_details": None,
            "expires_at": now + SESSION_LIFETIME_SECONDS,
            "livemode": False,
            "metadata": params.get("metadata", {}),
            "mode": "payment",
            "payment_intent": None,
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params["success_url"],
            "ui_mode": "hosted",
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
        }
        with self._lock:
            self._sessions[session_id] = session
            if key:
                self._idempotent[key] = (fingerprint, copy.deepcopy(session))
            return copy.deepcopy(session), False


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    """A running fake Stripe for one test."""
    with FakeStripe() as server:
        yield server
