"""Generations through Replicate's official client against a local server speaking its HTTP
API: predictions committed before waiting, resumed never duplicated, one terminal transition
whatever races, refunds exactly once, 429s honoured, cancels and timeouts. SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image as PILImage
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from stylestudio.adapters.replicate_engine import Prediction, ReplicateEngine
from stylestudio.adapters.replicate_models import compose_prompt
from stylestudio.adapters.storage import LocalStorage, MediaStorage
from stylestudio.db import session_scope
from stylestudio.models import (
    GenerationInput,
    GenerationStatus,
    Image,
    Job,
    JobStatus,
    LedgerKind,
    UsageAction,
    UsageEvent,
    utcnow,
)
from stylestudio.services.errors import ValidationError
from stylestudio.services.generation import generation_flows, generations, jobs
from stylestudio.services.generation.generation_claims import claim_work
from stylestudio.services.generation.generation_endings import (
    end_generation,
    fail_work,
    store_and_complete,
)
from stylestudio.services.generation.generation_predictions import settle_prediction
from stylestudio.services.generation.generation_sweeper import sweep_overdue
from stylestudio.services.generation.generation_work import TIMED_OUT, Options, Output
from stylestudio.services.generation.generation_worker import run_next_generation_job
from stylestudio.services.generation.prediction_events import handle_prediction_event
from stylestudio.worker import GenerationWorker
from tests.support.builders import grant_credits, new_generation, new_upload, new_user, product_shot
from tests.support.fake_replicate import FakeReplicate
from tests.support.fake_replicate import fake_replicate as fake_replicate
from tests.support.lookups import (
    balance_and_ledger_sum,
    generated_image_count,
    ledger_entries,
    stored_generation,
)

FAST = Options(timeout_s=60, poll_first_s=0.05, poll_fast_for_s=30, poll_max_s=0.2)


@pytest.fixture
def engine(fake_replicate: FakeReplicate) -> Iterator[ReplicateEngine]:
    yield ReplicateEngine(
        api_token=fake_replicate.api_token,
        base_url=fake_replicate.base_url,
        model="google/nano-banana",
    )


def _make(db: Engine, storage: MediaStorage, n: int) -> tuple[int, list[int]]:
    user_id = new_user(db)
    grant_credits(db, user_id, 2 * n)
    image_id = new_upload(db, storage, user_id)
    ids = [new_generation(db, user_id=user_id, image_id=image_id, key=f"k{i}") for i in range(n)]
    return user_id, ids


def _stored_product(db: Engine, storage: MediaStorage, generation_id: int) -> bytes:
    with session_scope(db, write=False) as session:
        image = session.exec(
            select(Image)
            .join(GenerationInput, col(GenerationInput.image_id) == Image.id)
            .where(GenerationInput.generation_id == generation_id)
        ).one()
    return storage.get(image.storage_key)


def _usage(db: Engine, action: UsageAction) -> int:
    with session_scope(db, write=False) as session:
        return session.exec(
            select(func.count()).select_from(UsageEvent).where(UsageEvent.action == action)
        ).one()


async def _run_worker_until_done(
    worker: GenerationWorker, db: Engine, ids: list[int], timeout: float = 60
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if all(
                stored_generation(db, g).status in ("completed", "failed", "cancelled") for g in ids
            ):
                return
            await asyncio.sleep(0.1)
        raise AssertionError("generations did not finish in time")
    finally:
        stop.set()
        await task


# --------------------------------------------------------------------------- the happy path


def test_a_generation_completes_with_the_providers_image(
    db: Engine, any_storage: MediaStorage, engine: ReplicateEngine, fake_replicate: FakeReplicate
) -> None:
    storage = any_storage  # local files, then an S3 bucket
    user_id, [gid] = _make(db, storage, 1)
    assert run_next_generation_job(
        db=db, storage=storage, engine=engine, worker_id="w1", options=FAST
    )
    generation = stored_generation(db, gid)
    assert generation.status == GenerationStatus.COMPLETED
    assert generation.provider_prediction_id in fake_replicate.predictions
    # The input reached the model, without being public (inline or through the files API).
    [body] = fake_replicate.create_bodies
    sent = body["input"]
    assert sent["aspect_ratio"] == "1:1" and sent["output_format"] == "jpg"
    assert "photorealistic" in sent["prompt"] and "on a marble table" in sent["prompt"]
    [ref] = sent["image_input"]
    uploaded = _stored_product(db, storage, gid)  # as stored: re-encoded, no metadata
    if ref.startswith("data:"):
        assert base64.b64decode(ref.split(",", 1)[1]) == uploaded
    else:
        assert any(f.data == uploaded for f in fake_replicate.files.values())
    # The output was copied into our storage, with its thumbnail, before completion.
    with session_scope(db, write=False) as session:
        [image] = session.exec(select(Image).where(Image.generation_id == gid)).all()
    stored = storage.get(image.storage_key)
    assert PILImage.open(io.BytesIO(stored)).format == "JPEG"
    assert image.thumbnail_key and storage.get(image.thumbnail_key)
    assert balance_and_ledger_sum(db, user_id)[0] == balance_and_ledger_sum(db, user_id)[1]


def test_large_inputs_go_through_the_files_api(
    db: Engine, storage: LocalStorage, engine: ReplicateEngine, fake_replicate: FakeReplicate
) -> None:
    user_id = new_user(db)
    noisy = PILImage.effect_noise((1400, 1400), 90).convert("RGB")
    buf = io.BytesIO()
    noisy.save(buf, "JPEG", quality=95)
    image_id = new_upload(db, storage, user_id, buf.getvalue())
    gid = new_generation(db, user_id=user_id, image_id=image_id)
    assert run_next_generation_job(
        db=db, storage=storage, engine=engine, worker_id="w1", options=FAST
    )
    assert stored_generation(db, gid).status == GenerationStatus.COMPLETED
    [ref] = fake_replicate.create_bodies[0]["input"]["image_input"]
    assert ref.startswith(fake_replicate.base_url + "/v1/files/")
    assert [f.data for f in fake_replicate.files.values()] == [_stored_product(db, storage, gid)]


def test_style_presets_are_prompt_text() -> None:
    from stylestudio.adapters.generation_engine import STYLES, GenerationRequest

    prompts = {
        compose_prompt(
            GenerationRequest(
                product_image=b"",
                model_image=None,
                prompt="",
                style=style,
                quality="standard",
                aspect_ratio="1:1",
                seed=1,
                negative_prompt="text, watermark",
            )
        )
        for style in STYLES
    }
    assert len(prompts) == len(STYLES)
    assert all(len(p) > 150 and "Avoid: text, watermark." in p for p in prompts)


# --------------------------------------------------------------------------- resume, races


def test_a_prediction_is_resumed_never_created_twice(
    db: Engine, storage: LocalStorage, engine: ReplicateEngine, fake_replicate: FakeReplicate
) -> None:
    fake_replicate.configure(latency_s=1.0)
    _, [gid] = _make(db, storage, 1)
    [work] = claim_work(db=db, worker_id="a", limit=1, lease_seconds=30)

    async def start_then_die() -> None:
        from stylestudio.services.generation.generation_worker import run_work

        task = asyncio.create_task(
            run_work(work, db=db, storage=storage, engine=engine, options=FAST)
        )
        while stored_generation(db, gid).provider_prediction_id is None:
            await asyncio.sleep(0.02)
        task.cancel()  # the worker dies while waiting

    asyncio.run(start_then_die())
    pid = stored_generation(db, gid).provider_prediction_id
    assert pid is not None and fake_replicate.creates == 1
    with session_scope(db) as session:  # its lease runs out
        job = session.exec(select(Job).where(Job.generation_id == gid)).one()
        job.lease_expires_at = utcnow() - timedelta(seconds=1)
        session.add(job)
    assert run_next_generation_job(
        db=db, storage=storage, engine=engine, worker_id="b", options=FAST
    )
    generation = stored_generation(db, gid)
    assert generation.status == GenerationStatus.COMPLETED
    assert generation.provider_prediction_id == pid
    assert fake_replicate.creates == 1


def test_an_ending_without_a_lease_waits_for_the_lease_holder_instead_of_deadlocking(
    db: Engine, storage: LocalStorage
) -> None:
    """The worker (holding the lease) locks the job row, then the generation row; a webhook or
    cancel (no lease) must take them in the same order. Interleaved by hand: the worker has
    finished its job row and not yet the generation when the webhook's ending starts."""
    import threading

    from stylestudio.services.generation.generation_endings import _end_statement

    _, [gid] = _make(db, storage, 1)
    [work] = claim_work(db=db, worker_id="w", limit=1)
    outcome: dict[str, Any] = {}

    def webhook() -> None:
        try:
            with session_scope(db) as session:
                outcome["ended"] = end_generation(
                    session, generation_id=gid, error="late webhook", lease=None
                )
        except Exception as exc:  # a deadlock victim lands here
            outcome["error"] = exc

    with session_scope(db) as worker:
        assert jobs.finish_if_owner(
            worker,
            job_id=work.lease.job_id,
            worker_id="w",
            status=JobStatus.SUCCEEDED,
            error=None,
        )
        other = threading.Thread(target=webhook)
        other.start()
        time.sleep(0.5)  # let the webhook reach its first lock (SQLite: the database's)
        worker.execute(
            _end_statement(gid, status=GenerationStatus.COMPLETED, error=None, prediction_id=None)
        )
    other.join(30)
    assert not other.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["ended"] is False
    assert stored_generation(db, gid).status == GenerationStatus.COMPLETED


