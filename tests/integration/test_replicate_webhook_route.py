"""POST /api/webhooks/replicate as Replicate calls it (Standard Webhooks signatures, secret
from Replicate's default-secret endpoint): invalid deliveries answer 4xx and change nothing;
a valid one completes the generation once; a replayed webhook-id changes nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from stylestudio import runtime
from stylestudio.api.routes import build_api
from stylestudio.db import dispose_engines, session_scope
from stylestudio.models import GenerationStatus, ProcessedWebhookEvent
from stylestudio.services.generation.generation_claims import claim_work, load_inputs
from stylestudio.services.generation.generation_predictions import record_prediction
from stylestudio.settings import get_settings
from tests.support.builders import new_generation, new_upload, new_user
from tests.support.fake_replicate import FakeReplicate, new_webhook_secret
from tests.support.fake_replicate import fake_replicate as fake_replicate
from tests.support.lookups import generated_image_count, stored_generation


@pytest.fixture
def app(
    db: Engine, fake_replicate: FakeReplicate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[httpx.ASGITransport]:
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("STYLESTUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STYLESTUDIO_GENERATION_ENGINE", "replicate")
    monkeypatch.setenv("REPLICATE_API_TOKEN", fake_replicate.api_token)
    monkeypatch.setenv("REPLICATE_BASE_URL", fake_replicate.base_url)
    monkeypatch.delenv("REPLICATE_WEBHOOK_SECRET", raising=False)
    get_settings.cache_clear()
    runtime.reset()
    try:
        yield httpx.ASGITransport(app=build_api())
    finally:
        dispose_engines()
        get_settings.cache_clear()
        runtime.reset()


def _post(app: httpx.ASGITransport, headers: dict[str, str], body: bytes) -> httpx.Response:
    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=app, base_url="http://app") as client:
            return await client.post("/api/webhooks/replicate", content=body, headers=headers)

    return asyncio.run(send())


def _finished_prediction(db: Engine, fake: FakeReplicate) -> tuple[int, str]:
    """A generation whose prediction has finished at the provider, not yet seen by us."""
    storage = runtime.get_storage()
    user_id = new_user(db)
    gid = new_generation(db, user_id=user_id, image_id=new_upload(db, storage, user_id))
    [work] = claim_work(db=db, worker_id="w", limit=1)
    engine = runtime.get_prediction_engine()
    assert engine is not None
    created = asyncio.run(engine.start(load_inputs(work, storage).request, webhook_url=None))
    assert record_prediction(db=db, work=work, prediction_id=created.id)
    deadline = time.monotonic() + 10
    while fake.prediction(created.id)["status"] != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return gid, created.id


def _receipts(db: Engine) -> int:
    with session_scope(db, write=False) as session:
        return session.exec(select(func.count()).select_from(ProcessedWebhookEvent)).one()


def test_the_webhook_matrix(
    db: Engine, app: httpx.ASGITransport, fake_replicate: FakeReplicate
) -> None:
    gid, pid = _finished_prediction(db, fake_replicate)
    headers, body = fake_replicate.signed_webhook(pid)

    wrong_secret, _ = fake_replicate.signed_webhook(pid, secret=new_webhook_secret())
    tampered = body.replace(b'"succeeded"', b'"failed"')
    stale, stale_body = fake_replicate.signed_webhook(pid, timestamp=int(time.time()) - 600)
    refused = {
        "wrong secret": _post(app, wrong_secret, body),
        "tampered body": _post(app, headers, tampered),
        "stale timestamp": _post(app, stale, stale_body),
    }
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        partial = {k: v for k, v in headers.items() if k.lower() != name}
        refused[f"missing {name}"] = _post(app, partial, body)
    for case, response in refused.items():
        assert 400 <= response.status_code < 500, case
    assert stored_generation(db, gid).status == GenerationStatus.PROCESSING
    assert _receipts(db) == 0 and generated_image_count(db, gid) == 0

    valid = _post(app, headers, body)
    assert valid.status_code == 200 and valid.json()["result"] == "applied"
    assert stored_generation(db, gid).status == GenerationStatus.COMPLETED
    assert generated_image_count(db, gid) == 1

    replay = _post(app, headers, body)
    assert replay.status_code == 200 and replay.json()["result"] == "duplicate"
    again, again_body = fake_replicate.signed_webhook(pid)  # a new id, same completion
    assert _post(app, again, again_body).json()["result"] == "already ended"
    assert generated_image_count(db, gid) == 1 and _receipts(db) == 2


def test_webhooks_are_refused_when_replicate_is_not_the_engine(
    db: Engine, fake_replicate: FakeReplicate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("STYLESTUDIO_GENERATION_ENGINE", "local")
    get_settings.cache_clear()
    runtime.reset()
    try:
        response = _post(httpx.ASGITransport(app=build_api()), {}, b"{}")
        assert response.status_code == 404
    finally:
        dispose_engines()
        get_settings.cache_clear()
        runtime.reset()
