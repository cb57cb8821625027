"""Which storage the app builds, by configuration alone (no request is sent here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from stylestudio import runtime
from stylestudio.adapters.s3_storage import S3Storage
from stylestudio.adapters.storage import LocalStorage
from stylestudio.settings import Settings, get_settings
from tests.support.s3 import fake_aws_environment


def _settings(**env: str) -> Settings:
    values: dict[str, Any] = {"_env_file": None, **env}
    return Settings(**values)


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    fake_aws_environment(monkeypatch)
    for name in ("STYLESTUDIO_STORAGE", "STYLESTUDIO_S3_BUCKET", "STYLESTUDIO_S3_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    runtime.reset()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()
    runtime.reset()


def test_local_files_by_default(configured: pytest.MonkeyPatch, tmp_path: Any) -> None:
    configured.setenv("STYLESTUDIO_DATA_DIR", str(tmp_path))
    storage = runtime.get_storage()
    assert isinstance(storage, LocalStorage) and storage.root == (tmp_path / "media").resolve()


def test_s3_needs_a_bucket_and_a_real_endpoint() -> None:
    with pytest.raises(ValidationError, match="needs STYLESTUDIO_S3_BUCKET"):
        _settings(STYLESTUDIO_STORAGE="s3")
    with pytest.raises(ValidationError, match="STYLESTUDIO_S3_ENDPOINT_URL must look like"):
        _settings(STYLESTUDIO_S3_ENDPOINT_URL="minio:9000")
    with pytest.raises(ValidationError):
        _settings(STYLESTUDIO_STORAGE="gcs")


def test_s3_is_built_from_the_settings(configured: pytest.MonkeyPatch) -> None:
    configured.setenv("STYLESTUDIO_STORAGE", "s3")
    configured.setenv("STYLESTUDIO_S3_BUCKET", " shop-media ")
    configured.setenv("STYLESTUDIO_S3_PREFIX", "/studio/media")
    configured.setenv("STYLESTUDIO_S3_ENDPOINT_URL", "http://minio.internal:9000")
    configured.setenv("STYLESTUDIO_S3_REGION", "eu-central-1")
    storage = runtime.get_storage()
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix) == ("shop-media", "studio/media/")
    meta = storage.client.meta
    assert meta.endpoint_url == "http://minio.internal:9000"
    assert meta.region_name == "eu-central-1"
    assert meta.config.s3["addressing_style"] == "path"  # MinIO answers on one host name
    assert runtime.get_storage() is storage  # one client per process
    assert "secret" not in repr(storage).lower()


def test_aws_keeps_virtual_hosted_addresses(configured: pytest.MonkeyPatch) -> None:
    configured.setenv("STYLESTUDIO_STORAGE", "s3")
    configured.setenv("STYLESTUDIO_S3_BUCKET", "shop-media")
    configured.setenv("STYLESTUDIO_S3_REGION", "us-west-2")
    storage = runtime.get_storage()
    assert isinstance(storage, S3Storage)
    assert storage.client.meta.config.s3["addressing_style"] == "auto"
    assert storage.client.meta.endpoint_url == "https://s3.us-west-2.amazonaws.com"