def test_webhooks_and_the_poller_racing_make_one_transition(
    db: Engine, storage: LocalStorage, engine: ReplicateEngine, fake_replicate: FakeReplicate
) -> None:
    fake_replicate.configure(latency_s=0.05)
    user_id, [gid] = _make(db, storage, 1)
    [work] = claim_work(db=db, worker_id="w", limit=1)

    async def race() -> list[bool | str]:
        from stylestudio.services.generation.generation_claims import load_inputs
        from stylestudio.services.generation.generation_predictions import record_prediction

        loaded = load_inputs(work, storage)
        created = await engine.start(loaded.request, webhook_url=None)
        assert record_prediction(db=db, work=work, prediction_id=created.id)
        while not (done := await engine.get(created.id)).terminal:
            await asyncio.sleep(0.02)
        payload = fake_replicate.prediction(created.id)

        async def blocking(fn: Any, *a: Any, **k: Any) -> Any:
            return await asyncio.to_thread(fn, *a, **k)

        deliveries: list[asyncio.Future[bool | str]] = []
        for i in range(50):
            if i % 2:
                deliveries.append(
                    asyncio.ensure_future(
                        handle_prediction_event(
                            db=db,
                            storage=storage,
                            engine=engine,
                            webhook_id=f"msg_{i}",
                            payload=payload,
                        )
                    )
                )
            else:
                deliveries.append(
                    asyncio.ensure_future(
                        settle_prediction(
                            done,
                            db=db,
                            storage=storage,
                            engine=engine,
                            generation_id=gid,
                            user_id=user_id,
                            lease=work.lease,
                            blocking=blocking,
                        )
                    )
                )
        return list(await asyncio.gather(*deliveries))

    results = asyncio.run(race())
    assert sum(1 for r in results if r is True or r == "applied") == 1
    assert stored_generation(db, gid).status == GenerationStatus.COMPLETED
    assert generated_image_count(db, gid) == 1
    assert _usage(db, UsageAction.GENERATION_COMPLETED) == 1
    # Only the one stored output (and the upload with its thumbnail) remain on disk.
    files = {p.name for p in storage.root.rglob("*") if p.is_file()}
    assert len(files) == 4


