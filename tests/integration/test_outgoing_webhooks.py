"""Outgoing webhooks end to end, on SQLite and PostgreSQL: events written with the change
that causes them, delivered signed (verified here with the `standardwebhooks` library by a
local receiver), retried with back-off for a day, replayed, never sent twice by concurrent
workers, never to another user's endpoint, and never (in production) to private addresses.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stylestudio.adapters.local_engine.engine import LocalEngine
from stylestudio.adapters.payments import StripeCheckout
from stylestudio.adapters.storage import LocalStorage
from stylestudio.db import session_scope
from stylestudio.models import WebhookDelivery, WebhookDeliveryStatus, utcnow
from stylestudio.services.billing import checkout
from stylestudio.services.errors import NotFoundError, ValidationError
from stylestudio.services.generation.generation_endings import end_generation
from stylestudio.services.integrations import (
    webhook_delivery,
    webhook_endpoints,
    webhook_events,
)
from stylestudio.services.integrations.webhook_delivery import deliver_due
from stylestudio.settings import get_settings
from stylestudio.worker import GenerationWorker
from tests.support.builders import new_generation, new_upload, new_user, run_one_job
from tests.support.fake_stripe import FakeStripe
from tests.support.fake_stripe import fake_stripe as fake_stripe
from tests.support.server_thread import ServerThread

PRODUCTION_KEY = "p" * 40
PUBLIC = "93.184.216.34"  # a public address (example.com's, documentation aside)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    payload: dict[str, Any] = field(default_factory=dict)


class Receiver(ServerThread):
    """A customer's endpoint: answers the queued status codes (then 200) and verifies every
    delivery's signature with the endpoint's secret, as the Standard Webhooks library does."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: list[int] = []
        self.secret = ""
        self.delay_s = 0.0
        self._lock = threading.Lock()
        super().__init__(
            Starlette(routes=[Route("/hook", self._hook, methods=["POST"])]), name="hooks"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        try:
            payload = Webhook(self.secret).verify(body, headers)
            verified = True
        except Exception:
            payload, verified = {}, False
        if self.delay_s:
            time.sleep(self.delay_s)  # a slow receiver: widens the window for races
        with self._lock:
            self.received.append(Received(headers, body, verified, payload))
            status = self.answers.pop(0) if self.answers else 200
        return Response(status_code=status)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with webhook_delivery.new_http_client() as c:
        yield c


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("STYLESTUDIO_ENV", "production")
    monkeypatch.setenv("STYLESTUDIO_SECRET_KEY", PRODUCTION_KEY)
    monkeypatch.setenv("STYLESTUDIO_WEBHOOKS_ALLOW_PRIVATE", "false")
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()


def _production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STYLESTUDIO_ENV", "production")
    monkeypatch.setenv("STYLESTUDIO_SECRET_KEY", PRODUCTION_KEY)
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _endpoint(
    db: Engine,
    user_id: int,
    url: str,
    events: tuple[str, ...] = tuple(webhook_endpoints.EVENT_TYPES),
) -> webhook_endpoints.CreatedWebhookEndpoint:
    with session_scope(db) as session:
        return webhook_endpoints.create_endpoint(session, user_id=user_id, url=url, events=events)


def _event(db: Engine, user_id: int, n: int = 1) -> int:
    with session_scope(db) as session:
        return webhook_events.enqueue_event(
            session, user_id=user_id, event_type="generation.completed", data={"generation_id": n}
        )


def _deliveries(db: Engine) -> list[WebhookDelivery]:
    with session_scope(db, write=False) as session:
        return list(session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id))).all())


def _at(moment: datetime) -> Any:
    return lambda: moment


def _aware(value: datetime) -> datetime:
    return webhook_delivery.aware(value)


# --------------------------------------------------------------------------- delivery


