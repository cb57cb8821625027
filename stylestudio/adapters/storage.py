"""Where media bytes live: the protocol, and local files under a folder. The S3-compatible
store (`s3_storage`) implements the same protocol."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

_TEMP_PREFIX = ".tmp-"
CHUNK_BYTES = 64 * 1024


class StorageError(Exception):
    """A key that is not one (outside the store), a missing object, or a store that did not
    answer; the message names the key, never a credential."""


class StorageUnavailable(StorageError):
    """The store did not answer as it should (network, throttling, credentials, a missing
    bucket): the object may well be there, so the work is worth trying again later."""


@dataclass(frozen=True)
class StoredFile:
    """One stored object, as a listing reports it (S3's Key, Size and LastModified)."""

    key: str
    size_bytes: int
    modified_at: datetime  # timezone-aware UTC


@dataclass(frozen=True)
class OpenedFile:
    """One stored object opened for reading: its size and validators, then its bytes in
    chunks (read once). `close` releases it when the chunks are not read to the end."""

    size_bytes: int
    etag: str  # quoted, as HTTP's ETag header carries it
    modified_at: datetime  # timezone-aware UTC
    chunks: Iterator[bytes]
    close: Callable[[], None]


class MediaStorage(Protocol):
    def put(self, key: str, data: bytes, *, content_type: str) -> None: ...
    def get(self, key: str) -> bytes: ...
    def open(self, key: str) -> OpenedFile:
        """The object for streaming (the media routes); StorageError if there is none."""
        ...

    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def list_files(self) -> Iterator[StoredFile]:
        """Every stored object, in no particular order; half-written ones are left out."""
        ...


class LocalStorage:
    """Files under a root folder; writes are atomic (temp file, then rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise StorageError(f"invalid storage key: {key!r}")
        return path

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StorageError(f"no such media: {key}") from None

    def open(self, key: str) -> OpenedFile:
        path = self._path(key)
        try:
            if not path.is_file():  # not a folder, nor a FIFO that would block the open
                raise FileNotFoundError(key)
            file = path.open("rb")
        except OSError:
            raise StorageError(f"no such media: {key}") from None
        info = os.fstat(file.fileno())
        # Starlette's FileResponse validator (mtime and size), so caches stay valid.
        tag = hashlib.md5(f"{info.st_mtime}-{info.st_size}".encode(), usedforsecurity=False)
        return OpenedFile(
            size_bytes=info.st_size,
            etag=f'"{tag.hexdigest()}"',
            modified_at=datetime.fromtimestamp(info.st_mtime, tz=UTC),
            chunks=_read_chunks(file),
            close=file.close,
        )

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_files(self) -> Iterator[StoredFile]:
        if not self.root.is_dir():
            return
        for dirpath, _dirnames, filenames in os.walk(self.root):
            for name in filenames:
                if name.startswith(_TEMP_PREFIX):  # a put() in progress, not a stored file yet
                    continue
                path = Path(dirpath) / name
                try:
                    info = path.lstat()
                except FileNotFoundError:  # deleted while we walked
                    continue
                if not stat.S_ISREG(info.st_mode):  # put() writes regular files only
                    continue
                yield StoredFile(
                    key=path.relative_to(self.root).as_posix(),
                    size_bytes=info.st_size,
                    modified_at=datetime.fromtimestamp(info.st_mtime, tz=UTC),
                )

    def path_of(self, key: str) -> Path:
        """The file behind `key` (local storage only)."""
        return self._path(key)


def _read_chunks(file: BinaryIO) -> Iterator[bytes]:
    with file:
        while chunk := file.read(CHUNK_BYTES):
            yield chunk