@pytest.mark.slow
def test_random_failures_are_refunded_exactly(
    db: Engine, storage: LocalStorage, engine: ReplicateEngine, fake_replicate: FakeReplicate
) -> None:
    fake_replicate.configure(latency_s=0.1, fail_share=0.3, seed=7)
    user_id, ids = _make(db, storage, 100)
    worker = GenerationWorker(
        db=db, storage=storage, engine=engine, worker_id="w", concurrency=16, options=FAST
    )
    asyncio.run(_run_worker_until_done(worker, db, ids, timeout=120))
    statuses = [stored_generation(db, g).status for g in ids]
    failed = statuses.count(GenerationStatus.FAILED)
    assert statuses.count(GenerationStatus.COMPLETED) + failed == 100
    assert 10 <= failed <= 50
    print(f"{failed} of 100 failed at the provider; {failed} refunds")
    assert len(ledger_entries(db, user_id, LedgerKind.REFUND)) == failed
    assert fake_replicate.creates == 100
    balance, ledger_sum = balance_and_ledger_sum(db, user_id)
    assert balance == ledger_sum
    for g in ids:
        generation = stored_generation(db, g)
        if generation.status == GenerationStatus.FAILED:
            assert generation.error and "refunded" in generation.error


def test_a_429_storm_makes_no_duplicate_and_all_complete(
    db: Engine, storage: LocalStorage, engine: ReplicateEngine, fake_replicate: FakeReplicate
) -> None:
    fake_replicate.configure(latency_s=0.1)
    fake_replicate.throttle_next_creates(5, retry_after_s=1)
    _, ids = _make(db, storage, 5)
    worker = GenerationWorker(
        db=db,
        storage=storage,
        engine=engine,
        worker_id="w",
        concurrency=8,
        options=FAST,
        idle_poll_seconds=0.1,
    )
    started = time.monotonic()
    asyncio.run(_run_worker_until_done(worker, db, ids))
    assert time.monotonic() - started >= 1.0  # Retry-After was honoured
    assert [stored_generation(db, g).status for g in ids] == [GenerationStatus.COMPLETED] * 5
    assert fake_replicate.throttled == 5
    assert fake_replicate.creates == 5
    assert len({stored_generation(db, g).provider_prediction_id for g in ids}) == 5