def test_a_completed_generation_reaches_its_endpoint_once_signed(
    db: Engine, storage: LocalStorage, receiver: Receiver, client: httpx.Client
) -> None:
    user = new_user(db, "seller@example.com")
    created = _endpoint(db, user, receiver.url, ("generation.completed",))
    receiver.secret = created.secret
    assert created.secret.startswith("whsec_")
    generation_id = new_generation(db, user_id=user, image_id=new_upload(db, storage, user))
    assert run_one_job(db, storage, LocalEngine())

    assert deliver_due(db=db, client=client, worker_id="w1") == [WebhookDeliveryStatus.DELIVERED]
    assert deliver_due(db=db, client=client, worker_id="w1") == []

    [got] = receiver.received
    assert got.verified
    assert got.headers["webhook-id"].startswith("msg_")
    assert got.payload["id"] == got.headers["webhook-id"]
    assert got.payload["type"] == "generation.completed"
    data = got.payload["data"]
    assert (data["generation_id"], data["status"], data["style"]) == (
        generation_id,
        "completed",
        "realistic",
    )
    assert data["credits_used"] > 0
    [delivery] = _deliveries(db)
    assert delivery.status == WebhookDeliveryStatus.DELIVERED
    assert (delivery.attempts, delivery.last_status_code) == (1, 200)
    assert delivery.last_latency_ms is not None and delivery.delivered_at is not None
    with session_scope(db, write=False) as session:
        [view] = webhook_delivery.list_deliveries(
            session, user_id=user, endpoint_id=created.endpoint.id
        )
    assert (view.status, view.attempts, view.last_status_code) == ("delivered", 1, 200)


def test_a_failed_generation_sends_generation_failed_only_to_its_subscribers(
    db: Engine, storage: LocalStorage, receiver: Receiver, client: httpx.Client
) -> None:
    user = new_user(db, "seller@example.com")
    failed_only = _endpoint(db, user, receiver.url, ("generation.failed",))
    _endpoint(db, user, receiver.url + "?completed", ("generation.completed",))
    receiver.secret = failed_only.secret
    generation_id = new_generation(db, user_id=user, image_id=new_upload(db, storage, user))
    with session_scope(db) as session:
        assert end_generation(session, generation_id=generation_id, error="The engine broke.")

    assert deliver_due(db=db, client=client, worker_id="w1") == [WebhookDeliveryStatus.DELIVERED]
    [got] = receiver.received
    assert got.verified and got.payload["type"] == "generation.failed"
    assert got.payload["data"]["error"] == "The engine broke."


def test_an_event_whose_transaction_rolls_back_is_never_sent(
    db: Engine, receiver: Receiver
) -> None:
    user = new_user(db, "seller@example.com")
    _endpoint(db, user, receiver.url)
    with pytest.raises(RuntimeError), session_scope(db) as session:
        webhook_events.enqueue_event(
            session, user_id=user, event_type="generation.completed", data={}
        )
        raise RuntimeError("the change that caused the event failed")
    assert _deliveries(db) == []


def test_a_purchase_sends_credits_purchased_once(
    db: Engine, fake_stripe: FakeStripe, receiver: Receiver, client: httpx.Client
) -> None:
    provider = StripeCheckout(api_key=fake_stripe.api_key, api_base=fake_stripe.api_base)
    user = new_user(db, "buyer@example.com")
    receiver.secret = _endpoint(db, user, receiver.url, ("credits.purchased",)).secret
    checkout.start_checkout(
        db=db,
        provider=provider,
        user_id=user,
        pack_code="standard",
        success_url="http://localhost:3000/credits?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://localhost:3000/credits",
    )
    [sid] = list(fake_stripe.sessions)
    fake_stripe.complete(sid)
    for _ in range(3):  # the webhook, the browser's return, reconciliation: credited once
        checkout.fulfil_checkout(db=db, provider=provider, session_id=sid)

    assert deliver_due(db=db, client=client, worker_id="w1") == [WebhookDeliveryStatus.DELIVERED]
    [got] = receiver.received
    assert got.verified and got.payload["type"] == "credits.purchased"
    data = got.payload["data"]
    assert (data["credits"], data["amount_cents"], data["pack"]) == (50, 999, "standard")


