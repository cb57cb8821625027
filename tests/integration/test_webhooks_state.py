"""/account's Webhooks section through Reflex's own event processing: an endpoint added from
the page gets its signing secret to the browser as a client-side event only, never into the
tab's state (which Reflex saves to Redis or disk); its deliveries are listed, signed with that
secret, and replayed from the page; another user's tab can neither see the secret nor touch
the endpoint or its deliveries. Against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import reflex as rx
from reflex.state import BaseState
from reflex_base.utils.format import format_ref
from sqlalchemy.engine import Engine
from sqlmodel import select
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stylestudio.db import session_scope
from stylestudio.models import WebhookDelivery
from stylestudio.services.integrations import webhook_delivery, webhook_events
from stylestudio.services.integrations.webhook_endpoints import signing_secret
from stylestudio.settings import get_settings
from stylestudio.state.account import AccountState
from stylestudio.state.webhooks import SECRET_FIELD_ID, WebhooksState
from tests.support.app_states import app_db as app_db
from tests.support.builders import new_signed_in_user
from tests.support.event_processing import AppEvents, event_name, new_tab
from tests.support.server_thread import ServerThread

FIELD_REF = format_ref(SECRET_FIELD_ID)
SECRET = re.compile(r"whsec_[A-Za-z0-9+/]{43}=")


class Receiver(ServerThread):
    """The customer's endpoint: keeps each request's body and headers, answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        super().__init__(
            Starlette(routes=[Route("/hook", self._hook, methods=["POST"])]), name="hooks"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: Request) -> Response:
        self.received.append((await request.body(), dict(request.headers)))
        return Response(status_code=200)


class Worker:
    """The worker's webhook loop, in a thread: sends whatever is due, every 0.1 s."""

    def __init__(self, db: Engine) -> None:
        self._db = db
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with webhook_delivery.new_http_client() as client:
            while not self._stop.wait(0.1):
                webhook_delivery.deliver_due(db=self._db, client=client, worker_id="test-worker")

    def __enter__(self) -> Worker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def _secrets(answer: Any) -> set[str]:
    return {m.group() for e in answer.frontend_events for m in SECRET.finditer(e)}


async def _stored(app: AppEvents, tab: str) -> bytes:
    """Every state of the tab as the Redis or disk state manager would write it."""
    root = await app.manager.get_state(rx.BaseStateToken(ident=tab, cls=WebhooksState))
    await root.get_state(WebhooksState)
    pending: list[BaseState] = [root]
    written = b""
    while pending:
        state = pending.pop()
        written += state._serialize()
        pending.extend(state.substates.values())
    return written


def _emit(db: Engine, user_id: int, generation_id: int) -> None:
    with session_scope(db) as session:
        webhook_events.enqueue_event(
            session,
            user_id=user_id,
            event_type="generation.completed",
            data={"generation_id": generation_id},
        )


async def _until(app: AppEvents, tab: str, status: str) -> list[Any]:
    """The tab's listed deliveries of its first endpoint once none is `pending` and the
    newest is `status` (the section follows waiting deliveries by itself)."""
    for _ in range(100):
        [endpoint] = (await app.state_of(tab, WebhooksState))["endpoints"]
        if endpoint.deliveries and endpoint.deliveries[0].status == status:
            return list(endpoint.deliveries)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no delivery became {status}: {endpoint.deliveries}")