# --------------------------------------------------------------------------- cancel, timeout


def test_cancel_while_processing_cancels_at_the_provider_and_refunds_once(
    db: Engine, storage: LocalStorage, engine: ReplicateEngine, fake_replicate: FakeReplicate
) -> None:
    fake_replicate.configure(latency_s=30)
    user_id, [gid] = _make(db, storage, 1)
    worker = GenerationWorker(
        db=db, storage=storage, engine=engine, worker_id="w", concurrency=2, options=FAST
    )

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            while stored_generation(db, gid).provider_prediction_id is None:
                await asyncio.sleep(0.05)
            # The owner's Cancel: our database first, then the provider.
            await generation_flows.cancel_generation(
                db=db, predictions=engine, user_id=user_id, generation_id=gid
            )
            for _ in range(40):  # the worker lets go of it
                if worker.in_flight == 0:
                    break
                await asyncio.sleep(0.05)
            assert worker.in_flight == 0
        finally:
            stop.set()
            await task

    asyncio.run(scenario())
    generation = stored_generation(db, gid)
    assert generation.status == GenerationStatus.CANCELLED
    assert (
        fake_replicate.prediction(generation.provider_prediction_id or "")["status"] == "canceled"
    )
    assert len(ledger_entries(db, user_id, LedgerKind.REFUND)) == 1
    with session_scope(db) as session, pytest.raises(ValidationError, match="already finished"):
        generations.cancel_generation(session, user_id=user_id, generation_id=gid)
    assert len(ledger_entries(db, user_id, LedgerKind.REFUND)) == 1


def test_a_prediction_past_the_timeout_is_cancelled_failed_and_refunded(
    db: Engine, storage: LocalStorage, engine: ReplicateEngine, fake_replicate: FakeReplicate
) -> None:
    fake_replicate.configure(latency_s=30)
    user_id, [gid] = _make(db, storage, 1)
    options = Options(timeout_s=1.0, poll_first_s=0.1, poll_fast_for_s=30, poll_max_s=0.2)
    assert run_next_generation_job(
        db=db, storage=storage, engine=engine, worker_id="w", options=options
    )
    generation = stored_generation(db, gid)
    assert generation.status == GenerationStatus.FAILED and generation.error == TIMED_OUT
    assert (
        fake_replicate.prediction(generation.provider_prediction_id or "")["status"] == "canceled"
    )
    assert len(ledger_entries(db, user_id, LedgerKind.REFUND)) == 1


def test_no_worker_at_all_still_ends_failed_and_refunded_once(
    db: Engine, storage: LocalStorage
) -> None:
    user_id, [gid] = _make(db, storage, 1)
    assert sweep_overdue(db, timeout_s=300) == []  # not overdue yet
    later = utcnow() + timedelta(seconds=301)
    assert sweep_overdue(db, timeout_s=300, now=later) == [(gid, None)]
    assert sweep_overdue(db, timeout_s=300, now=later) == []
    generation = stored_generation(db, gid)
    assert generation.status == GenerationStatus.FAILED and generation.error == TIMED_OUT
    assert len(ledger_entries(db, user_id, LedgerKind.REFUND)) == 1
    with session_scope(db, write=False) as session:
        job = session.exec(select(Job).where(Job.generation_id == gid)).one()
    assert job.status == "failed"
    balance, ledger_sum = balance_and_ledger_sum(db, user_id)
    assert balance == ledger_sum == 12  # 10 free + 2 granted, the spend refunded


# --------------------------------------------------------------------------- lease loss