def test_500_three_times_then_200_delivers_on_the_fourth_attempt_further_apart_each_time(
    db: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    user = new_user(db, "seller@example.com")
    receiver.secret = _endpoint(db, user, receiver.url).secret
    receiver.answers = [500, 500, 500]
    _event(db, user)
    t0 = utcnow()

    assert deliver_due(db=db, client=client, worker_id="w", now=_at(t0)) == ["pending"]
    [first] = _deliveries(db)
    gap1 = _aware(first.next_attempt_at) - t0
    assert timedelta(seconds=25) <= gap1 <= timedelta(seconds=35)
    assert (first.attempts, first.last_status_code, first.last_error) == (1, 500, "HTTP 500")
    # Not due yet: nothing is sent.
    assert deliver_due(db=db, client=client, worker_id="w", now=_at(t0 + gap1 / 2)) == []

    due, gaps = _aware(first.next_attempt_at), [gap1]
    for attempts in (2, 3):
        assert deliver_due(db=db, client=client, worker_id="w", now=_at(due)) == ["pending"]
        [row] = _deliveries(db)
        assert (row.attempts, row.last_status_code) == (attempts, 500)
        gaps.append(_aware(row.next_attempt_at) - due)
        due = _aware(row.next_attempt_at)
    assert gaps[0] < gaps[1] < gaps[2]  # about 30 s, 60 s, 120 s (±10 %)
    assert timedelta(seconds=100) <= gaps[2] <= timedelta(seconds=140)

    assert deliver_due(db=db, client=client, worker_id="w", now=_at(due)) == ["delivered"]
    [fourth] = _deliveries(db)
    assert (fourth.status, fourth.attempts, fourth.last_status_code) == ("delivered", 4, 200)
    assert len(receiver.received) == 4 and all(r.verified for r in receiver.received)
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1  # the same message


def test_a_day_of_failures_fails_the_delivery_and_a_replay_delivers_it(
    db: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    user = new_user(db, "seller@example.com")
    receiver.secret = _endpoint(db, user, receiver.url).secret
    receiver.answers = [503] * 100
    _event(db, user)
    [delivery] = _deliveries(db)
    created = _aware(delivery.created_at)
    moment = created
    while delivery.status == WebhookDeliveryStatus.PENDING:
        deliver_due(db=db, client=client, worker_id="w", now=_at(moment))
        [delivery] = _deliveries(db)
        moment = _aware(delivery.next_attempt_at)
        assert moment <= created + timedelta(hours=24)
    assert delivery.status == WebhookDeliveryStatus.FAILED
    # Back-off: 30 s doubling, capped at an hour, within a day — about 30 attempts.
    assert 25 <= delivery.attempts <= 35
    assert len(receiver.received) == delivery.attempts
    assert (
        deliver_due(db=db, client=client, worker_id="w", now=_at(moment + timedelta(days=2))) == []
    )

    receiver.answers = []
    assert delivery.id is not None
    with session_scope(db) as session:
        view = webhook_delivery.replay(session, user_id=user, delivery_id=delivery.id)
    assert (view.status, view.attempts) == ("pending", 0)
    assert deliver_due(db=db, client=client, worker_id="w") == ["delivered"]
    [delivery] = _deliveries(db)
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert receiver.received[-1].verified


def test_two_workers_at_once_send_each_attempt_once(
    db: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    user = new_user(db, "seller@example.com")
    receiver.secret = _endpoint(db, user, receiver.url).secret
    receiver.delay_s = 0.02
    for n in range(24):
        _event(db, user, n)
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(worker_id: str) -> None:
        start.wait()
        try:
            while deliver_due(db=db, client=client, worker_id=worker_id, limit=4):
                pass
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(ids) == 24 and len(set(ids)) == 24
    assert all(d.status == "delivered" and d.attempts == 1 for d in _deliveries(db))


def test_a_dead_workers_lease_expires_and_another_worker_delivers(
    db: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    user = new_user(db, "seller@example.com")
    receiver.secret = _endpoint(db, user, receiver.url).secret
    _event(db, user)
    t0 = utcnow()
    with session_scope(db) as session:  # worker w1 leases it, then dies before sending
        assert len(webhook_delivery.claim_due(session, worker_id="w1", now=t0)) == 1
    assert deliver_due(db=db, client=client, worker_id="w2", now=_at(t0)) == []
    later = t0 + timedelta(seconds=webhook_delivery.LEASE_SECONDS + 1)
    assert deliver_due(db=db, client=client, worker_id="w2", now=_at(later)) == ["delivered"]
    assert len(receiver.received) == 1 and receiver.received[0].verified


def test_a_running_worker_runs_the_job_and_delivers_its_webhook(
    db: Engine, storage: LocalStorage, receiver: Receiver
) -> None:
    user = new_user(db, "seller@example.com")
    receiver.secret = _endpoint(db, user, receiver.url, ("generation.completed",)).secret
    generation_id = new_generation(db, user_id=user, image_id=new_upload(db, storage, user))
    worker = GenerationWorker(db=db, storage=storage, engine=LocalEngine(), concurrency=2)

    async def main() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        deadline = time.monotonic() + 30
        while not receiver.received and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        stop.set()
        await running

    asyncio.run(main())
    [got] = receiver.received
    assert got.verified and got.payload["data"]["generation_id"] == generation_id


# --------------------------------------------------------------------------- ownership


def test_an_endpoint_never_gets_another_users_events(
    db: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    alice = new_user(db, "alice@example.com")
    bob = new_user(db, "bob@example.com")
    alices = _endpoint(db, alice, receiver.url + "?alice")
    bobs = _endpoint(db, bob, receiver.url + "?bob")
    receiver.secret = bobs.secret
    assert _event(db, bob) == 1

    assert deliver_due(db=db, client=client, worker_id="w") == ["delivered"]
    [got] = receiver.received
    assert got.verified  # with Bob's secret: Alice's would not verify
    [delivery] = _deliveries(db)
    assert delivery.endpoint_id == bobs.endpoint.id
    assert delivery.id is not None
    with session_scope(db) as session:
        with pytest.raises(NotFoundError):
            webhook_delivery.replay(session, user_id=alice, delivery_id=delivery.id)
        with pytest.raises(NotFoundError):
            webhook_delivery.list_deliveries(session, user_id=alice, endpoint_id=bobs.endpoint.id)
        with pytest.raises(NotFoundError):
            webhook_endpoints.delete_endpoint(session, user_id=alice, endpoint_id=bobs.endpoint.id)
        with pytest.raises(NotFoundError):
            webhook_endpoints.rotate_secret(session, user_id=alice, endpoint_id=bobs.endpoint.id)
        assert [e.id for e in webhook_endpoints.list_endpoints(session, user_id=alice)] == [
            alices.endpoint.id
        ]


def test_deleting_an_endpoint_stops_its_deliveries(
    db: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    user = new_user(db, "seller@example.com")
    created = _endpoint(db, user, receiver.url)
    _event(db, user)
    with session_scope(db) as session:
        webhook_endpoints.delete_endpoint(session, user_id=user, endpoint_id=created.endpoint.id)
    assert _event(db, user) == 0
    assert deliver_due(db=db, client=client, worker_id="w") == []
    assert receiver.received == [] and _deliveries(db) == []


def test_a_rotated_secret_signs_the_next_deliveries(
    db: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    user = new_user(db, "seller@example.com")
    created = _endpoint(db, user, receiver.url)
    with session_scope(db) as session:
        rotated = webhook_endpoints.rotate_secret(
            session, user_id=user, endpoint_id=created.endpoint.id
        )
    assert rotated != created.secret
    receiver.secret = created.secret
    _event(db, user, 1)
    deliver_due(db=db, client=client, worker_id="w")
    receiver.secret = rotated
    _event(db, user, 2)
    deliver_due(db=db, client=client, worker_id="w")
    assert [r.verified for r in receiver.received] == [False, True]


def test_an_account_holds_at_most_the_configured_number_of_endpoints(
    db: Engine, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STYLESTUDIO_WEBHOOK_ENDPOINTS_PER_USER", "2")
    get_settings.cache_clear()
    user = new_user(db, "seller@example.com")
    _endpoint(db, user, receiver.url)
    _endpoint(db, user, receiver.url)
    with pytest.raises(ValidationError, match="at most 2"):
        _endpoint(db, user, receiver.url)
    with session_scope(db) as session, pytest.raises(ValidationError, match="Unknown event"):
        webhook_endpoints.create_endpoint(
            session, user_id=new_user(db, "other@example.com"), url=receiver.url, events=["x.y"]
        )


# --------------------------------------------------------------------------- SSRF


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.5/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://localhost/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://100.64.0.1/hook",
    ],
)
def test_production_refuses_to_save_private_targets(db: Engine, production: None, url: str) -> None:
    user = new_user(db, "seller@example.com")
    with session_scope(db) as session, pytest.raises(ValidationError):
        webhook_endpoints.create_endpoint(
            session, user_id=user, url=url, events=["generation.completed"]
        )
    with session_scope(db, write=False) as session:
        assert webhook_endpoints.list_endpoints(session, user_id=user) == []


def test_production_saves_a_public_https_target_and_private_ones_when_allowed(
    db: Engine, production: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = new_user(db, "seller@example.com")
    with session_scope(db) as session:
        created = webhook_endpoints.create_endpoint(
            session,
            user_id=user,
            url="https://hooks.example.com/in",
            events=["generation.completed"],
            resolve=lambda host, port: [PUBLIC],
        )
    assert created.endpoint.url == "https://hooks.example.com/in"
    monkeypatch.setenv("STYLESTUDIO_WEBHOOKS_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    with session_scope(db) as session:
        webhook_endpoints.create_endpoint(
            session, user_id=user, url="https://10.0.0.5/hook", events=["generation.failed"]
        )


def test_production_refuses_a_private_target_at_delivery_time(
    db: Engine, receiver: Receiver, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saved while allowed (development), then the app runs in production: `localhost`
    resolves to a loopback address, so the delivery fails with the reason, unsent."""
    user = new_user(db, "seller@example.com")
    _endpoint(db, user, f"https://localhost:{receiver.port}/hook")
    _event(db, user)
    _production(monkeypatch)
    assert deliver_due(db=db, client=client, worker_id="w") == ["failed"]
    [delivery] = _deliveries(db)
    assert delivery.last_error is not None and "loopback" in delivery.last_error
    assert delivery.last_status_code is None and receiver.received == []


def test_a_host_that_resolves_elsewhere_after_saving_is_refused_at_delivery(
    db: Engine, production: None, client: httpx.Client
) -> None:
    """DNS rebinding: public when saved, the metadata address when sent."""
    user = new_user(db, "seller@example.com")
    with session_scope(db) as session:
        webhook_endpoints.create_endpoint(
            session,
            user_id=user,
            url="https://hooks.example.com/in",
            events=["generation.completed"],
            resolve=lambda host, port: [PUBLIC],
        )
    _event(db, user)
    statuses = deliver_due(
        db=db, client=client, worker_id="w", resolve=lambda host, port: ["169.254.169.254"]
    )
    assert statuses == ["failed"]
    [delivery] = _deliveries(db)
    assert delivery.last_error is not None and "link-local" in delivery.last_error


def test_finished_deliveries_are_forgotten_after_30_days_pending_ones_never(
    db: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    user = new_user(db, "seller@example.com")
    receiver.secret = _endpoint(db, user, receiver.url).secret
    _event(db, user, 1)
    _event(db, user, 2)
    t0 = utcnow()
    receiver.answers = [200, 500]
    deliver_due(db=db, client=client, worker_id="w", now=_at(t0))
    assert sorted(d.status for d in _deliveries(db)) == ["delivered", "pending"]

    with session_scope(db) as session:
        assert webhook_delivery.forget_old_deliveries(session, now=t0 + timedelta(days=29)) == 0
    with session_scope(db) as session:
        assert webhook_delivery.forget_old_deliveries(session, now=t0 + timedelta(days=31)) == 1
    assert [d.status for d in _deliveries(db)] == ["pending"]


def test_the_workers_hourly_chore_forgets_what_has_expired(
    db: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    from stylestudio import worker

    user = new_user(db, "seller@example.com")
    receiver.secret = _endpoint(db, user, receiver.url).secret
    _event(db, user)
    deliver_due(db=db, client=client, worker_id="w", now=_at(utcnow()))
    assert worker.forget_expired(db) == (0, 0)  # delivered just now: kept
    with session_scope(db) as session:
        for delivery in session.exec(select(WebhookDelivery)).all():
            delivery.created_at = utcnow() - timedelta(days=40)
            session.add(delivery)
    assert worker.forget_expired(db) == (0, 1)
    assert _deliveries(db) == []
