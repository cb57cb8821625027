"""Upload -> start a generation -> the worker runs it: what users pay and what they get back."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from PIL import Image as PILImage
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from stylestudio.adapters.generation_engine import (
    LOCAL_MODEL,
    GeneratedImage,
    GenerationEngineError,
    GenerationRequest,
    ModelSpec,
)
from stylestudio.adapters.local_engine.engine import LocalEngine
from stylestudio.adapters.storage import LocalStorage, MediaStorage
from stylestudio.db import session_scope
from stylestudio.models import (
    Generation,
    GenerationStatus,
    Image,
    ImageCategory,
    Job,
    JobStatus,
    LedgerKind,
    utcnow,
)
from stylestudio.services.billing import credits
from stylestudio.services.errors import (
    InsufficientCreditsError,
    InvalidImageError,
    NotFoundError,
)
from stylestudio.services.generation import generation_views, jobs
from stylestudio.services.media import imaging, media
from tests.support.builders import (
    new_generation,
    new_upload,
    new_user,
    product_shot,
    run_one_job,
    set_refund_on_failure,
)
from tests.support.lookups import (
    balance_and_ledger_sum,
    files_under,
    ledger_entries,
    stored_generation,
)

# --------------------------------------------------------------------------- helpers


def _count(db: Engine, model: type) -> int:
    with session_scope(db, write=False) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def _job_of(db: Engine, generation_id: int) -> Job:
    with session_scope(db, write=False) as session:
        return session.exec(select(Job).where(Job.generation_id == generation_id)).one()


def _make_job_due(db: Engine, generation_id: int) -> None:
    with session_scope(db) as session:
        job = session.exec(select(Job).where(Job.generation_id == generation_id)).one()
        job.run_after = utcnow() - timedelta(seconds=1)
        session.add(job)


class FailingEngine:
    name = "failing"
    models: tuple[ModelSpec, ...] = (LOCAL_MODEL,)

    def __init__(
        self, message: str = "The model rejected this image", *, retryable: bool = False
    ) -> None:
        self.message = message
        self.retryable = retryable
        self.calls = 0

    def generate(self, request: GenerationRequest) -> GeneratedImage:
        self.calls += 1
        raise GenerationEngineError(self.message, retryable=self.retryable)


class TakeoverEngine:
    """While worker "a" is generating, its lease expires and worker "b" takes the job over."""

    name = "takeover"
    models: tuple[ModelSpec, ...] = (LOCAL_MODEL,)

    def __init__(self, db: Engine, then: Callable[[GenerationRequest], GeneratedImage]) -> None:
        self.db = db
        self.then = then
        self.taken_by_b: Job | None = None

    def generate(self, request: GenerationRequest) -> GeneratedImage:
        with session_scope(self.db) as session:
            job = session.exec(select(Job).where(col(Job.status) == JobStatus.RUNNING)).one()
            job.lease_expires_at = utcnow() - timedelta(seconds=1)
            session.add(job)
        with session_scope(self.db) as session:
            self.taken_by_b = jobs.claim_next_job(session, worker_id="b")
        return self.then(request)


# --------------------------------------------------------------------------- uploads


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")],
)
def test_upload_of_a_supported_image_is_stored(
    db: Engine, storage: LocalStorage, fmt: str, content_type: str
) -> None:
    user_id = new_user(db)
    data = product_shot(fmt, size=(640, 400))
    image_id = new_upload(db, storage, user_id, data)
    with session_scope(db, write=False) as session:
        image = session.get(Image, image_id)
        assert image is not None
        assert image.user_id == user_id
        assert image.category == ImageCategory.PRODUCT
        assert image.content_type == content_type
        assert (image.width, image.height) == (640, 400)
        stored = storage.get(image.storage_key)  # re-encoded without metadata on arrival
        assert image.size_bytes == len(stored)
        with PILImage.open(io.BytesIO(stored)) as im:
            assert (im.format, im.size) == (fmt, (640, 400))
        assert image.thumbnail_key is not None
        with PILImage.open(io.BytesIO(storage.get(image.thumbnail_key))) as thumb:
            assert thumb.format == "JPEG"
            assert max(thumb.size) <= imaging.THUMBNAIL_SIZE


def _gif() -> bytes:
    out = io.BytesIO()
    PILImage.new("P", (64, 64), 3).save(out, "GIF")
    return out.getvalue()


def _oversized_jpeg_prefix() -> bytes:
    head = product_shot()
    return head + b"\0" * (10 * 1024 * 1024 + 1 - len(head))


@pytest.mark.parametrize(
    ("make", "filename", "fragment"),
    [
        (
            lambda: b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n",
            "photo.jpg",
            "not an image we can read",
        ),
        (_oversized_jpeg_prefix, "huge.jpg", "the limit is 10 MB"),
        (lambda: b"", "empty.jpg", "is empty"),
        (_gif, "anim.gif", "use a JPEG, PNG, WebP or HEIC"),
        (lambda: product_shot()[:400], "truncated.jpg", "not an image we can read"),
    ],
    ids=["pdf-named-jpg", "over-10mb", "empty", "gif", "truncated-jpeg"],
)
def test_rejected_upload_leaves_no_row_and_no_file(
    db: Engine,
    storage: LocalStorage,
    make: Callable[[], bytes],
    filename: str,
    fragment: str,
) -> None:
    user_id = new_user(db)
    data = make()
    with pytest.raises(InvalidImageError) as info, session_scope(db) as session:
        media.store_upload(
            session,
            storage=storage,
            user_id=user_id,
            data=data,
            filename=filename,
            category=ImageCategory.PRODUCT,
        )
    assert fragment in info.value.message
    assert info.value.message.startswith("The product image")
    assert _count(db, Image) == 0
    assert files_under(storage.root) == []


def test_phone_jpeg_with_a_second_picture_is_accepted(db: Engine, storage: LocalStorage) -> None:
    """Many phone cameras write JPEGs with an embedded second picture (the MPF extension,
    which Pillow reports as "MPO"). Every JPEG decoder reads them; so must we."""
    first = PILImage.open(io.BytesIO(product_shot()))
    out = io.BytesIO()
    first.save(out, "MPO", save_all=True, append_images=[PILImage.new("RGB", (120, 90))])
    data = out.getvalue()
    assert data[:3] == b"\xff\xd8\xff"  # a JPEG stream, as any viewer sees it

    image_id = new_upload(db, storage, new_user(db), data)
    with session_scope(db, write=False) as session:
        image = session.get(Image, image_id)
        assert image is not None
        assert image.content_type == "image/jpeg"
        assert image.storage_key.endswith(".jpg")


# --------------------------------------------------------------------------- starting


def test_start_generation_charges_once_and_enqueues_one_job(
    db: Engine, storage: LocalStorage
) -> None:
    user_id = new_user(db)
    image_id = new_upload(db, storage, user_id)
    generation_id = new_generation(
        db, user_id=user_id, image_id=image_id, key="click-1", quality="high", aspect_ratio="16:9"
    )

    generation = stored_generation(db, generation_id)
    assert generation.status == GenerationStatus.PENDING
    assert generation.credits_used == 2  # ceil(1.5 x 1.2)
    assert balance_and_ledger_sum(db, user_id) == (8, 8)
    spends = ledger_entries(db, user_id, LedgerKind.SPEND)
    assert [(e.idempotency_key, e.amount, e.balance_after, e.generation_id) for e in spends] == [
        (f"spend:generation:{generation_id}", -2, 8, generation_id)
    ]
    job = _job_of(db, generation_id)
    assert job.status == JobStatus.QUEUED
    assert job.payload == {"generation_id": generation_id}

    # A double click (same request key) returns the same generation and charges nothing.
    again = new_generation(
        db, user_id=user_id, image_id=image_id, key="click-1", quality="high", aspect_ratio="16:9"
    )
    assert again == generation_id
    assert balance_and_ledger_sum(db, user_id) == (8, 8)
    assert _count(db, Generation) == 1
    assert _count(db, Job) == 1
    assert len(ledger_entries(db, user_id, LedgerKind.SPEND)) == 1

    # A new request key is a new generation, charged again.
    second = new_generation(db, user_id=user_id, image_id=image_id, key="click-2")
    assert second != generation_id
    assert balance_and_ledger_sum(db, user_id) == (7, 7)
    assert _count(db, Job) == 2


def test_start_generation_without_enough_credits_changes_nothing(
    db: Engine, storage: LocalStorage
) -> None:
    user_id = new_user(db)
    image_id = new_upload(db, storage, user_id)
    with session_scope(db) as session:
        credits.spend(session, user_id=user_id, amount=9, idempotency_key="spend:test:drain")
    assert balance_and_ledger_sum(db, user_id) == (1, 1)

    with pytest.raises(InsufficientCreditsError) as info:
        new_generation(db, user_id=user_id, image_id=image_id, quality="high", aspect_ratio="16:9")
    assert "/credits" in info.value.message
    assert (info.value.required, info.value.available) == (2, 1)
    assert _count(db, Generation) == 0
    assert _count(db, Job) == 0
    assert balance_and_ledger_sum(db, user_id) == (1, 1)


def test_start_generation_with_another_users_image_is_not_found(
    db: Engine, storage: LocalStorage
) -> None:
    owner = new_user(db, "owner@example.com")
    intruder = new_user(db, "intruder@example.com")
    image_id = new_upload(db, storage, owner)

    with pytest.raises(NotFoundError):
        new_generation(db, user_id=intruder, image_id=image_id)
    assert _count(db, Generation) == 0
    assert _count(db, Job) == 0
    assert balance_and_ledger_sum(db, intruder) == (10, 10)
    assert balance_and_ledger_sum(db, owner) == (10, 10)


# --------------------------------------------------------------------------- the worker


def test_worker_completes_a_generation_with_the_local_engine(
    db: Engine, storage: LocalStorage
) -> None:
    user_id = new_user(db)
    image_id = new_upload(db, storage, user_id)
    generation_id = new_generation(db, user_id=user_id, image_id=image_id)

    assert run_one_job(db, storage, LocalEngine()) is True

    generation = stored_generation(db, generation_id)
    assert generation.status == GenerationStatus.COMPLETED
    assert generation.error is None
    assert generation.processing_ms is not None and generation.processing_ms >= 0
    assert generation.completed_at is not None
    with session_scope(db, write=False) as session:
        results = session.exec(select(Image).where(Image.category == ImageCategory.GENERATED)).all()
        assert len(results) == 1
        result = results[0]
        assert result.generation_id == generation_id
        assert result.user_id == user_id
        assert result.source_image_id == image_id
        assert result.content_type == "image/jpeg"
        with PILImage.open(io.BytesIO(storage.get(result.storage_key))) as im:
            assert im.format == "JPEG"
            assert im.size == (result.width, result.height)
        assert result.thumbnail_key is not None and storage.exists(result.thumbnail_key)
        view = generation_views.get_generation_view(
            session, user_id=user_id, generation_id=generation_id, base_url="http://x"
        )
        assert view.status_label == "Completed"
        assert view.result_url.startswith(f"http://x/api/media/{result.storage_key}?sig=")
    job = _job_of(db, generation_id)
    assert job.status == JobStatus.SUCCEEDED
    assert job.lease_owner is None
    assert balance_and_ledger_sum(db, user_id) == (9, 9)  # charged, not refunded

    assert run_one_job(db, storage, LocalEngine()) is False


def test_worker_with_empty_queue_does_nothing(db: Engine, storage: LocalStorage) -> None:
    assert run_one_job(db, storage, LocalEngine()) is False


def test_failed_generation_is_refunded_exactly_once(db: Engine, storage: LocalStorage) -> None:
    user_id = new_user(db)
    image_id = new_upload(db, storage, user_id)
    generation_id = new_generation(
        db, user_id=user_id, image_id=image_id, quality="high", aspect_ratio="16:9"
    )
    assert balance_and_ledger_sum(db, user_id) == (8, 8)
    engine = FailingEngine()

    assert run_one_job(db, storage, engine) is True

    generation = stored_generation(db, generation_id)
    assert generation.status == GenerationStatus.FAILED
    assert generation.error == "The model rejected this image"
    assert _job_of(db, generation_id).status == JobStatus.FAILED
    assert balance_and_ledger_sum(db, user_id) == (10, 10)
    refunds = ledger_entries(db, user_id, LedgerKind.REFUND)
    assert [(e.idempotency_key, e.amount, e.generation_id) for e in refunds] == [
        (f"refund:generation:{generation_id}", 2, generation_id)
    ]
    assert _count(db, Image) == 1  # only the upload: nothing was generated

    # Running the worker again finds nothing: no second attempt, no second refund.
    assert run_one_job(db, storage, engine) is False
    assert engine.calls == 1
    assert balance_and_ledger_sum(db, user_id) == (10, 10)
    assert len(ledger_entries(db, user_id, LedgerKind.REFUND)) == 1


def test_retryable_failure_is_retried_once_then_refunded_once(
    db: Engine, storage: LocalStorage
) -> None:
    user_id = new_user(db)
    image_id = new_upload(db, storage, user_id)
    generation_id = new_generation(db, user_id=user_id, image_id=image_id)
    engine = FailingEngine("The service timed out", retryable=True)

    before = utcnow()
    assert run_one_job(db, storage, engine) is True
    job = _job_of(db, generation_id)
    assert job.status == JobStatus.QUEUED
    assert job.attempts == 1
    assert job.run_after > before
    assert job.last_error == "The service timed out"
    assert stored_generation(db, generation_id).status == GenerationStatus.PENDING
    assert ledger_entries(db, user_id, LedgerKind.REFUND) == []
    assert balance_and_ledger_sum(db, user_id) == (9, 9)

    # The retry is not due yet.
    assert run_one_job(db, storage, engine) is False
    assert engine.calls == 1

    _make_job_due(db, generation_id)
    assert run_one_job(db, storage, engine) is True
    assert engine.calls == 2
    generation = stored_generation(db, generation_id)
    assert generation.status == GenerationStatus.FAILED
    assert generation.error == "The service timed out"
    assert generation.retry_count == 1
    job = _job_of(db, generation_id)
    assert job.status == JobStatus.FAILED
    assert job.attempts == 2
    assert balance_and_ledger_sum(db, user_id) == (10, 10)
    assert len(ledger_entries(db, user_id, LedgerKind.REFUND)) == 1

    _make_job_due(db, generation_id)  # a finished job stays finished, even if "due"
    assert run_one_job(db, storage, engine) is False
    assert engine.calls == 2
    assert len(ledger_entries(db, user_id, LedgerKind.REFUND)) == 1


def test_retryable_failure_then_success_charges_once(db: Engine, storage: LocalStorage) -> None:
    user_id = new_user(db)
    image_id = new_upload(db, storage, user_id)
    generation_id = new_generation(db, user_id=user_id, image_id=image_id)

    assert run_one_job(db, storage, FailingEngine("busy", retryable=True)) is True
    _make_job_due(db, generation_id)
    assert run_one_job(db, storage, LocalEngine()) is True

    generation = stored_generation(db, generation_id)
    assert generation.status == GenerationStatus.COMPLETED
    assert generation.error is None
    assert balance_and_ledger_sum(db, user_id) == (9, 9)
    assert ledger_entries(db, user_id, LedgerKind.REFUND) == []


def test_no_refund_when_refunds_are_switched_off(db: Engine, storage: LocalStorage) -> None:
    set_refund_on_failure(db, False)
    user_id = new_user(db)
    image_id = new_upload(db, storage, user_id)
    generation_id = new_generation(db, user_id=user_id, image_id=image_id)

    assert run_one_job(db, storage, FailingEngine()) is True

    assert stored_generation(db, generation_id).status == GenerationStatus.FAILED
    assert balance_and_ledger_sum(db, user_id) == (9, 9)
    assert ledger_entries(db, user_id, LedgerKind.REFUND) == []


def test_lost_upload_fails_the_generation_and_refunds(
    db: Engine, any_storage: MediaStorage
) -> None:
    storage = any_storage  # local files, then an S3 bucket
    user_id = new_user(db)
    image_id = new_upload(db, storage, user_id)
    generation_id = new_generation(db, user_id=user_id, image_id=image_id)
    with session_scope(db, write=False) as session:
        upload = session.get(Image, image_id)
        assert upload is not None
        storage.delete(upload.storage_key)
    engine = FailingEngine("must not be called")

    assert run_one_job(db, storage, engine) is True

    assert engine.calls == 0
    generation = stored_generation(db, generation_id)
    assert generation.status == GenerationStatus.FAILED
    assert generation.error is not None and "Upload them again" in generation.error
    assert balance_and_ledger_sum(db, user_id) == (10, 10)
    assert len(ledger_entries(db, user_id, LedgerKind.REFUND)) == 1
    assert run_one_job(db, storage, engine) is False


# --------------------------------------------------------------------------- leases


def test_expired_lease_is_taken_over_and_the_old_owner_is_locked_out(
    db: Engine, storage: LocalStorage
) -> None:
    user_id = new_user(db)
    image_id = new_upload(db, storage, user_id)
    generation_id = new_generation(db, user_id=user_id, image_id=image_id)

    with session_scope(db) as session:
        job_a = jobs.claim_next_job(session, worker_id="a", lease_seconds=-1)
        assert job_a is not None and job_a.id is not None
        assert job_a.generation_id == generation_id
        job_id = job_a.id
    with session_scope(db) as session:
        job_b = jobs.claim_next_job(session, worker_id="b")
        assert job_b is not None and job_b.id == job_id
        assert job_b.attempts == 2
        assert job_b.lease_owner == "b"

    with session_scope(db) as session:
        current = session.get(Job, job_id)
        assert current is not None
        assert not jobs.is_leased_by(current, "a")
        assert jobs.is_leased_by(current, "b")
        assert not jobs.heartbeat(session, job_id=job_id, worker_id="a")
        assert jobs.heartbeat(session, job_id=job_id, worker_id="b")
        # A live lease is not handed out a third time.
        assert jobs.claim_next_job(session, worker_id="c") is None


def test_unexpired_lease_is_not_claimed_twice(db: Engine, storage: LocalStorage) -> None:
    user_id = new_user(db)
    image_id = new_upload(db, storage, user_id)
    new_generation(db, user_id=user_id, image_id=image_id)
    with session_scope(db) as session:
        assert jobs.claim_next_job(session, worker_id="a") is not None
    with session_scope(db) as session:
        assert jobs.claim_next_job(session, worker_id="b") is None
        # ... until the lease runs out.
        later = utcnow() + timedelta(seconds=jobs.DEFAULT_LEASE_SECONDS + 1)
        taken = jobs.claim_next_job(session, worker_id="b", now=later)
        assert taken is not None and taken.lease_owner == "b"


def test_stale_worker_cannot_complete_a_taken_over_job(db: Engine, storage: LocalStorage) -> None:
    user_id = new_user(db)
    image_id = new_upload(db, storage, user_id)
    generation_id = new_generation(db, user_id=user_id, image_id=image_id)
    engine = TakeoverEngine(db, then=LocalEngine().generate)

    assert run_one_job(db, storage, engine, worker_id="a") is True

    assert engine.taken_by_b is not None
    assert stored_generation(db, generation_id).status == GenerationStatus.PROCESSING
    assert _count(db, Image) == 1  # only the upload
    assert files_under(storage.root / ImageCategory.GENERATED.value) == []
    job = _job_of(db, generation_id)
    assert job.status == JobStatus.RUNNING and job.lease_owner == "b"

    # "b" dies too: both allowed attempts were used up by crashed workers, so the third
    # worker fails the generation for good and refunds it, exactly once.
    with session_scope(db) as session:
        stuck = session.get(Job, job.id)
        assert stuck is not None
        stuck.lease_expires_at = utcnow() - timedelta(seconds=1)
        session.add(stuck)
    assert run_one_job(db, storage, LocalEngine(), worker_id="c") is True
    generation = stored_generation(db, generation_id)
    assert generation.status == GenerationStatus.FAILED
    assert generation.error == "The generation failed unexpectedly. Please try again."
    assert _job_of(db, generation_id).status == JobStatus.FAILED
    assert _count(db, Image) == 1
    assert balance_and_ledger_sum(db, user_id) == (10, 10)
    assert run_one_job(db, storage, LocalEngine(), worker_id="d") is False  # nothing left to do
    assert balance_and_ledger_sum(db, user_id) == (10, 10)


def test_a_job_taken_over_once_still_completes(db: Engine, storage: LocalStorage) -> None:
    user_id = new_user(db)
    image_id = new_upload(db, storage, user_id)
    generation_id = new_generation(db, user_id=user_id, image_id=image_id)
    with session_scope(db) as session:
        assert jobs.claim_next_job(session, worker_id="a", lease_seconds=-1) is not None
    # "a" died mid-run; its lease has expired, and "b" recovers the job (attempt 2 of 2).
    assert run_one_job(db, storage, LocalEngine(), worker_id="b") is True
    assert stored_generation(db, generation_id).status == GenerationStatus.COMPLETED
    assert _count(db, Image) == 2
    assert len(files_under(storage.root / ImageCategory.GENERATED.value)) == 2  # image + thumb
    assert balance_and_ledger_sum(db, user_id) == (9, 9)


def test_stale_worker_cannot_fail_or_refund_a_taken_over_job(
    db: Engine, storage: LocalStorage
) -> None:
    user_id = new_user(db)
    image_id = new_upload(db, storage, user_id)
    generation_id = new_generation(db, user_id=user_id, image_id=image_id)

    def fail(request: GenerationRequest) -> GeneratedImage:
        raise GenerationEngineError("The model rejected this image")

    assert run_one_job(db, storage, TakeoverEngine(db, then=fail), worker_id="a") is True

    generation = stored_generation(db, generation_id)
    assert generation.status == GenerationStatus.PROCESSING
    assert generation.error is None
    assert ledger_entries(db, user_id, LedgerKind.REFUND) == []
    assert balance_and_ledger_sum(db, user_id) == (9, 9)
    job = _job_of(db, generation_id)
    assert job.status == JobStatus.RUNNING and job.lease_owner == "b"


def test_concurrent_double_submit_makes_one_generation_and_no_error(
    db: Engine, storage: LocalStorage
) -> None:
    """Two tabs (or a double click) sending the same request at once: one generation, one
    charge, and both requests answered with it rather than one of them with an error."""
    user_id = new_user(db)
    image_id = new_upload(db, storage, user_id)
    barrier = threading.Barrier(8)
    lock = threading.Lock()
    ids: list[int] = []
    errors: list[BaseException] = []

    def submit() -> None:
        barrier.wait()
        try:
            generation_id = new_generation(db, user_id=user_id, image_id=image_id, key="same-click")
            with lock:
                ids.append(generation_id)
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert _count(db, Generation) == 1
    assert _count(db, Job) == 1
    assert balance_and_ledger_sum(db, user_id) == (9, 9)
    assert errors == []
    assert len(ids) == 8 and len(set(ids)) == 1
