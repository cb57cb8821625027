"""What every media storage does alike — local files and an S3 bucket (moto's server, spoken
to by boto3 over HTTP) — and what only the bucket must also get right: its prefix, its
paging, its privacy and its errors."""

from __future__ import annotations

import io
import logging
import re
import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from stylestudio import log_redaction
from stylestudio.adapters.s3_storage import S3Storage, normalize_prefix, s3_client
from stylestudio.adapters.storage import MediaStorage, StorageError, StoredFile
from tests.support.s3 import FAKE_CREDENTIALS, REGION, Bucket

KEY = "product/7/0123456789abcdef.jpg"
THUMB = "product/7/0123456789abcdef.thumb.jpg"
OUTSIDE = [
    "",
    ".",
    "..",
    "../outside.jpg",
    "product/../../outside.jpg",
    "/etc/passwd",
]


def _keys(storage: MediaStorage) -> set[str]:
    return {f.key for f in storage.list_files()}


def test_put_get_exists_delete(any_storage: MediaStorage) -> None:
    assert not any_storage.exists(KEY)
    any_storage.put(KEY, b"first", content_type="image/jpeg")
    assert any_storage.exists(KEY)
    assert any_storage.get(KEY) == b"first"
    any_storage.put(KEY, b"second, longer", content_type="image/jpeg")  # replaces it
    assert any_storage.get(KEY) == b"second, longer"

    any_storage.delete(KEY)
    assert not any_storage.exists(KEY)
    any_storage.delete(KEY)  # deleting what is gone is no error (cleanup may run twice)


def test_a_missing_key_is_a_storage_error(any_storage: MediaStorage) -> None:
    with pytest.raises(StorageError, match="no such media"):
        any_storage.get(KEY)
    with pytest.raises(StorageError, match="no such media"):
        any_storage.open(KEY)


def test_open_streams_the_bytes_with_validators(any_storage: MediaStorage) -> None:
    data = bytes(range(256)) * 700  # 175 KB: several chunks
    any_storage.put(KEY, data, content_type="image/jpeg")
    opened = any_storage.open(KEY)
    chunks = list(opened.chunks)
    assert b"".join(chunks) == data and len(chunks) > 1
    assert opened.size_bytes == len(data)
    assert opened.etag.startswith('"') and opened.etag.endswith('"')
    assert abs(opened.modified_at - datetime.now(UTC)) < timedelta(minutes=1)

    again = any_storage.open(KEY)
    assert again.etag == opened.etag  # same bytes, same validator
    again.close()  # released without reading
    any_storage.put(KEY, data + b"!", content_type="image/jpeg")
    changed = any_storage.open(KEY)
    changed.close()
    assert changed.etag != opened.etag or changed.size_bytes != opened.size_bytes


def test_list_files_reports_key_size_and_time(any_storage: MediaStorage) -> None:
    assert list(any_storage.list_files()) == []
    any_storage.put(KEY, b"12345", content_type="image/jpeg")
    any_storage.put(THUMB, b"123", content_type="image/jpeg")
    any_storage.put("generated/9/x.png", b"", content_type="image/png")
    listed = sorted(any_storage.list_files(), key=lambda f: f.key)
    assert [(f.key, f.size_bytes) for f in listed] == [
        ("generated/9/x.png", 0),
        (KEY, 5),
        (THUMB, 3),
    ]
    for f in listed:
        assert f.modified_at.tzinfo is not None
        assert abs(f.modified_at - datetime.now(UTC)) < timedelta(minutes=1)
    any_storage.delete(THUMB)
    assert _keys(any_storage) == {"generated/9/x.png", KEY}


@pytest.mark.parametrize("key", OUTSIDE)
def test_keys_outside_the_store_are_refused(any_storage: MediaStorage, key: str) -> None:
    with pytest.raises(StorageError, match="invalid storage key"):
        any_storage.put(key, b"x", content_type="image/jpeg")
    for call in (any_storage.get, any_storage.open, any_storage.delete, any_storage.exists):
        with pytest.raises(StorageError, match="invalid storage key"):
            call(key)
    assert list(any_storage.list_files()) == []


# --------------------------------------------------------------------------- S3 only


def test_objects_live_under_the_prefix_and_nothing_else_is_touched(s3_bucket: Bucket) -> None:
    raw = s3_client(endpoint_url=s3_bucket.endpoint_url, region=REGION)
    ours, neighbour = s3_bucket.storage("media"), s3_bucket.storage("other/")
    raw.put_object(Bucket=s3_bucket.name, Key="stray.jpg", Body=b"not ours")
    raw.put_object(Bucket=s3_bucket.name, Key="media-old/x.jpg", Body=b"not ours either")
    raw.put_object(Bucket=s3_bucket.name, Key="media/folder/", Body=b"")  # a console's marker
    ours.put(KEY, b"mine", content_type="image/jpeg")
    neighbour.put(KEY, b"theirs", content_type="image/jpeg")

    head = raw.head_object(Bucket=s3_bucket.name, Key=f"media/{KEY}")
    assert head["ContentType"] == "image/jpeg" and head["ContentLength"] == 4
    assert _keys(ours) == {KEY}  # not the neighbour's, not the stray, not the marker
    assert ours.get(KEY) == b"mine" and neighbour.get(KEY) == b"theirs"
    with pytest.raises(StorageError):
        ours.get(f"../other/{KEY}")
    ours.delete(KEY)
    assert neighbour.get(KEY) == b"theirs"
    listed = {o["Key"] for o in raw.list_objects_v2(Bucket=s3_bucket.name)["Contents"]}
    assert listed == {"stray.jpg", "media-old/x.jpg", "media/folder/", f"other/{KEY}"}


