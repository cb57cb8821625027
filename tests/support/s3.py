"""A real S3 endpoint for tests: moto's server mode (`ThreadedMotoServer`) on a free port,
spoken to by the real boto3 client over HTTP, with fake credentials in boto3's own chain."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pytest

from stylestudio.adapters.s3_storage import S3Storage, s3_client

REGION = "eu-west-1"
# What boto3's chain finds in the environment; moto accepts any key pair.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIATESTSTYLESTUDIO1",
    "AWS_SECRET_ACCESS_KEY": "moto-test-secret-access-key-never-real",
}


@contextmanager
def moto_server() -> Iterator[str]:
    """Start a moto S3 server on a free port; yield its endpoint URL."""
    from moto.server import ThreadedMotoServer

    # Its request lines (werkzeug's) would bury a failing test's own log.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass(frozen=True)
class Bucket:
    endpoint_url: str
    name: str
    prefix: str = "media/"

    def storage(self, prefix: str | None = None) -> S3Storage:
        """The app's adapter on this bucket, built as runtime.get_storage builds it."""
        return S3Storage(
            client=client_for(self.endpoint_url),
            bucket=self.name,
            prefix=self.prefix if prefix is None else prefix,
        )

    def env(self) -> dict[str, str]:
        """The settings that point the app at this bucket."""
        return {
            "STYLESTUDIO_STORAGE": "s3",
            "STYLESTUDIO_S3_BUCKET": self.name,
            "STYLESTUDIO_S3_PREFIX": self.prefix,
            "STYLESTUDIO_S3_ENDPOINT_URL": self.endpoint_url,
            "STYLESTUDIO_S3_REGION": REGION,
        }


def fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake keys in boto3's chain, and nothing else it could find (no profile, no
    instance metadata), so a test never reaches a real account."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def new_bucket(endpoint_url: str) -> Bucket:
    """A fresh private bucket (one per test: nothing is shared between tests)."""
    name = f"stylestudio-test-{uuid.uuid4().hex[:20]}"
    client_for(endpoint_url).create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return Bucket(endpoint_url=endpoint_url, name=name)


@lru_cache
def client_for(endpoint_url: str) -> Any:
    """One client per endpoint, made by the app's own `s3_client` (a client is thread-safe;
    making one loads boto3's service model, which takes a while)."""
    return s3_client(endpoint_url=endpoint_url, region=REGION)
