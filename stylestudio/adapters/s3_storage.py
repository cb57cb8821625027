"""Media in an S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, ...) through boto3.

Credentials come from boto3's own chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
AWS_SESSION_TOKEN, AWS_PROFILE, an instance or task role); this module never reads, holds
or prints them. Every key lives under one prefix of one private bucket: a key that would
leave the prefix (`..`, a leading `/`, an empty segment) is refused before any request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal

from stylestudio.adapters.storage import (
    CHUNK_BYTES,
    OpenedFile,
    StorageError,
    StorageUnavailable,
    StoredFile,
)

S3Client = Any  # boto3's client class is generated at run time

AddressingStyle = Literal["auto", "path", "virtual"]
MAX_KEY_BYTES = 1024  # S3's limit for a whole object key, prefix included
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


def s3_client(
    *,
    endpoint_url: str = "",
    region: str = "",
    addressing_style: AddressingStyle = "auto",
    max_connections: int = 32,
    max_attempts: int = 4,
) -> S3Client:
    """A boto3 S3 client (thread-safe; make one per process). An empty `endpoint_url` is
    AWS; an empty `region` is boto3's (AWS_REGION, AWS_DEFAULT_REGION, the profile)."""
    import boto3
    from botocore.config import Config

    if addressing_style == "auto" and endpoint_url:
        # MinIO and most self-hosted stores answer on one host name, not bucket.host.
        addressing_style = "path"
    config = Config(
        connect_timeout=5,
        read_timeout=30,
        retries={"mode": "standard", "max_attempts": max_attempts},
        max_pool_connections=max_connections,
        s3={"addressing_style": addressing_style},
        # Checksums only where S3 requires them: several S3-compatible stores refuse the
        # default CRC32 trailers of recent boto3.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url or None, region_name=region or None, config=config
    )


def normalize_prefix(prefix: str) -> str:
    """`media`, `/media/` and `media/` are the same prefix, `media/`; "" is the bucket."""
    parts = [p for p in prefix.strip().split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise ValueError(f"invalid S3 prefix: {prefix!r}")
    return "/".join(parts) + "/" if parts else ""


class S3Storage:
    """Objects under `prefix` in `bucket`; every call is one S3 request (a listing, one per
    1000 objects). Errors of the store, the network or the credentials are StorageError."""

    def __init__(self, *, client: S3Client, bucket: str, prefix: str = "") -> None:
        if not bucket:
            raise ValueError("an S3 bucket is required (STYLESTUDIO_S3_BUCKET)")
        self.client = client
        self.bucket = bucket
        self.prefix = normalize_prefix(prefix)
        self.list_page_size = 1000  # S3's largest ListObjectsV2 page

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def _object_key(self, key: str) -> str:
        parts = key.split("/")
        if (
            not key
            or any(p in ("", ".", "..") for p in parts)
            or any(ord(c) < 32 or c in "\x7f\\" for c in key)
            or len((self.prefix + key).encode()) > MAX_KEY_BYTES
        ):
            raise StorageError(f"invalid storage key: {key!r}")
        return self.prefix + key

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        name = self._object_key(key)
        with _store_errors(key, "store"):
            self.client.put_object(
                Bucket=self.bucket, Key=name, Body=data, ContentType=content_type
            )

    def get(self, key: str) -> bytes:
        opened = self.open(key)
        try:
            return b"".join(opened.chunks)
        finally:
            opened.close()

    def open(self, key: str) -> OpenedFile:
        name = self._object_key(key)
        with _store_errors(key, "read"):
            answer = self.client.get_object(Bucket=self.bucket, Key=name)
        body = answer["Body"]
        modified: datetime = answer["LastModified"]
        return OpenedFile(
            size_bytes=int(answer["ContentLength"]),
            etag=answer["ETag"],
            modified_at=modified.astimezone(UTC),
            chunks=_body_chunks(body, key),
            close=body.close,
        )

    def delete(self, key: str) -> None:
        name = self._object_key(key)
        with _store_errors(key, "delete"):
            self.client.delete_object(Bucket=self.bucket, Key=name)  # no error when missing

    def exists(self, key: str) -> bool:
        name = self._object_key(key)
        try:
            with _store_errors(key, "look up"):
                self.client.head_object(Bucket=self.bucket, Key=name)
        except _Missing:
            return False
        return True

    def list_files(self) -> Iterator[StoredFile]:
        """Every object under the prefix, 1000 per ListObjectsV2 page. S3 writes an object
        whole or not at all, so nothing half-written is listed. Folder markers (`x/`, as
        some consoles create) are not media and are left out."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket,
            Prefix=self.prefix,
            PaginationConfig={"PageSize": self.list_page_size},
        )
        with _store_errors(self.prefix or "/", "list"):
            for page in pages:
                for item in page.get("Contents", ()):
                    name: str = item["Key"]
                    key = name[len(self.prefix) :]
                    if not name.startswith(self.prefix) or not key or key.endswith("/"):
                        continue
                    modified: datetime = item["LastModified"]
                    yield StoredFile(
                        key=key,
                        size_bytes=int(item["Size"]),
                        modified_at=modified.astimezone(UTC),
                    )


class _Missing(StorageError):
    pass


@contextmanager
def _store_errors(key: str, verb: str) -> Iterator[None]:
    """Turns boto3's errors into StorageError: a missing object is `no such media`, any
    other failure StorageUnavailable."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            raise _Missing(f"no such media: {key}") from None
        raise StorageUnavailable(f"could not {verb} {key}: S3 answered {code}") from None
    except BotoCoreError as exc:
        # The class name says enough (EndpointConnectionError, NoCredentialsError, ...);
        # the message could carry the endpoint's address.
        raise StorageUnavailable(f"could not {verb} {key}: {type(exc).__name__}") from None


def _body_chunks(body: Any, key: str) -> Iterator[bytes]:
    try:
        with _store_errors(key, "read"):
            yield from body.iter_chunks(CHUNK_BYTES)
    finally:
        body.close()
