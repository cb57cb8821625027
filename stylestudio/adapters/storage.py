"""Where media bytes live. Local files now; an S3-compatible store later, same protocol."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

_TEMP_PREFIX = ".tmp-"


class StorageError(Exception):
    pass


@dataclass(frozen=True)
class StoredFile:
    """One stored object, as a listing reports it (S3's Key, Size and LastModified)."""

    key: str
    size_bytes: int
    modified_at: datetime  # timezone-aware UTC


class MediaStorage(Protocol):
    def put(self, key: str, data: bytes, *, content_type: str) -> None: ...
    def get(self, key: str) -> bytes: ...
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
        """The file behind `key` (local storage only; the media route streams it)."""
        return self._path(key)
