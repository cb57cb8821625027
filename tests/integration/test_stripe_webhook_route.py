"""POST /api/webhooks/stripe as Stripe calls it: signed deliveries, bad ones refused before
anything is stored, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from stylestudio import runtime
from stylestudio.api.routes import build_api
from stylestudio.db import dispose_engines, session_scope
from stylestudio.models import ProcessedWebhookEvent, Purchase, User
from stylestudio.services.admin import admin
from stylestudio.settings import get_settings
from tests.support.admins import admin_proof, make_admin
from tests.support.builders import new_user, started_checkout
from tests.support.fake_stripe import FakeStripe
from tests.support.fake_stripe import fake_stripe as fake_stripe

OLD_SECRET, NEW_SECRET = "whsec_old_secret", "whsec_new_secret"


@pytest.fixture
def app(
    db: Engine, fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> Iterator[_SyncASGI]:
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("STRIPE_SECRET_KEY", fake_stripe.api_key)
    monkeypatch.setenv("STRIPE_API_BASE", fake_stripe.api_base)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", f"{NEW_SECRET}, {OLD_SECRET}")
    get_settings.cache_clear()
    runtime.reset()
    try:
        transport = httpx.ASGITransport(app=build_api())
        with _SyncASGI(transport) as client:
            yield client
    finally:
        dispose_engines()
        get_settings.cache_clear()
        runtime.reset()


class _SyncASGI:
    """A tiny sync facade over httpx's async ASGI transport (one event loop per call)."""

    def __init__(self, transport: httpx.ASGITransport) -> None:
        self.transport = transport

    def __enter__(self) -> _SyncASGI:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def post(self, path: str, *, content: bytes, headers: dict[str, str]) -> httpx.Response:
        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=self.transport, base_url="http://app") as c:
                return await c.post(path, content=content, headers=headers)

        return asyncio.run(send())


@pytest.fixture
def paid_session(db: Engine, fake_stripe: FakeStripe) -> tuple[int, str]:
    user_id = new_user(db, "payer@example.com")
    return user_id, started_checkout(db, fake_stripe, user_id, paid=True)


def _stored(db: Engine, user_id: int) -> tuple[int, int, str]:
    with session_scope(db, write=False) as session:
        events = session.exec(select(func.count()).select_from(ProcessedWebhookEvent)).one()
        user = session.get(User, user_id)
        purchase = session.exec(select(Purchase)).one()
        assert user is not None
        return events, user.credits, str(purchase.status)