def test_the_prefix_is_normalised() -> None:
    assert normalize_prefix("") == normalize_prefix("/") == ""
    assert normalize_prefix("media") == normalize_prefix("/media/") == "media/"
    assert normalize_prefix("a//b/") == "a/b/"
    for bad in ("../x", "a/./b"):
        with pytest.raises(ValueError):
            normalize_prefix(bad)


def test_the_listing_follows_every_page(s3_bucket: Bucket) -> None:
    """ListObjectsV2 answers at most MaxKeys objects a page; the listing asks for the next
    page until there is none (a small page size stands for S3's 1000)."""
    storage = s3_bucket.storage()
    requests: list[dict[str, object]] = []
    storage.client.meta.events.register(
        "before-call.s3.ListObjectsV2", lambda params, **_: requests.append(params)
    )
    keys = {f"generated/1/{n:02d}.jpg" for n in range(7)}
    for key in keys:
        storage.put(key, b"x", content_type="image/jpeg")
    storage.list_page_size = 3
    files = list(storage.list_files())
    assert {f.key for f in files} == keys and len(files) == 7  # each once
    assert len(requests) == 3  # 3 + 3 + 1


def test_a_stranger_cannot_read_an_object(s3_bucket: Bucket) -> None:
    """The bucket is private: the object's own address, without a signature, is refused."""
    storage = s3_bucket.storage()
    storage.put(KEY, b"private", content_type="image/jpeg")
    direct = f"{s3_bucket.endpoint_url}/{s3_bucket.name}/media/{KEY}"
    answer = httpx.get(direct)
    assert answer.status_code == 403 and b"private" not in answer.content
    assert storage.get(KEY) == b"private"  # control: with the app's credentials it is there


def test_a_bucket_that_is_not_there_is_a_storage_error(
    moto_endpoint: str, s3_bucket: Bucket
) -> None:
    storage = S3Storage(
        client=s3_client(endpoint_url=moto_endpoint, region=REGION), bucket="no-such-bucket-here"
    )
    with pytest.raises(StorageError, match="S3 answered NoSuchBucket"):
        storage.put(KEY, b"x", content_type="image/jpeg")
    with pytest.raises(StorageError):
        list(storage.list_files())


def test_an_unreachable_endpoint_is_a_storage_error(s3_bucket: Bucket) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = s3_client(endpoint_url=f"http://127.0.0.1:{port}", region=REGION, max_attempts=1)
    storage = S3Storage(client=client, bucket=s3_bucket.name)
    with pytest.raises(StorageError, match="EndpointConnectionError") as caught:
        storage.get(KEY)
    assert caught.value.__cause__ is None and str(port) not in str(caught.value)


def test_the_stored_file_is_what_list_reports(s3_storage: S3Storage) -> None:
    s3_storage.put(KEY, b"abc", content_type="image/jpeg")
    (listed,) = s3_storage.list_files()
    assert isinstance(listed, StoredFile)
    assert listed.modified_at.utcoffset() == timedelta(0)


def test_boto3s_debug_log_names_no_credential(
    s3_bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even with botocore logging every request at DEBUG, the redacted log holds neither the
    secret key, nor the access key id, nor a request's signature."""
    monkeypatch.setattr(log_redaction, "_installed", False)
    previous = logging.getLogRecordFactory()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    botocore_log = logging.getLogger("botocore")
    old_level = botocore_log.level
    try:
        log_redaction.install()
        botocore_log.addHandler(handler)
        botocore_log.setLevel(logging.DEBUG)
        storage = S3Storage(
            client=s3_client(endpoint_url=s3_bucket.endpoint_url, region=REGION),
            bucket=s3_bucket.name,
        )
        storage.put(KEY, b"x", content_type="image/jpeg")
        assert storage.get(KEY) == b"x"
    finally:
        botocore_log.removeHandler(handler)
        botocore_log.setLevel(old_level)
        logging.setLogRecordFactory(previous)
    text = out.getvalue()
    assert "Signature=" in text or "signature" in text.lower()  # it did log the requests
    for secret in FAKE_CREDENTIALS.values():
        assert secret not in text
    assert not re.search(r"Signature=[0-9a-f]{64}", text)
