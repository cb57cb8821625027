"""GET /api/metrics as Prometheus scrapes it: the text parses with prometheus_client's own
parser, and the figures move with what happens — HTTP requests, Reflex events, webhooks,
provider calls — and with the database's workload."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy.engine import Engine

from stylestudio import log_output, log_redaction, runtime
from stylestudio.adapters.generation_engine import GenerationEngineError, GenerationRequest
from stylestudio.adapters.replicate_engine import ProviderBusy, ReplicateEngine
from stylestudio.api.request_context import request_context
from stylestudio.api.routes import build_api
from stylestudio.db import dispose_engines, session_scope
from stylestudio.models import GenerationStatus, JobKind, JobStatus, utcnow
from stylestudio.services.generation import jobs
from stylestudio.settings import get_settings
from stylestudio.state.explore import ExploreState
from tests.support.builders import new_user, recorded_generation, started_checkout
from tests.support.event_processing import AppEvents, event_name, new_tab
from tests.support.fake_replicate import FakeReplicate
from tests.support.fake_replicate import fake_replicate as fake_replicate
from tests.support.fake_stripe import FakeStripe
from tests.support.fake_stripe import fake_stripe as fake_stripe
from tests.support.prometheus_text import Samples, parse, value

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "whsec_metrics_test_secret"


class Client:
    """The backend's HTTP side as the server runs it: request_context around our routes."""

    def __init__(self) -> None:
        self.transport = httpx.ASGITransport(app=request_context(build_api()))

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            async with httpx.AsyncClient(transport=self.transport, base_url="http://app") as c:
                return await c.request(method, path, **kwargs)

        return asyncio.run(call())

    def scrape(self, **headers: str) -> Samples:
        response = self.request("GET", "/api/metrics", headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain; version=")
        return parse(response.text)


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    def configure(database_url: str, **env: str) -> None:
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("STYLESTUDIO_DATA_DIR", str(tmp_path / "data"))
        for name, val in env.items():
            monkeypatch.setenv(name, val)
        get_settings.cache_clear()
        runtime.reset()

    yield configure
    dispose_engines()
    get_settings.cache_clear()
    runtime.reset()


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_http_requests_are_counted_by_route(sqlite_db: Engine, settings_env: Any) -> None:
    settings_env(_url(sqlite_db))
    client = Client()
    before = client.scrape()
    for _ in range(2):
        assert client.request("GET", "/api/health").status_code == 200
    forged = client.request("GET", "/api/media/u/1/secret.jpg", params={"sig": "nope"})
    assert forged.status_code == 403
    client.request("BREW-COFFEE", "/api/health")  # a method of the client's choosing
    after = client.scrape()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    health = {"method": "GET", "route": "/api/health"}
    assert moved("stylestudio_http_requests_total", status="200", **health) == 2
    assert moved("stylestudio_http_request_duration_seconds_count", **health) == 2
    media = {"method": "GET", "route": "/api/media/{key:path}"}
    assert moved("stylestudio_http_requests_total", status="403", **media) == 1
    # The route's template is the label, never the path or the method a client chose.
    assert not any("secret.jpg" in str(labels) or "BREW" in str(labels) for _, labels in after)
    other = {"method": "other", "route": "/api/health"}
    assert moved("stylestudio_http_requests_total", status="405", **other) == 1
    # Every answer names its request.
    assert len(forged.headers["x-request-id"]) == 32


def test_a_proxys_request_id_is_kept_and_a_hostile_one_replaced(
    sqlite_db: Engine, settings_env: Any
) -> None:
    settings_env(_url(sqlite_db))
    client = Client()
    kept = client.request("GET", "/api/health", headers={"X-Request-ID": "edge-7f3a9c01"})
    assert kept.headers["x-request-id"] == "edge-7f3a9c01"
    hostile = client.request("GET", "/api/health", headers={"X-Request-ID": "a b\\c" * 30})
    assert hostile.headers["x-request-id"] != "a b\\c" * 30
    assert len(hostile.headers["x-request-id"]) == 32


def test_workload_gauges_follow_the_database(db: Engine, settings_env: Any) -> None:
    settings_env(_url(db))
    client = Client()
    empty = client.scrape()
    assert value(empty, "stylestudio_workload_up") == 1
    assert value(empty, "stylestudio_generations", status="processing") == 0
    assert value(empty, "stylestudio_job_queue_depth", state="due") == 0
    assert value(empty, "stylestudio_job_queue_oldest_age_seconds") == 0

    user_id = new_user(db, f"{uuid.uuid4().hex[:8]}@example.com")
    waiting = [
        recorded_generation(
            db, user_id, status=GenerationStatus.PROCESSING, model="google/nano-banana", seed=1
        )
        for _ in range(2)
    ]
    recorded_generation(
        db, user_id, status=GenerationStatus.COMPLETED, model="google/nano-banana", seed=1
    )
    now = utcnow()
    with session_scope(db) as session:
        jobs.enqueue(
            session,
            kind=JobKind.GENERATE,
            payload={"generation_id": waiting[0]},
            generation_id=waiting[0],
            run_after=now - timedelta(seconds=90),
        )
        jobs.enqueue(
            session,
            kind=JobKind.GENERATE,
            payload={"generation_id": waiting[1]},
            generation_id=waiting[1],
            run_after=now + timedelta(minutes=5),  # a provider asked us to wait
        )
        running = jobs.enqueue(session, kind=JobKind.GENERATE, payload={})
        running.status = JobStatus.RUNNING
        session.add(running)

    figures = client.scrape()
    assert value(figures, "stylestudio_generations", status="processing") == 2
    assert value(figures, "stylestudio_generations", status="completed") == 1
    assert value(figures, "stylestudio_generations", status="failed") == 0
    assert value(figures, "stylestudio_job_queue_depth", state="due") == 1
    assert value(figures, "stylestudio_job_queue_depth", state="scheduled") == 1
    assert value(figures, "stylestudio_jobs_running") == 1
    assert 90 <= value(figures, "stylestudio_job_queue_oldest_age_seconds") < 900


def test_a_scrape_answers_while_the_database_is_down(settings_env: Any) -> None:
    settings_env("postgresql://postgres@127.0.0.1:1/stylestudio")
    figures = Client().scrape()
    assert value(figures, "stylestudio_workload_up") == 0
    assert ("stylestudio_generations", frozenset({("status", "pending")})) not in figures


def test_the_token_guards_the_metrics_when_set(sqlite_db: Engine, settings_env: Any) -> None:
    settings_env(_url(sqlite_db), STYLESTUDIO_METRICS_TOKEN="scrape-token-0123456789")
    client = Client()
    assert client.request("GET", "/api/metrics").status_code == 401
    wrong = client.request("GET", "/api/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    figures = client.scrape(Authorization="Bearer scrape-token-0123456789")
    assert value(figures, "stylestudio_workload_up") == 1


def test_webhook_outcomes_are_counted(
    sqlite_db: Engine, settings_env: Any, fake_stripe: FakeStripe
) -> None:
    settings_env(
        _url(sqlite_db),
        STRIPE_SECRET_KEY=fake_stripe.api_key,
        STRIPE_API_BASE=fake_stripe.api_base,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    user_id = new_user(sqlite_db, f"{uuid.uuid4().hex[:8]}@example.com")
    session_id = started_checkout(sqlite_db, fake_stripe, user_id, paid=True)
    signed = fake_stripe.event(
        "checkout.session.completed", fake_stripe.sessions[session_id], secret=WEBHOOK_SECRET
    )
    forged = fake_stripe.event(
        "checkout.session.completed", fake_stripe.sessions[session_id], secret="whsec_other"
    )
    client = Client()
    before = client.scrape()

    def deliver(event: Any) -> httpx.Response:
        return client.request(
            "POST",
            "/api/webhooks/stripe",
            content=event.payload,
            headers={"stripe-signature": event.signature, "content-type": "application/json"},
        )

    assert deliver(forged).status_code == 400
    assert deliver(signed).json()["result"] == "purchase 1 completed"
    assert deliver(signed).json()["result"] == "duplicate"
    # Replicate is not the engine here: its endpoint refuses every delivery.
    assert client.request("POST", "/api/webhooks/replicate", content=b"{}").status_code == 404
    after = client.scrape()

    def moved(provider: str, outcome: str) -> float:
        name = "stylestudio_webhooks_total"
        return value(after, name, provider=provider, outcome=outcome) - value(
            before, name, provider=provider, outcome=outcome
        )

    assert moved("stripe", "refused") == 1
    assert moved("stripe", "applied") == 1
    assert moved("stripe", "duplicate") == 1
    assert moved("replicate", "refused") == 1


def _image() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(out, "JPEG")
    return out.getvalue()


def test_provider_calls_are_timed_by_operation_and_outcome(
    sqlite_db: Engine, settings_env: Any, fake_replicate: FakeReplicate
) -> None:
    settings_env(_url(sqlite_db))
    engine = ReplicateEngine(
        api_token=fake_replicate.api_token,
        base_url=fake_replicate.base_url,
        model="google/nano-banana",
    )
    client = Client()
    before = client.scrape()
    request = GenerationRequest(
        product_image=_image(),
        model_image=None,
        prompt="a mug",
        style="realistic",
        quality="standard",
        aspect_ratio="1:1",
        seed=7,
    )

    async def calls() -> None:
        created = await engine.start(request, webhook_url=None)
        await engine.get(created.id)
        with pytest.raises(GenerationEngineError):
            await engine.get("no-such-prediction")
        fake_replicate.throttle_next_creates(1, retry_after_s=3)
        with pytest.raises(ProviderBusy):
            await engine.start(request, webhook_url=None)

    asyncio.run(calls())
    after = client.scrape()

    def calls_of(operation: str, outcome: str) -> float:
        name = "stylestudio_provider_call_duration_seconds_count"
        labels = {"provider": "replicate", "operation": operation, "outcome": outcome}
        return value(after, name, **labels) - value(before, name, **labels)

    assert calls_of("create", "ok") == 1
    assert calls_of("get", "ok") == 1
    assert calls_of("get", "error") == 1
    assert calls_of("create", "busy") == 1


def test_events_are_counted_timed_and_their_lines_carry_the_event_id(
    sqlite_db: Engine, settings_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_env(_url(sqlite_db))
    import stylestudio.stylestudio  # noqa: F401  (the app configures logging as it loads)

    previous_factory = logging.getLogRecordFactory()
    monkeypatch.setattr(log_redaction, "_installed", False)
    out = io.StringIO()
    log_output.configure_logging(log_format="json", stream=out)
    client = Client()
    handler = event_name(ExploreState, "set_viewer_open")
    label = {"handler": "ExploreState.set_viewer_open"}
    try:
        before = client.scrape()

        async def send() -> None:
            async with AppEvents(app_middleware=True) as app:
                tab = new_tab()
                await app.send(tab, handler, {"value": True}, path="/explore")
                # Refused by its argument rule: the one line it logs names this event.
                await app.send(tab, handler, {"value": "not a flag"}, path="/explore")

        asyncio.run(send())
        after = client.scrape()
    finally:
        log_output.remove_handler()
        logging.setLogRecordFactory(previous_factory)

    name = "stylestudio_events_total"
    moved = value(after, name, kind="foreground", **label) - value(
        before, name, kind="foreground", **label
    )
    assert moved == 2
    timed = "stylestudio_event_duration_seconds_count"
    assert value(after, timed, **label) - value(before, timed, **label) == 2
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    refused = [line for line in lines if line["message"].startswith("refused an argument")]
    assert len(refused) == 1, lines
    assert refused[0]["event"] == "ExploreState.set_viewer_open"
    assert len(refused[0]["event_id"]) == 12 and int(refused[0]["event_id"], 16) >= 0


def test_multiprocess_mode_adds_up_every_process(
    sqlite_db: Engine, settings_env: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings_env(_url(sqlite_db))
    shared = tmp_path / "prometheus"
    shared.mkdir()
    script = (
        "from stylestudio.metrics import WEBHOOKS, HTTP_REQUESTS\n"
        "WEBHOOKS.labels('stripe', 'applied').inc(3)\n"
        "HTTP_REQUESTS.labels('GET', '/api/health', '200').inc()\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    for _ in range(2):  # two backend processes, each with its own counters
        subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    figures = Client().scrape()
    assert value(figures, "stylestudio_webhooks_total", provider="stripe", outcome="applied") == 6
    health = {"method": "GET", "route": "/api/health", "status": "200"}
    assert value(figures, "stylestudio_http_requests_total", **health) == 2
    # The database's figures are read by the scraped process, once.
    assert value(figures, "stylestudio_workload_up") == 1