async def test_an_endpoint_secret_is_sent_once_never_stored_and_deliveries_replay(
    app_db: Engine, receiver: Receiver
) -> None:
    owner, owner_session = new_signed_in_user(app_db, "hooks.owner@example.com")
    _other, other_session = new_signed_in_user(app_db, "hooks.other@example.com")
    add = event_name(WebhooksState, "add_endpoint")
    async with AppEvents() as app:
        tab = new_tab()

        async def send(name: str, payload: dict[str, Any], session: str = owner_session) -> Any:
            answer = await app.send(tab, name, payload, session=session, path="/account")
            assert not answer.exceptions
            return answer

        await send(event_name(AccountState, "open_account"), {})
        assert (await app.state_of(tab, WebhooksState))["endpoints"] == []

        # Refused by the service: said in the section, nothing added, nothing sent.
        refused = await send(
            add, {"form": {"url": "ftp://example.com/x", "event_generation_completed": "on"}}
        )
        view = await app.state_of(tab, WebhooksState)
        assert view["failed"] and "URL" in view["message"]
        assert view["endpoints"] == [] and not _secrets(refused)
        await send(add, {"form": {"url": receiver.url}})
        assert "at least one event" in (await app.state_of(tab, WebhooksState))["message"]

        answer = await send(
            add,
            {
                "form": {
                    "url": receiver.url,
                    "event_generation_completed": True,
                    "event_credits_purchased": "on",
                }
            },
        )
        [secret] = _secrets(answer)
        [event] = [e for e in answer.frontend_events if secret in e]
        assert event == repr({"ref": FIELD_REF, "value": secret})  # rx.set_value's payload
        view = await app.state_of(tab, WebhooksState)
        assert view["secret_url"] == receiver.url and view["message"] == ""
        [endpoint] = view["endpoints"]
        assert endpoint.events == ("generation.completed", "credits.purchased")
        assert endpoint.status == "active" and endpoint.deliveries == ()
        assert secret.encode() not in await _stored(app, tab)
        assert secret[6:30].encode() not in await _stored(app, tab)

        with Worker(app_db):
            # An event: the page (refreshed) lists it delivered, signed with that secret.
            _emit(app_db, owner, 41)
            await send(event_name(WebhooksState, "refresh"), {})
            [delivery] = await _until(app, tab, "delivered")
            assert delivery.attempts == 1 and delivery.event_type == "generation.completed"
            assert re.fullmatch(r"HTTP 200 · \d+ ms", delivery.last_result)
            [(body, headers)] = receiver.received
            assert Webhook(secret).verify(body, headers)["data"] == {"generation_id": 41}

            # Replay: queued again at once, then sent again with the same webhook-id.
            replayed = await send(
                event_name(WebhooksState, "replay_delivery"), {"delivery_id": delivery.id}
            )
            assert not _secrets(replayed)
            view = await app.state_of(tab, WebhooksState)
            assert view["row_endpoint_id"] == endpoint.id and "queued again" in view["row_message"]
            [again] = await _until(app, tab, "delivered")
            assert again.id == delivery.id and again.attempts == 1
            assert len(receiver.received) == 2
            (_, first), (body2, second) = receiver.received
            assert first["webhook-id"] == second["webhook-id"] == delivery.event_id
            Webhook(secret).verify(body2, second)

            # Another user's tab: the secret, the endpoint and its deliveries are not theirs.
            intruder = new_tab()
            await app.send(
                intruder, event_name(AccountState, "open_account"), {}, session=other_session
            )
            assert (await app.state_of(intruder, WebhooksState))["endpoints"] == []
            for handler, argument in (
                ("reveal_secret", {"endpoint_id": endpoint.id}),
                ("rotate_secret", {"endpoint_id": endpoint.id}),
                ("delete_endpoint", {"endpoint_id": endpoint.id}),
                ("replay_delivery", {"delivery_id": delivery.id}),
            ):
                answer = await app.send(
                    intruder,
                    event_name(WebhooksState, handler),
                    argument,
                    session=other_session,
                    path="/account",
                )
                assert not answer.exceptions and not _secrets(answer)
                refused_view = await app.state_of(intruder, WebhooksState)
                assert refused_view["failed"] and "does not exist" in refused_view["message"]
            await asyncio.sleep(0.5)  # five rounds of the worker
            [still] = await _until(app, tab, "delivered")
            assert still == again and len(receiver.received) == 2  # the intruder sent nothing

            # Reveal: the same secret, again only to the browser's field.
            answer = await send(
                event_name(WebhooksState, "reveal_secret"), {"endpoint_id": endpoint.id}
            )
            assert _secrets(answer) == {secret}
            assert secret.encode() not in await _stored(app, tab)

            # Rotate: a new secret signs what is sent from now on.
            answer = await send(
                event_name(WebhooksState, "rotate_secret"), {"endpoint_id": endpoint.id}
            )
            [rotated] = _secrets(answer)
            assert rotated != secret and rotated.encode() not in await _stored(app, tab)
            _emit(app_db, owner, 42)
            await send(event_name(WebhooksState, "refresh"), {})
            newest = await _until(app, tab, "delivered")
            assert len(newest) == 2
            body3, third = receiver.received[2]
            assert Webhook(rotated).verify(body3, third)["data"] == {"generation_id": 42}

        # `Done` empties the field; opening the page again forgets the panel.
        done = await send(event_name(WebhooksState, "dismiss_secret"), {})
        assert repr({"ref": FIELD_REF, "value": ""}) in done.frontend_events
        assert (await app.state_of(tab, WebhooksState))["secret_url"] == ""
        await send(event_name(WebhooksState, "reveal_secret"), {"endpoint_id": endpoint.id})
        await send(event_name(AccountState, "open_account"), {})
        assert (await app.state_of(tab, WebhooksState))["secret_url"] == ""

        # Pause: no new event is queued for it (the intruder cannot pause it); Resume.
        pause = event_name(WebhooksState, "set_paused")
        await app.send(
            new_tab(), pause, {"endpoint_id": endpoint.id, "paused": True}, session=other_session
        )
        await send(event_name(WebhooksState, "refresh"), {})
        assert (await app.state_of(tab, WebhooksState))["endpoints"][0].status == "active"
        await send(pause, {"endpoint_id": endpoint.id, "paused": True})
        view = await app.state_of(tab, WebhooksState)
        assert view["endpoints"][0].status == "disabled" and "Paused" in view["row_message"]
        queued = _delivery_count(app_db)
        _emit(app_db, owner, 43)
        assert _delivery_count(app_db) == queued
        await send(pause, {"endpoint_id": endpoint.id, "paused": False})
        assert (await app.state_of(tab, WebhooksState))["endpoints"][0].status == "active"
        _emit(app_db, owner, 44)
        assert _delivery_count(app_db) == queued + 1

        # Delete: gone from the list (and from the intruder's reach it always was).
        await send(event_name(WebhooksState, "delete_endpoint"), {"endpoint_id": endpoint.id})
        view = await app.state_of(tab, WebhooksState)
        assert view["endpoints"] == [] and "deleted" in view["message"]

        # A signed-out tab is sent to /login and adds nothing.
        gone = await app.send(new_tab(), add, {"form": {"url": receiver.url}}, path="/account")
        assert any("/login" in e for e in gone.frontend_events)