def _post(client: _SyncASGI, payload: bytes, signature: str | None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["stripe-signature"] = signature
    return client.post("/api/webhooks/stripe", content=payload, headers=headers)


@pytest.mark.parametrize(
    "case",
    ["wrong secret", "tampered body", "older than 300 s", "missing header", "garbage header"],
)
def test_a_bad_delivery_answers_400_and_stores_nothing(
    app: _SyncASGI, db: Engine, fake_stripe: FakeStripe, paid_session: tuple[int, str], case: str
) -> None:
    user_id, sid = paid_session
    session_object = fake_stripe.sessions[sid]
    header: str | None
    if case == "wrong secret":
        signed = fake_stripe.event("checkout.session.completed", session_object, secret="whsec_x")
        payload, header = signed.payload, signed.signature
    elif case == "tampered body":
        signed = fake_stripe.event("checkout.session.completed", session_object, secret=NEW_SECRET)
        payload = signed.payload.replace(b'"livemode": false', b'"livemode": true')
        header = signed.signature
    elif case == "older than 300 s":
        signed = fake_stripe.event(
            "checkout.session.completed",
            session_object,
            secret=NEW_SECRET,
            timestamp=int(time.time()) - 301,
        )
        payload, header = signed.payload, signed.signature
    else:
        signed = fake_stripe.event("checkout.session.completed", session_object, secret=NEW_SECRET)
        payload = signed.payload
        header = None if case == "missing header" else "t=abc,v1=zzz"
    response = _post(app, payload, header)
    assert response.status_code == 400
    assert _stored(db, user_id) == (0, 10, "pending")


@pytest.mark.parametrize("secret", [NEW_SECRET, OLD_SECRET, [OLD_SECRET, "whsec_unknown"]])
def test_a_valid_delivery_credits_once_however_often_it_arrives(
    app: _SyncASGI,
    db: Engine,
    fake_stripe: FakeStripe,
    paid_session: tuple[int, str],
    secret: str | list[str],
) -> None:
    user_id, sid = paid_session
    session_object = fake_stripe.sessions[sid]
    signed = fake_stripe.event("checkout.session.completed", session_object, secret=secret)
    first = _post(app, signed.payload, signed.signature)
    assert first.status_code == 200, first.text
    assert first.json()["result"].endswith("completed")
    again = _post(app, signed.payload, signed.signature)
    assert again.status_code == 200 and again.json()["result"] == "duplicate"
    assert _stored(db, user_id) == (1, 60, "completed")


def test_an_unknown_event_type_is_acknowledged(
    app: _SyncASGI, db: Engine, fake_stripe: FakeStripe, paid_session: tuple[int, str]
) -> None:
    user_id, _sid = paid_session
    signed = fake_stripe.event("invoice.paid", {"id": "in_1"}, secret=NEW_SECRET)
    response = _post(app, signed.payload, signed.signature)
    assert response.status_code == 200 and response.json()["result"] == "ignored"
    assert _stored(db, user_id) == (1, 10, "pending")


def test_stripe_unreachable_asks_for_a_redelivery_and_stores_nothing(
    app: _SyncASGI, db: Engine, fake_stripe: FakeStripe, paid_session: tuple[int, str]
) -> None:
    user_id, sid = paid_session
    session_object = fake_stripe.sessions[sid]
    signed = fake_stripe.event("checkout.session.completed", session_object, secret=NEW_SECRET)
    for _ in range(3):  # the SDK's own retries included
        fake_stripe.fail_next(500, "api_error")
    response = _post(app, signed.payload, signed.signature)
    assert response.status_code == 503
    assert _stored(db, user_id) == (0, 10, "pending")
    retried = _post(app, signed.payload, signed.signature)
    assert retried.status_code == 200
    assert _stored(db, user_id) == (1, 60, "completed")


def test_a_refund_and_a_dispute_arrive_through_the_webhook(
    app: _SyncASGI, db: Engine, fake_stripe: FakeStripe, paid_session: tuple[int, str]
) -> None:
    make_admin(db)  # the one who reads what the admin page shows
    user_id, sid = paid_session
    completed = fake_stripe.event(
        "checkout.session.completed", fake_stripe.sessions[sid], secret=NEW_SECRET
    )
    assert _post(app, completed.payload, completed.signature).status_code == 200
    intent = fake_stripe.sessions[sid]["payment_intent"]
    charge = {
        "id": "ch_route_1",
        "object": "charge",
        "amount": 999,
        "amount_refunded": 500,
        "currency": "usd",
        "payment_intent": intent,
        "refunds": {
            "object": "list",
            "data": [
                {"id": "re_route_1", "object": "refund", "amount": 500, "status": "succeeded"}
            ],
            "has_more": False,
        },
    }
    refunded = fake_stripe.event("charge.refunded", charge, secret=NEW_SECRET)
    for _ in range(2):  # a redelivery takes nothing more
        response = _post(app, refunded.payload, refunded.signature)
        assert response.status_code == 200, response.text
    assert _stored(db, user_id)[1] == 60 - 26  # ceil(50 x 500 / 999) taken back
    dispute = {
        "id": "dp_route_1",
        "object": "dispute",
        "amount": 499,
        "charge": "ch_route_1",
        "payment_intent": intent,
        "reason": "fraudulent",
    }
    disputed = fake_stripe.event("charge.dispute.created", dispute, secret=NEW_SECRET)
    assert _post(app, disputed.payload, disputed.signature).status_code == 200
    with session_scope(db, write=False) as session:
        user = session.get(User, user_id)
        assert user is not None and user.flagged_for_review
        assert user.credits == 10  # the rest of the pack, 24 credits, taken back too
        flagged = admin.overview(session, admin=admin_proof(session)).flagged_users
        assert [f.email for f in flagged] == ["payer@example.com"]
        assert "disputed" in flagged[0].reason.lower()
