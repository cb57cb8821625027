"""A generation's status change is announced once its transaction commits.

Every service that moves a generation between statuses (claim, retry, the one ending: worker,
webhook, cancel, sweeper) runs inside a Session; ORM changes of `Generation.status` are
noticed by a flush hook, and bulk UPDATEs call `note_status_changed`. At commit:

- on PostgreSQL, `pg_notify` runs inside the transaction (PostgreSQL delivers it only if the
  transaction commits) to every process LISTENing, whichever process committed;
- elsewhere (SQLite: one web process) the ids go to this process's subscribers after the
  commit. A separate `stylestudio worker` on SQLite is found by the watchers' fallback
  (services/generation/generation_status_feed.py).

A rolled-back transaction announces nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, col, select

from stylestudio.models import Generation

log = logging.getLogger(__name__)

CHANNEL = "stylestudio_generation_status"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; ids go in chunks well below.
_PAYLOAD_CHARS = 4000
_PENDING = "stylestudio_generation_status_changed"

# Called with the committing database's URL (as text) and the ids.
Subscriber = Callable[[str, frozenset[int]], None]
_subscribers: set[Subscriber] = set()
_subscribers_lock = threading.Lock()


def note_status_changed(session: Session, generation_ids: Iterable[int]) -> None:
    """Announce these generations' new status when `session`'s transaction commits."""
    pending: set[int] = session.info.setdefault(_PENDING, set())
    pending.update(int(i) for i in generation_ids)


def subscribe_local(subscriber: Subscriber) -> Callable[[], None]:
    """Call `subscriber(database_url, ids)` (from the committing thread) after each commit of
    this process that changed statuses, where PostgreSQL's NOTIFY is not used. Returns the
    unsubscribe."""
    with _subscribers_lock:
        _subscribers.add(subscriber)

    def unsubscribe() -> None:
        with _subscribers_lock:
            _subscribers.discard(subscriber)

    return unsubscribe


def database_key(engine: sa.Engine) -> str:
    """How a subscriber tells its database's commits from others'."""
    return engine.url.render_as_string(hide_password=False)


def publish_local(database: str, generation_ids: Iterable[int]) -> None:
    ids = frozenset(generation_ids)
    if not ids:
        return
    with _subscribers_lock:
        subscribers = list(_subscribers)
    for subscriber in subscribers:
        try:
            subscriber(database, ids)
        except Exception:  # one broken listener never fails a commit that already happened
            log.exception("a generation status subscriber failed")


def notify_payloads(generation_ids: Iterable[int]) -> list[str]:
    """The ids as NOTIFY payloads: comma-separated, each under PostgreSQL's limit."""
    payloads, current = [], ""
    for gid in sorted(set(generation_ids)):
        part = str(gid)
        if current and len(current) + 1 + len(part) > _PAYLOAD_CHARS:
            payloads.append(current)
            current = ""
        current = f"{current},{part}" if current else part
    if current:
        payloads.append(current)
    return payloads


def parse_payload(payload: str) -> frozenset[int]:
    ids = set()
    for part in payload.split(","):
        if part.strip().isdigit():
            ids.add(int(part))
    return frozenset(ids)


def statuses_of(session: Session, *, generation_ids: Iterable[int]) -> dict[int, str]:
    """The current status value of each of these generations (a missing one is left out)."""
    ids = sorted(set(generation_ids))
    found: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        rows = session.exec(
            select(Generation.id, Generation.status).where(
                col(Generation.id).in_(ids[start : start + 500])
            )
        ).all()
        for gid, status in rows:
            if gid is not None:
                found[gid] = getattr(status, "value", status)
    return found


def _is_postgresql(session: Session) -> bool:
    bind = session.get_bind()
    return bind.dialect.name == "postgresql"


@event.listens_for(Session, "after_flush")
def _notice_orm_changes(session: Session, _context: Any) -> None:
    changed = []
    for obj in session.dirty:
        if (
            isinstance(obj, Generation)
            and obj.id is not None
            and sa.inspect(obj).attrs.status.history.has_changes()
        ):
            changed.append(obj.id)
    if changed:
        note_status_changed(session, changed)


@event.listens_for(Session, "before_commit")
def _notify_in_transaction(session: Session) -> None:
    if session.in_nested_transaction() or not _is_postgresql(session):
        return  # a savepoint: the outer commit announces; SQLite: after the commit
    if session.new or session.dirty or session.deleted:
        session.flush()  # what the commit would flush may change a status
    for payload in notify_payloads(session.info.get(_PENDING, ())):
        session.execute(
            sa.text("SELECT pg_notify(:channel, :payload)"),
            {"channel": CHANNEL, "payload": payload},
        )


@event.listens_for(Session, "after_commit")
def _publish_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint's release (SQLAlchemy calls this hook for those too)
    ids: set[int] = session.info.pop(_PENDING, set())
    if ids and not _is_postgresql(session):
        publish_local(database_key(session.get_bind().engine), ids)


@event.listens_for(Session, "after_transaction_end")
def _forget_on_rollback(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
