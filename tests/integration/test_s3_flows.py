"""The app configured for S3 (`STYLESTUDIO_STORAGE=s3`, moto's server over HTTP): the studio's
upload handler, a generation by the local engine, the signed media route, `Download all`,
a share link's image, `Export my data`, deleting a generation and the account, and
`stylestudio media sweep` — every byte in the bucket, none on the local disk. SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import socket
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import reflex as rx
from reflex.istate.manager import StateManager
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import StreamingResponse

from stylestudio import runtime
from stylestudio.adapters.local_engine.engine import LocalEngine
from stylestudio.adapters.s3_storage import S3Storage, s3_client
from stylestudio.api import stored_media
from stylestudio.api.routes import build_api
from stylestudio.api.session_cookie import SESSION_COOKIE
from stylestudio.cli import main
from stylestudio.db import dispose_engines, session_scope
from stylestudio.models import GenerationStatus, Image, ImageCategory, Job, LedgerKind, utcnow
from stylestudio.services.generation import generation_views
from stylestudio.services.generation.generation_work import STORAGE_UNAVAILABLE
from stylestudio.services.generation.generation_worker import run_next_generation_job
from stylestudio.services.library import sharing
from stylestudio.services.media import media
from stylestudio.settings import get_settings
from stylestudio.state.account import AccountState
from stylestudio.state.gallery import GalleryState
from stylestudio.state.studio_inputs import StudioInputsState
from tests.support.app_states import run_handler
from tests.support.app_states import state_manager as state_manager
from tests.support.builders import new_generation, new_user, product_shot, signed_in_session
from tests.support.lookups import balance_and_ledger_sum, ledger_entries, stored_generation
from tests.support.s3 import REGION, Bucket, client_for
from tests.support.tab_cookie import connect_with_cookie

API_URL = "http://api.example.test"


@pytest.fixture
def s3_app(
    db: Engine, s3_bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[S3Storage]:
    """The app's settings point at the test's database and bucket; yields the app's own
    storage (runtime.get_storage), which must be the bucket."""
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("STYLESTUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STYLESTUDIO_API_URL", API_URL)
    for name, value in s3_bucket.env().items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    runtime.reset()
    try:
        storage = runtime.get_storage()
        assert isinstance(storage, S3Storage)
        assert (storage.bucket, storage.prefix) == (s3_bucket.name, "media/")
        yield storage
        assert not (tmp_path / "data" / "media").exists()  # nothing went to the local disk
    finally:
        dispose_engines()
        get_settings.cache_clear()
        runtime.reset()


@pytest.fixture
async def client(s3_app: S3Storage) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_api())
    async with httpx.AsyncClient(transport=transport, base_url=API_URL) as c:
        yield c


def _objects(storage: S3Storage) -> set[str]:
    return {f.key for f in storage.list_files()}


def _images(db: Engine, user_id: int) -> list[Image]:
    with session_scope(db, write=False) as session:
        return list(session.exec(select(Image).where(col(Image.user_id) == user_id)))


def _keys_of(images: list[Image]) -> set[str]:
    return {k for i in images for k in (i.storage_key, i.thumbnail_key) if k}


def _tab(cls: type[rx.State]) -> rx.BaseStateToken:
    return rx.BaseStateToken(ident=str(uuid.uuid4()), cls=cls)


async def _upload_in_the_studio(
    manager: StateManager, db: Engine, user_id: int, data: bytes
) -> int:
    """The studio's drop zone: StudioInputsState.upload_product with the page's file."""
    async with manager.modify_state(_tab(StudioInputsState)) as root:
        connect_with_cookie(root, signed_in_session(db, user_id))
        studio = await root.get_state(StudioInputsState)
        upload = rx.UploadFile(file=io.BytesIO(data), path=Path("red-mug.jpg"))
        await run_handler(studio, "upload_product", [upload])
        assert studio.upload_error == ""
        [photo] = studio.products
        return photo.id


def _generate(db: Engine, storage: S3Storage, user_id: int, image_id: int, key: str) -> int:
    generation_id = new_generation(db, user_id=user_id, image_id=image_id, key=key)
    assert run_next_generation_job(db=db, storage=storage, engine=LocalEngine(), worker_id="w")
    return generation_id


def _cookie(db: Engine, user_id: int) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={signed_in_session(db, user_id)}"}


async def test_upload_generate_and_download_through_the_signed_route(
    s3_app: S3Storage, client: httpx.AsyncClient, db: Engine, state_manager: StateManager
) -> None:
    storage = s3_app
    user_id = new_user(db, "maker@example.com")
    image_id = await _upload_in_the_studio(state_manager, db, user_id, product_shot())
    [upload] = _images(db, user_id)
    assert upload.id == image_id and upload.thumbnail_key
    assert _objects(storage) == {upload.storage_key, upload.thumbnail_key}

    generation_id = await asyncio.to_thread(_generate, db, storage, user_id, image_id, "g1")
    results = [i for i in _images(db, user_id) if i.category == ImageCategory.GENERATED]
    assert len(results) == 1  # the result, with its thumbnail, in the bucket
    assert _objects(storage) == _keys_of(_images(db, user_id))

    with session_scope(db, write=False) as session:
        view = generation_views.get_generation_view(
            session, user_id=user_id, generation_id=generation_id, base_url=API_URL
        )
    first = min(results, key=lambda i: (i.image_order, i.id or 0))
    stored = storage.get(first.storage_key)

    # The page's signed URL serves the object's bytes, streamed from the bucket.
    shown = await client.get(view.result_url)
    assert shown.status_code == 200 and shown.content == stored
    assert shown.headers["content-type"] == "image/jpeg"
    assert shown.headers["content-length"] == str(len(stored))
    assert shown.headers["cache-control"] == "private, max-age=600"
    again = await client.get(view.result_url, headers={"If-None-Match": shown.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    thumb = await client.get(view.result_thumb_url)
    assert thumb.status_code == 200 and thumb.content == storage.get(first.thumbnail_key or "")
    saved = await client.get(view.download_url)
    assert saved.content == stored
    assert saved.headers["content-disposition"].startswith('attachment; filename="')

    # Without a valid signature: nothing, from us or from the bucket itself.
    path = f"/api/media/{first.storage_key}"
    assert (await client.get(path)).status_code == 403
    other_sig = media.sign_media_key(upload.storage_key)
    assert (await client.get(f"{path}?sig={other_sig}")).status_code == 403
    bucket_url = f"{storage.client.meta.endpoint_url}/{storage.bucket}"
    direct = httpx.get(f"{bucket_url}/media/{first.storage_key}")
    assert direct.status_code == 403 and stored not in direct.content
    # A signed key that is not in the bucket, or that would leave the prefix: 404.
    for key in ("generated/1/none.jpg", "../outside.jpg"):
        missing = media.media_url(key, base_url=API_URL)
        assert (await client.get(missing)).status_code == 404

    # `Download all`: the zip of the generation's images, from the bucket, for the owner only.
    url = f"/api/generations/{generation_id}/download"
    answer = await client.get(url, headers=_cookie(db, user_id))
    assert answer.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert sorted(archive.read(n) for n in archive.namelist()) == sorted(
        storage.get(i.storage_key) for i in results
    )
    stranger = new_user(db, "stranger@example.com")
    assert (await client.get(url, headers=_cookie(db, stranger))).status_code == 404
    assert (await client.get(url)).status_code == 401


async def test_a_share_links_image_comes_from_the_bucket_until_revoked(
    s3_app: S3Storage, client: httpx.AsyncClient, db: Engine, state_manager: StateManager
) -> None:
    storage = s3_app
    user_id = new_user(db)
    image_id = await _upload_in_the_studio(state_manager, db, user_id, product_shot())
    await asyncio.to_thread(_generate, db, storage, user_id, image_id, "g1")
    result = next(i for i in _images(db, user_id) if i.category == ImageCategory.GENERATED)
    with session_scope(db) as session:
        created = sharing.create_share_link(
            session, user_id=user_id, image_id=result.id or 0, expires_in="7d"
        )
    url = f"/api/share/{created.token}/image"
    shown = await client.get(url)
    assert shown.status_code == 200 and shown.content == storage.get(result.storage_key)
    assert shown.headers["cache-control"] == "private, no-cache"
    etag = shown.headers["etag"]
    assert (await client.get(url, headers={"If-None-Match": etag})).status_code == 304
    with session_scope(db) as session:
        sharing.revoke_share_link(session, user_id=user_id, link_id=created.link_id)
    assert (await client.get(url, headers={"If-None-Match": etag})).status_code == 404


async def test_export_holds_the_buckets_images(
    s3_app: S3Storage, client: httpx.AsyncClient, db: Engine, state_manager: StateManager
) -> None:
    storage = s3_app
    user_id = new_user(db)
    image_id = await _upload_in_the_studio(state_manager, db, user_id, product_shot())
    await asyncio.to_thread(_generate, db, storage, user_id, image_id, "g1")
    answer = await client.get("/api/account/export", headers=_cookie(db, user_id))
    assert answer.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    exported = sorted(archive.read(n) for n in archive.namelist() if n.startswith("images/"))
    assert exported == sorted(storage.get(i.storage_key) for i in _images(db, user_id))
    assert len(exported) == 2  # the upload and the result


async def test_deleting_a_generation_and_the_account_removes_their_objects(
    s3_app: S3Storage, db: Engine, state_manager: StateManager
) -> None:
    storage = s3_app
    leaving, staying = new_user(db, "leaving@example.com"), new_user(db, "staying@example.com")
    ids = {}
    for who in (leaving, staying):
        image_id = await _upload_in_the_studio(state_manager, db, who, product_shot())
        for key in ("g1", "g2"):
            ids[who, key] = await asyncio.to_thread(_generate, db, storage, who, image_id, key)
    theirs = _keys_of(_images(db, staying))
    assert _objects(storage) == _keys_of(_images(db, leaving)) | theirs

    # The gallery's `Delete` on one generation (asked, then confirmed): its result and
    # thumbnail leave the bucket.
    doomed = _keys_of([i for i in _images(db, leaving) if i.generation_id == ids[leaving, "g1"]])
    assert len(doomed) == 2
    async with state_manager.modify_state(_tab(GalleryState)) as root:
        connect_with_cookie(root, signed_in_session(db, leaving))
        gallery = await root.get_state(GalleryState)
        await run_handler(gallery, "open_gallery")
        await run_handler(gallery, "ask_delete", ids[leaving, "g1"])
        await run_handler(gallery, "delete", ids[leaving, "g1"])
    assert not doomed & _objects(storage)
    assert _objects(storage) == _keys_of(_images(db, leaving)) | theirs
    assert len(_images(db, leaving)) == 2  # the upload and g2's result

    # `Delete account`: every object of the account goes; the other user's all stay.
    async with state_manager.modify_state(_tab(AccountState)) as root:
        connect_with_cookie(root, signed_in_session(db, leaving))
        account = await root.get_state(AccountState)
        await run_handler(account, "delete_account", {"confirm_email": "leaving@example.com"})
    assert _images(db, leaving) == []
    assert _objects(storage) == theirs


def test_media_sweep_removes_the_buckets_orphans_only(
    s3_app: S3Storage, s3_bucket: Bucket, db: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = s3_app
    user_id = new_user(db)
    with session_scope(db) as session:
        kept = media.store_upload(
            session,
            storage=storage,
            user_id=user_id,
            data=product_shot(),
            filename="a.jpg",
            category=ImageCategory.PRODUCT,
        )
    orphans = {"product/1/lost.jpg", "generated/1/lost.thumb.jpg"}
    for key in orphans:
        storage.put(key, b"left behind by a killed process", content_type="image/jpeg")
    # Beside the prefix: not the app's, never listed, never deleted.
    client_for(s3_bucket.endpoint_url).put_object(
        Bucket=s3_bucket.name, Key="backups/db.dump", Body=b"x"
    )
    everything = _keys_of([kept]) | orphans

    assert main(["media", "sweep"]) == 0  # the default grace: they are too young
    assert "Found 0 orphaned files" in capsys.readouterr().out
    assert main(["media", "sweep", "--older-than-minutes", "0"]) == 0  # a dry run
    out = capsys.readouterr().out
    assert all(f"would delete {k} (31 bytes" in out for k in orphans)
    assert "Found 2 orphaned files, 62 bytes" in out
    assert _objects(storage) == everything

    assert main(["media", "sweep", "--delete", "--older-than-minutes", "0"]) == 0
    assert "Deleted 2 orphaned files" in capsys.readouterr().out
    assert _objects(storage) == _keys_of([kept])
    raw = client_for(s3_bucket.endpoint_url).list_objects_v2(Bucket=s3_bucket.name)
    assert "backups/db.dump" in {o["Key"] for o in raw["Contents"]}


def test_an_upload_whose_transaction_fails_leaves_no_object(s3_app: S3Storage, db: Engine) -> None:
    storage = s3_app
    user_id = new_user(db)
    with pytest.raises(RuntimeError), session_scope(db) as session:
        media.store_upload(
            session,
            storage=storage,
            user_id=user_id,
            data=product_shot(),
            filename="a.jpg",
            category=ImageCategory.PRODUCT,
        )
        assert len(_objects(storage)) == 2  # written before the commit...
        raise RuntimeError("the request failed after storing")
    assert _objects(storage) == set()  # ...and deleted with the rollback


def test_the_region_and_endpoint_reach_the_client(s3_app: S3Storage, s3_bucket: Bucket) -> None:
    assert s3_app.client.meta.region_name == REGION
    assert s3_app.client.meta.endpoint_url == s3_bucket.endpoint_url
    assert s3_app.client.meta.config.s3["addressing_style"] == "path"


def test_a_store_that_does_not_answer_delays_the_generation_without_failing_it(
    s3_bucket: Bucket, db: Engine
) -> None:
    """The photos are in the bucket but the worker cannot reach it: the job waits for
    another attempt (no refund, no "upload them again"); once the store answers, it runs."""
    storage = s3_bucket.storage()
    user_id = new_user(db)
    with session_scope(db) as session:
        upload = media.store_upload(
            session,
            storage=storage,
            user_id=user_id,
            data=product_shot(),
            filename="a.jpg",
            category=ImageCategory.PRODUCT,
        )
    generation_id = new_generation(db, user_id=user_id, image_id=upload.id or 0)
    spent = balance_and_ledger_sum(db, user_id)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    away = S3Storage(
        client=s3_client(endpoint_url=f"http://127.0.0.1:{port}", region=REGION, max_attempts=1),
        bucket=s3_bucket.name,
        prefix=s3_bucket.prefix,
    )
    assert run_next_generation_job(db=db, storage=away, engine=LocalEngine(), worker_id="w")
    assert stored_generation(db, generation_id).status == GenerationStatus.PENDING
    assert balance_and_ledger_sum(db, user_id) == spent  # still spent, not refunded
    with session_scope(db) as session:
        job = session.exec(select(Job)).one()
        assert job.attempts == 1 and job.last_error == STORAGE_UNAVAILABLE
        job.run_after = utcnow()  # its retry delay is over
        session.add(job)

    assert run_next_generation_job(db=db, storage=storage, engine=LocalEngine(), worker_id="w")
    assert stored_generation(db, generation_id).status == GenerationStatus.COMPLETED
    assert len(ledger_entries(db, user_id, LedgerKind.REFUND)) == 0


async def test_a_store_that_does_not_answer_is_a_503_not_a_404(
    s3_bucket: Bucket, db: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name, value in s3_bucket.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STYLESTUDIO_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    runtime.reset()
    try:
        transport = httpx.ASGITransport(app=build_api())
        async with httpx.AsyncClient(transport=transport, base_url=API_URL) as client:
            answer = await client.get(media.media_url("product/1/a.jpg", base_url=API_URL))
    finally:
        dispose_engines()
        get_settings.cache_clear()
        runtime.reset()
    assert answer.status_code == 503 and answer.headers["cache-control"] == "no-store"
    assert "media store unavailable: could not read product/1/a.jpg" in caplog.text


async def test_downloads_answer_503_when_the_store_does_not_answer(
    s3_app: S3Storage,
    client: httpx.AsyncClient,
    db: Engine,
    state_manager: StateManager,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`Download all` and `Export my data` of images that exist, while the store is down: a
    503 that says to try again (the images are not gone), not a 500."""
    user_id = new_user(db)
    image_id = await _upload_in_the_studio(state_manager, db, user_id, product_shot())
    generation_id = await asyncio.to_thread(_generate, db, s3_app, user_id, image_id, "g1")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("STYLESTUDIO_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    get_settings.cache_clear()
    runtime.reset()
    for url in (f"/api/generations/{generation_id}/download", "/api/account/export"):
        answer = await client.get(url, headers=_cookie(db, user_id))
        assert answer.status_code == 503, url
        assert answer.headers["retry-after"] and "try again" in answer.text


async def test_a_large_object_is_streamed_in_chunks(
    s3_app: S3Storage, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past READ_WHOLE_BYTES the route streams the object chunk by chunk from the bucket;
    below, it is read whole (one thread hop)."""
    data = bytes(range(256)) * 1000  # 256 KB: four 64 KB chunks
    key = "generated/1/large.jpg"
    s3_app.put(key, data, content_type="image/jpeg")
    request = Request({"type": "http", "method": "GET", "headers": [], "query_string": b""})
    monkeypatch.setattr(stored_media, "READ_WHOLE_BYTES", 64 * 1024)
    streamed = await stored_media.stored_media_response(
        request, s3_app, key, media_type="image/jpeg", headers={}
    )
    assert isinstance(streamed, StreamingResponse)
    assert streamed.headers["content-length"] == str(len(data))
    chunks = [c async for c in streamed.body_iterator]
    assert all(isinstance(c, bytes) for c in chunks)
    assert b"".join(c for c in chunks if isinstance(c, bytes)) == data and len(chunks) == 4
    url = media.media_url(key, base_url=API_URL)
    assert (await client.get(url)).content == data  # and through the route

    monkeypatch.setattr(stored_media, "READ_WHOLE_BYTES", 1024 * 1024)
    whole = await stored_media.stored_media_response(
        request, s3_app, key, media_type="image/jpeg", headers={}
    )
    assert whole is not None and not isinstance(whole, StreamingResponse)
    assert whole.body == data and whole.headers["content-length"] == str(len(data))
