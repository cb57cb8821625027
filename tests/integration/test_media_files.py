"""Files nobody points to: a failed transaction leaves no file behind, and the sweep removes
what slipped through (and nothing else)."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage
from PIL import ImageDraw
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from stylestudio import runtime
from stylestudio.adapters.generation_engine import (
    LOCAL_MODEL,
    GeneratedImage,
    GenerationRequest,
    ModelSpec,
)
from stylestudio.adapters.local_engine.engine import LocalEngine
from stylestudio.adapters.storage import LocalStorage
from stylestudio.cli import main
from stylestudio.db import dispose_engines, session_scope
from stylestudio.models import Generation, GenerationStatus, Image, ImageCategory, Job, utcnow
from stylestudio.services.generation import generations
from stylestudio.services.generation.generation_worker import run_next_generation_job
from stylestudio.services.media import media, media_sweep
from stylestudio.settings import get_settings
from tests.support.builders import new_user

TWO_HOURS_AGO = time.time() - 2 * 3600

# --------------------------------------------------------------------------- helpers


def _product_shot() -> bytes:
    im = PILImage.new("RGB", (320, 240), (236, 234, 230))
    ImageDraw.Draw(im).rectangle((110, 50, 210, 200), fill=(190, 30, 40))
    out = io.BytesIO()
    im.save(out, "JPEG")
    return out.getvalue()


def _files_under(root: Path) -> set[str]:
    """Every file on disk under `root`, as a storage key (temp files included)."""
    if not root.exists():
        return set()
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _image_count(db: Engine) -> int:
    with session_scope(db, write=False) as session:
        return session.exec(select(func.count()).select_from(Image)).one()


def _store_upload(session: Any, storage: LocalStorage, user_id: int) -> Image:
    return media.store_upload(
        session,
        storage=storage,
        user_id=user_id,
        data=_product_shot(),
        filename="shoe.jpg",
        category=ImageCategory.PRODUCT,
    )


def _upload(db: Engine, storage: LocalStorage, user_id: int) -> Image:
    with session_scope(db) as session:
        return _store_upload(session, storage, user_id)


class CommitFails(Exception):
    pass


def _fail_every_commit(_conn: Any) -> None:
    # ConnectionEvents.commit runs just before the driver's COMMIT: the rows were flushed and
    # the files written, and then the COMMIT itself fails, as a lost connection would make it.
    raise CommitFails("COMMIT failed")


def _age(storage: LocalStorage, *keys: str) -> None:
    for key in keys:
        os.utime(storage.path_of(key), (TWO_HOURS_AGO, TWO_HOURS_AGO))


def _plant(storage: LocalStorage, key: str, *, old: bool = True) -> str:
    path = storage.root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"left over " + key.encode())
    if old:
        os.utime(path, (TWO_HOURS_AGO, TWO_HOURS_AGO))
    return key


# --------------------------------------------------------------------------- uploads


def test_upload_files_are_deleted_when_the_commit_violates_a_constraint(
    db: Engine, storage: LocalStorage
) -> None:
    user_id = new_user(db)
    written: set[str] = set()
    with pytest.raises(IntegrityError), session_scope(db) as session:
        image = _store_upload(session, storage, user_id)
        written = _files_under(storage.root)
        # A second row claiming the same key: the UNIQUE constraint fails in commit's flush.
        session.add(
            Image(
                user_id=user_id,
                content_type="image/jpeg",
                size_bytes=1,
                width=1,
                height=1,
                storage_key=image.storage_key,
            )
        )

    assert written == {image.storage_key, image.thumbnail_key}  # they were on disk
    assert _files_under(storage.root) == set()
    assert _image_count(db) == 0


def test_upload_files_are_deleted_when_the_final_commit_fails(
    db: Engine, storage: LocalStorage
) -> None:
    user_id = new_user(db)
    event.listen(db, "commit", _fail_every_commit)
    try:
        with pytest.raises(CommitFails), session_scope(db) as session:
            image = _store_upload(session, storage, user_id)
            session.flush()
            assert storage.exists(image.storage_key)
    finally:
        event.remove(db, "commit", _fail_every_commit)

    assert _files_under(storage.root) == set()
    assert _image_count(db) == 0

    # The same kind of upload, committed, keeps both files.
    kept = _upload(db, storage, user_id)
    assert _files_under(storage.root) == {kept.storage_key, kept.thumbnail_key}
    assert _image_count(db) == 1


def test_upload_files_are_deleted_when_the_caller_fails_after_the_upload(
    db: Engine, storage: LocalStorage
) -> None:
    user_id = new_user(db)
    with pytest.raises(RuntimeError), session_scope(db) as session:
        _store_upload(session, storage, user_id)
        raise RuntimeError("the next step of the caller failed")
    assert _files_under(storage.root) == set()


def test_a_failed_thumbnail_write_leaves_no_image_file(db: Engine, storage: LocalStorage) -> None:
    class ThumbnailWriteFails(LocalStorage):
        def put(self, key: str, data: bytes, *, content_type: str) -> None:
            if key.endswith(".thumb.jpg"):
                raise OSError("disk full")
            super().put(key, data, content_type=content_type)

    user_id = new_user(db)
    failing = ThumbnailWriteFails(storage.root)
    with pytest.raises(OSError), session_scope(db) as session:
        _store_upload(session, failing, user_id)
    assert _files_under(storage.root) == set()


def test_a_session_that_commits_and_then_fails_keeps_only_the_committed_upload(
    db: Engine, storage: LocalStorage
) -> None:
    """The decision is per transaction: a later rollback never deletes committed files."""
    user_id = new_user(db)
    with pytest.raises(RuntimeError), session_scope(db) as session:
        first = _store_upload(session, storage, user_id)
        session.commit()
        committed = {first.storage_key, first.thumbnail_key}
        _store_upload(session, storage, user_id)
        assert len(_files_under(storage.root)) == 4
        raise RuntimeError("boom")
    assert _files_under(storage.root) == committed


# --------------------------------------------------------------------------- generation results


class CommitFailsAfterGenerating:
    """Generates normally; from then on every COMMIT on `db` fails (the worker's last one)."""

    name = "commit-fails"
    models: tuple[ModelSpec, ...] = (LOCAL_MODEL,)

    def __init__(self, db: Engine) -> None:
        self.db = db
        self.inner = LocalEngine()

    def generate(self, request: GenerationRequest) -> GeneratedImage:
        result = self.inner.generate(request)
        event.listen(self.db, "commit", _fail_every_commit)
        return result


def test_result_files_are_deleted_when_the_completing_commit_fails(
    db: Engine, storage: LocalStorage
) -> None:
    user_id = new_user(db)
    upload = _upload(db, storage, user_id)
    with session_scope(db) as session:
        generation = generations.start_generation(
            session,
            user_id=user_id,
            product_image_id=upload.id or 0,
            model_image_id=None,
            prompt="on a marble table",
            style="realistic",
            quality="draft",
            aspect_ratio="1:1",
            idempotency_key="req-1",
        )
    engine = CommitFailsAfterGenerating(db)
    try:
        with pytest.raises(CommitFails):
            run_next_generation_job(db=db, storage=storage, engine=engine, worker_id="w1")
    finally:
        event.remove(db, "commit", _fail_every_commit)

    assert _files_under(storage.root) == {upload.storage_key, upload.thumbnail_key}
    with session_scope(db, write=False) as session:
        stored = session.get(Generation, generation.id)
        assert stored is not None and stored.status == GenerationStatus.PROCESSING
        generated = session.exec(
            select(Image).where(col(Image.category) == ImageCategory.GENERATED)
        ).all()
        assert generated == []

    # Control: once its lease runs out, another worker completes the job and keeps the files.
    with session_scope(db) as session:
        job = session.exec(select(Job)).one()
        job.lease_expires_at = utcnow() - timedelta(seconds=1)
        session.add(job)
    assert run_next_generation_job(db=db, storage=storage, engine=LocalEngine(), worker_id="w2")
    with session_scope(db, write=False) as session:
        result = session.exec(
            select(Image).where(col(Image.category) == ImageCategory.GENERATED)
        ).one()
    assert _files_under(storage.root) == {
        upload.storage_key,
        upload.thumbnail_key,
        result.storage_key,
        result.thumbnail_key,
    }


# --------------------------------------------------------------------------- the sweep service


@pytest.fixture
def planted(db: Engine, storage: LocalStorage) -> dict[str, set[str]]:
    """Two committed uploads (file + thumbnail each), old orphans, a young one, a temp file."""
    user_id = new_user(db)
    referenced: set[str] = set()
    for _ in range(2):
        image = _upload(db, storage, user_id)
        assert image.thumbnail_key is not None
        referenced |= {image.storage_key, image.thumbnail_key}
    _age(storage, *referenced)
    old_orphans = {
        _plant(storage, f"product/{user_id}/0123456789abcdef.jpg"),
        _plant(storage, "generated/99/fedcba9876543210.thumb.jpg"),
        _plant(storage, "stray.bin"),
    }
    young = {_plant(storage, f"product/{user_id}/being-uploaded.jpg", old=False)}
    temp = {_plant(storage, f"product/{user_id}/.tmp-half-written")}
    assert _files_under(storage.root) == referenced | old_orphans | young | temp
    return {"referenced": referenced, "old": old_orphans, "young": young, "temp": temp}


def test_find_orphans_reports_old_unreferenced_files_only(
    db: Engine, storage: LocalStorage, planted: dict[str, set[str]]
) -> None:
    with session_scope(db, write=False) as session:
        found = media_sweep.find_orphans(session, storage=storage)
    assert [f.key for f in found] == sorted(planted["old"])
    assert all(f.size_bytes == len(b"left over " + f.key.encode()) for f in found)
    assert _files_under(storage.root) == set().union(*planted.values())  # nothing deleted


def test_sweep_orphans_deletes_them_and_nothing_else(
    db: Engine, storage: LocalStorage, planted: dict[str, set[str]]
) -> None:
    with session_scope(db, write=False) as session:
        deleted = media_sweep.sweep_orphans(session, storage=storage)
    assert {f.key for f in deleted} == planted["old"]
    assert _files_under(storage.root) == planted["referenced"] | planted["young"] | planted["temp"]

    # Without a grace period the young orphan goes too; referenced files and temp files stay.
    with session_scope(db, write=False) as session:
        deleted = media_sweep.sweep_orphans(session, storage=storage, older_than=timedelta(0))
    assert {f.key for f in deleted} == planted["young"]
    assert _files_under(storage.root) == planted["referenced"] | planted["temp"]


def test_sweep_checks_keys_in_batches(
    db: Engine, storage: LocalStorage, planted: dict[str, set[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(media_sweep, "_BATCH", 2)
    with session_scope(db, write=False) as session:
        found = media_sweep.find_orphans(session, storage=storage)
    assert {f.key for f in found} == planted["old"]


# --------------------------------------------------------------------------- the command


@pytest.fixture
def cli_env(db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStorage]:
    """`stylestudio ...` configured for the test database and a data folder of its own."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("STYLESTUDIO_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))

    def reset() -> None:
        get_settings.cache_clear()
        runtime.reset()
        dispose_engines()

    reset()
    try:
        assert get_settings().media_dir == data_dir / "media"
        yield LocalStorage(data_dir / "media")
    finally:
        monkeypatch.undo()
        reset()


def test_media_sweep_command_lists_then_deletes_orphans(
    db: Engine, cli_env: LocalStorage, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = cli_env
    user_id = new_user(db)
    image = _upload(db, storage, user_id)
    referenced = {image.storage_key, image.thumbnail_key or ""}
    _age(storage, *referenced)
    orphan = _plant(storage, f"product/{user_id}/abandoned.jpg")
    young = _plant(storage, f"product/{user_id}/in-flight.jpg", old=False)
    everything = _files_under(storage.root)
    orphan_bytes = (storage.root / orphan).stat().st_size

    assert main(["media", "sweep"]) == 0
    out = capsys.readouterr().out
    assert f"would delete {orphan} " in out
    assert f"Found 1 orphaned file, {orphan_bytes:,} bytes" in out
    assert young not in out and image.storage_key not in out
    assert _files_under(storage.root) == everything  # a dry run deletes nothing

    assert main(["media", "sweep", "--delete"]) == 0
    out = capsys.readouterr().out
    assert f"deleted {orphan} " in out
    assert "Deleted 1 orphaned file" in out
    assert _files_under(storage.root) == referenced | {young}

    assert main(["media", "sweep", "--delete", "--older-than-minutes", "0"]) == 0
    assert f"deleted {young} " in capsys.readouterr().out
    assert _files_under(storage.root) == referenced


def test_media_sweep_command_rejects_a_negative_grace_period(
    cli_env: LocalStorage, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["media", "sweep", "--older-than-minutes", "-5"])
    assert exc.value.code == 2
    assert "must be 0 or more" in capsys.readouterr().err
