"""GET /api/health (alive) and /api/ready (database at head, Redis, storage), as a load
balancer or an orchestrator calls them: real databases, a real Redis, real storage."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from stylestudio import runtime
from stylestudio.adapters.storage import LocalStorage, OpenedFile, StoredFile
from stylestudio.api.routes import build_api
from stylestudio.db import dispose_engines
from stylestudio.services.health import storage_status
from stylestudio.settings import get_settings
from tests.support.databases import empty_database

REDIS_URL = os.environ.get("STYLESTUDIO_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
# Nothing listens on port 1: a refused connection, at once.
DEAD_POSTGRES = "postgresql://postgres@127.0.0.1:1/stylestudio"
DEAD_REDIS = "redis://127.0.0.1:1/0"


def _redis_available() -> bool:
    import redis

    client: Any = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
        return True
    except Exception:
        return False
    finally:
        client.close()


def _get(path: str) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=build_api())
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.get(path)

    return asyncio.run(call())


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """Point the app at a database URL, a data folder and (maybe) Redis."""

    def configure(database_url: str, *, data_dir: Path | None = None, redis_url: str = "") -> None:
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("STYLESTUDIO_DATA_DIR", str(data_dir or tmp_path / "data"))
        monkeypatch.setenv("REDIS_URL", redis_url)
        get_settings.cache_clear()
        runtime.reset()

    yield configure
    dispose_engines()
    get_settings.cache_clear()
    runtime.reset()


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_ready_when_database_storage_and_redis_answer(db: Engine, configure: Any) -> None:
    if not _redis_available():
        pytest.skip("Redis not reachable")
    configure(_url(db), redis_url=REDIS_URL)
    response = _get("/api/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready" and body["failed"] == []
    assert (body["database"], body["redis"], body["storage"]) == ("ok", "ok", "ok")
    assert body["revision"] == body["expected_revision"]
    assert response.headers["cache-control"] == "no-store"


def test_redis_is_not_checked_when_not_configured(sqlite_db: Engine, configure: Any) -> None:
    configure(_url(sqlite_db))
    response = _get("/api/ready")
    assert response.status_code == 200
    assert response.json()["redis"] == "not configured"


def test_database_unreachable_is_not_ready_but_alive(configure: Any) -> None:
    configure(DEAD_POSTGRES)
    response = _get("/api/ready")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "not ready" and body["failed"] == ["database"]
    assert body["database"] == "unreachable"
    assert body["details"] == {"database": "OperationalError"}
    assert body["storage"] == "ok"
    # Alive all the same: a restart would not bring the database back.
    health = _get("/api/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_database_not_migrated_is_not_ready(configure: Any, tmp_path: Path, kind: str) -> None:
    with empty_database(kind, tmp_path) as url:
        configure(url)
        response = _get("/api/ready")
        body = response.json()
        dispose_engines()  # before the database is dropped
    assert response.status_code == 503
    assert body["failed"] == ["database"] and body["database"] == "not migrated"
    assert body["revision"] is None and body["expected_revision"]


def test_redis_down_is_not_ready(sqlite_db: Engine, configure: Any) -> None:
    configure(_url(sqlite_db), redis_url=DEAD_REDIS)
    response = _get("/api/ready")
    body = response.json()
    assert response.status_code == 503
    assert body["failed"] == ["redis"] and body["redis"] == "unreachable"
    assert body["details"] == {"redis": "ConnectionError"}
    assert body["database"] == "ok" and body["storage"] == "ok"


def test_storage_failing_is_not_ready(sqlite_db: Engine, configure: Any, tmp_path: Path) -> None:
    # The data folder is a file: nothing can be written under it.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    configure(_url(sqlite_db), data_dir=blocker)
    response = _get("/api/ready")
    body = response.json()
    assert response.status_code == 503
    assert body["failed"] == ["storage"] and body["storage"] == "failing"
    assert body["database"] == "ok"


def test_everything_down_names_every_part(configure: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    configure(DEAD_POSTGRES, data_dir=blocker, redis_url=DEAD_REDIS)
    body = _get("/api/ready").json()
    assert body["failed"] == ["database", "redis", "storage"]
    assert body["details"] == {
        "database": "OperationalError",
        "redis": "ConnectionError",
        "storage": "NotADirectoryError",
    }


def test_a_database_url_nothing_can_connect_with_is_not_ready(configure: Any) -> None:
    configure("nosuchdialect://somewhere/db")
    response = _get("/api/ready")
    body = response.json()
    assert response.status_code == 503 and body["failed"] == ["database"]
    assert body["database"] == "failing" and body["details"]["database"] == "NoSuchModuleError"


class _DictStorage:
    """Another MediaStorage (as an object store would be): the probe uses the protocol only."""

    def __init__(self, *, corrupt: bool = False) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts: list[str] = []
        self.corrupt = corrupt

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self.puts.append(key)
        self.objects[key] = data[::-1] if self.corrupt else data

    def get(self, key: str) -> bytes:
        return self.objects[key]

    def open(self, key: str) -> OpenedFile:
        data = self.objects[key]
        return OpenedFile(
            size_bytes=len(data),
            etag='"x"',
            modified_at=datetime.now(UTC),
            chunks=iter([data]),
            close=lambda: None,
        )

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def exists(self, key: str) -> bool:
        return key in self.objects

    def list_files(self) -> Iterator[StoredFile]:
        return iter(())


def test_the_storage_probe_leaves_nothing_behind(tmp_path: Path) -> None:
    local = LocalStorage(tmp_path / "media")
    assert storage_status(local) == {"storage": "ok"}
    assert list(local.list_files()) == []
    other = _DictStorage()
    assert storage_status(other) == {"storage": "ok"}
    assert other.objects == {} and len(other.puts) == 1


def test_a_storage_that_returns_other_bytes_is_failing() -> None:
    assert storage_status(_DictStorage(corrupt=True))["storage"] == "failing"