async def test_the_limit_and_a_private_target_in_production_are_said(
    app_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STYLESTUDIO_WEBHOOK_ENDPOINTS_PER_USER", "1")
    get_settings.cache_clear()
    _user, session = new_signed_in_user(app_db, "hooks.limit@example.com")
    add = event_name(WebhooksState, "add_endpoint")
    async with AppEvents() as app:
        tab = new_tab()
        for url in ("http://127.0.0.1:9/first", "http://127.0.0.1:9/second"):
            await app.send(
                tab, add, {"form": {"url": url, "event_generation_failed": "on"}}, session=session
            )
        view = await app.state_of(tab, WebhooksState)
        assert view["failed"] and "at most 1 webhook endpoints" in view["message"]
        assert [e.url for e in view["endpoints"]] == ["http://127.0.0.1:9/first"]

        monkeypatch.setenv("STYLESTUDIO_WEBHOOK_ENDPOINTS_PER_USER", "5")
        monkeypatch.setenv("STYLESTUDIO_ENV", "production")
        monkeypatch.setenv("STYLESTUDIO_SECRET_KEY", "p" * 40)
        monkeypatch.setenv("STYLESTUDIO_WEBHOOKS_ALLOW_PRIVATE", "false")
        get_settings.cache_clear()
        answer = await app.send(
            tab,
            add,
            {"form": {"url": "https://127.0.0.1/hook", "event_generation_failed": "on"}},
            session=session,
        )
        view = await app.state_of(tab, WebhooksState)
    get_settings.cache_clear()
    assert not answer.exceptions and not _secrets(answer)
    assert view["failed"] and "loopback" in view["message"]
    assert len(view["endpoints"]) == 1


def test_the_secret_pattern_matches_what_the_service_makes() -> None:
    # The assertions above look for secrets with SECRET: it must find a real one.
    assert SECRET.fullmatch(signing_secret("salt"))


def _delivery_count(db: Engine) -> int:
    with session_scope(db, write=False) as session:
        return len(session.exec(select(WebhookDelivery)).all())