def test_a_worker_that_lost_its_lease_changes_nothing(db: Engine, storage: LocalStorage) -> None:
    user_id, [gid] = _make(db, storage, 1)
    [work_a] = claim_work(db=db, worker_id="a", limit=1, lease_seconds=-1)  # expires at once
    [work_b] = claim_work(db=db, worker_id="b", limit=1)
    assert work_a.lease.job_id == work_b.lease.job_id
    image = product_shot()
    out = Output(image, "image/jpeg", 480, 360)
    assert store_and_complete(
        db=db,
        storage=storage,
        generation_id=gid,
        user_id=user_id,
        outputs=[out],
        elapsed_ms=5,
        engine_name="test",
        lease=work_b.lease,
    )
    files_before = sorted(p.name for p in storage.root.rglob("*") if p.is_file())
    # The stale worker now tries to complete, fail and refund.
    assert not store_and_complete(
        db=db,
        storage=storage,
        generation_id=gid,
        user_id=user_id,
        outputs=[out],
        elapsed_ms=5,
        engine_name="test",
        lease=work_a.lease,
    )
    with session_scope(db) as session:
        assert not end_generation(session, generation_id=gid, error="boom", lease=work_a.lease)
    fail_work(db=db, work=work_a, error="boom", retryable=False)
    fail_work(db=db, work=work_a, error="boom", retryable=True)
    generation = stored_generation(db, gid)
    assert generation.status == GenerationStatus.COMPLETED and generation.error is None
    assert generated_image_count(db, gid) == 1
    assert ledger_entries(db, user_id, LedgerKind.REFUND) == []
    assert sorted(p.name for p in storage.root.rglob("*") if p.is_file()) == files_before
    with session_scope(db, write=False) as session:
        job = session.get(Job, work_b.lease.job_id)
        assert job is not None and job.status == "succeeded"
        assert not jobs.finish_if_owner(
            session, job_id=work_a.lease.job_id, worker_id="a", status=jobs.JobStatus.FAILED
        )


def test_a_lease_lost_mid_run_stops_the_task(
    db: Engine, storage: LocalStorage, engine: ReplicateEngine, fake_replicate: FakeReplicate
) -> None:
    fake_replicate.configure(latency_s=30)
    _, [gid] = _make(db, storage, 1)
    worker = GenerationWorker(
        db=db,
        storage=storage,
        engine=engine,
        worker_id="a",
        concurrency=1,
        options=FAST,
        heartbeat_seconds=0.2,
    )

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            while stored_generation(db, gid).provider_prediction_id is None:
                await asyncio.sleep(0.05)
            with session_scope(db) as session:  # another worker took it over
                job = session.exec(select(Job).where(Job.generation_id == gid)).one()
                job.lease_owner = "b"
                session.add(job)
            for _ in range(40):
                if worker.in_flight == 0:
                    break
                await asyncio.sleep(0.05)
            assert worker.in_flight == 0
        finally:
            stop.set()
            await task

    asyncio.run(scenario())
    assert stored_generation(db, gid).status == GenerationStatus.PROCESSING  # b's to finish


def test_prediction_payloads_parse_like_the_api() -> None:
    assert Prediction.from_payload(
        {"id": "x", "status": "succeeded", "output": "u"}
    ).output_urls == ("u",)
    assert Prediction.from_payload(
        {"id": "x", "status": "succeeded", "output": ["a", "b"]}
    ).output_urls == (
        "a",
        "b",
    )
    assert not Prediction.from_payload({"id": "x", "status": "processing"}).terminal


def test_provider_errors_become_readable_messages(
    sqlite_db: Engine, storage: LocalStorage, engine: ReplicateEngine, fake_replicate: FakeReplicate
) -> None:
    from stylestudio.adapters.replicate_engine import CONTENT_FILTERED, PROVIDER_FAILED

    db = sqlite_db
    fake_replicate.fail_next(1, error="E005: The input or output was flagged as sensitive.")
    fake_replicate.fail_next(1, error="Prediction failed: CUDA out of memory")
    user_id, ids = _make(db, storage, 2)
    for _ in ids:
        assert run_next_generation_job(
            db=db, storage=storage, engine=engine, worker_id="w", options=FAST
        )
    assert [stored_generation(db, g).error for g in ids] == [CONTENT_FILTERED, PROVIDER_FAILED]
    assert len(ledger_entries(db, user_id, LedgerKind.REFUND)) == 2


def test_a_configured_webhook_address_is_sent_with_the_completed_filter(
    sqlite_db: Engine, storage: LocalStorage, engine: ReplicateEngine, fake_replicate: FakeReplicate
) -> None:
    db = sqlite_db
    fake_replicate.configure(webhook_retries=0)
    _, [gid] = _make(db, storage, 1)
    hook = "http://127.0.0.1:9/api/webhooks/replicate"  # nobody listens: polling still ends it
    options = Options(
        timeout_s=60, webhook_url=hook, poll_first_s=0.05, poll_fast_for_s=30, poll_max_s=0.2
    )
    assert run_next_generation_job(
        db=db, storage=storage, engine=engine, worker_id="w", options=options
    )
    [body] = fake_replicate.create_bodies
    assert body["webhook"] == hook and body["webhook_events_filter"] == ["completed"]
    assert stored_generation(db, gid).status == GenerationStatus.COMPLETED
