from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from stylestudio.adapters.s3_storage import S3Storage
from stylestudio.adapters.storage import LocalStorage, MediaStorage
from tests.support.databases import migrated_engine
from tests.support.s3 import Bucket, fake_aws_environment, moto_server, new_bucket


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A freshly migrated database, once on SQLite and once on PostgreSQL."""
    with migrated_engine(request.param, tmp_path) as engine:
        yield engine


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine("sqlite", tmp_path) as engine:
        yield engine


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto S3 server per test process (each test gets its own bucket)."""
    with moto_server() as endpoint_url:
        yield endpoint_url


@pytest.fixture
def s3_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A fresh private bucket on the moto server; boto3's chain finds fake keys."""
    fake_aws_environment(monkeypatch)
    return new_bucket(moto_endpoint)


@pytest.fixture
def s3_storage(s3_bucket: Bucket) -> S3Storage:
    return s3_bucket.storage()


@pytest.fixture(params=["local", "s3"])
def any_storage(request: pytest.FixtureRequest, tmp_path: Path) -> MediaStorage:
    """The local folder, then an S3 bucket: what both must do alike."""
    if request.param == "local":
        return LocalStorage(tmp_path / "media")
    storage: S3Storage = request.getfixturevalue("s3_storage")
    return storage
