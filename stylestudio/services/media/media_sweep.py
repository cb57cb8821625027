"""Stored files that no row refers to: find them, and remove them when asked.

Uploads and results delete their files when their transaction fails, but a process killed
between writing a file and committing its row cannot; this sweep is the backstop.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from itertools import islice

from sqlmodel import Session, col, select

from stylestudio.adapters.storage import MediaStorage, StoredFile
from stylestudio.models import Image, utcnow

# A file younger than this may belong to an upload or a result whose row has not committed
# yet; the grace period is what lets a sweep run beside live traffic.
DEFAULT_GRACE = timedelta(hours=1)
_BATCH = 500  # keys per IN (...) query: well under SQLite's and PostgreSQL's parameter limits


def find_orphans(
    session: Session,
    *,
    storage: MediaStorage,
    older_than: timedelta = DEFAULT_GRACE,
    now: datetime | None = None,
) -> list[StoredFile]:
    """Stored files older than `older_than` that no image refers to, as file or thumbnail.

    Sorted by key. Reads only; `sweep_orphans` deletes.
    """
    if older_than < timedelta(0):
        raise ValueError("older_than must not be negative")
    cutoff = (now or utcnow()) - older_than
    settled = (f for f in storage.list_files() if f.modified_at <= cutoff)
    orphans: list[StoredFile] = []
    for batch in _batches(settled, _BATCH):
        referenced = _referenced_keys(session, [f.key for f in batch])
        orphans.extend(f for f in batch if f.key not in referenced)
    return sorted(orphans, key=lambda f: f.key)


def sweep_orphans(
    session: Session,
    *,
    storage: MediaStorage,
    older_than: timedelta = DEFAULT_GRACE,
    now: datetime | None = None,
) -> list[StoredFile]:
    """Delete the files `find_orphans` reports; return what was deleted."""
    orphans = find_orphans(session, storage=storage, older_than=older_than, now=now)
    for orphan in orphans:
        storage.delete(orphan.key)
    return orphans


def _referenced_keys(session: Session, keys: list[str]) -> set[str]:
    """The subset of `keys` some image row holds (every column that stores a media key)."""
    as_file = session.exec(select(Image.storage_key).where(col(Image.storage_key).in_(keys)))
    as_thumbnail = session.exec(
        select(Image.thumbnail_key).where(col(Image.thumbnail_key).in_(keys))
    )
    return set(as_file) | {key for key in as_thumbnail if key is not None}


def _batches(files: Iterable[StoredFile], size: int) -> Iterator[list[StoredFile]]:
    it = iter(files)
    while batch := list(islice(it, size)):
        yield batch
