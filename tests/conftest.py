from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy.engine import Engine

from stylestudio.adapters.s3_storage import S3Storage
from stylestudio.adapters.storage import LocalStorage, MediaStorage
from stylestudio.services.accounts import accounts
from tests.support.databases import migrated_engine
from tests.support.s3 import Bucket, fake_aws_environment, moto_server, new_bucket

# Production hashes passwords with argon2id at the library's recommended cost (64 MiB, three
# passes, four lanes: about a quarter of a second of CPU per hash or check on this machine,
# and the suite signs up and in hundreds of times). Tests hash at argon2's cheapest cost
# instead; the hash is the same argon2id, only its cost parameters differ. A test marked
# `real_password_hashing` keeps the production hasher, and one of them proves that
# production's hashes carry the recommended cost.
_CHEAP_HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)
_CHEAP_DUMMY_HASH = _CHEAP_HASHER.hash("unknown-email")


@pytest.fixture(autouse=True)
def _cheap_password_hashing(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if request.node.get_closest_marker("real_password_hashing") is not None:
        return
    monkeypatch.setattr(accounts, "_hasher", _CHEAP_HASHER)
    monkeypatch.setattr(accounts, "_DUMMY_HASH", _CHEAP_DUMMY_HASH)


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
