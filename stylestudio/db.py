"""Engines and session scopes for services, workers, scripts and tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from stylestudio.settings import get_settings

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()

# SQLite only: a write transaction must take the write lock when it begins. A deferred
# transaction that reads first and writes later can fail with "database is locked" the
# moment another writer commits in between, whatever the busy timeout.
_IMMEDIATE = "stylestudio_begin_immediate"
_HOLDS_WRITE_QUEUE = "stylestudio_holds_write_queue"
_SQLITE_MMAP_BYTES = 2 * 1024**3  # address space, not memory (SQLite caps it just under 2 GiB)
# As long as SQLite's own busy timeout: past it, a writer fails instead of waiting forever.
_WRITE_QUEUE_TIMEOUT_S = 60


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_db_engine(url: str, *, ping_after_idle_s: float = 5.0) -> Engine:
    """A new engine for `url`, configured for many threads on SQLite or PostgreSQL.

    PostgreSQL connections idle in the pool for `ping_after_idle_s` are pinged before use.
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not url.startswith("sqlite"):
        engine = sa.create_engine(url, pool_size=10, max_overflow=20)
        _ping_when_idle(engine, ping_after_idle_s)
        return engine

    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 60},
        pool_size=20,
        max_overflow=50,
        pool_timeout=60,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (the driver's implicit BEGIN cannot be IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Reads through a memory map share the OS page cache across all pooled connections
        # instead of copying pages into each connection's own small cache: a gallery page of
        # a user not read lately costs page faults, not reads and copies.
        cursor.execute(f"PRAGMA mmap_size={_SQLITE_MMAP_BYTES}")
        cursor.close()

    # Writers of this process queue on a lock of ours before they ask SQLite for its write
    # lock. SQLite's own busy handler polls with sleeps that grow to 100 ms, so under a burst
    # (20 sign-ins finishing argon2 at once) a spend waited hundreds of ms for a lock that
    # was free most of that time; a queue hands the lock over the moment it is released.
    # Other processes (a separate `stylestudio worker`) still meet the busy handler.
    write_queue = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if not conn.get_execution_options().get(_IMMEDIATE, False):
            conn.exec_driver_sql("BEGIN")
            return
        if not write_queue.acquire(timeout=_WRITE_QUEUE_TIMEOUT_S):
            raise sa.exc.OperationalError(
                "BEGIN IMMEDIATE", {}, TimeoutError("waited too long for the write lock")
            )
        conn.info[_HOLDS_WRITE_QUEUE] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn.info)
            raise

    def _release(info: dict[Any, Any]) -> None:
        if info.pop(_HOLDS_WRITE_QUEUE, False):
            write_queue.release()

    # Released as COMMIT/ROLLBACK is issued: the next writer may meet SQLite's lock for the
    # well under a millisecond the COMMIT takes, which costs it the busy handler's first
    # 1 ms sleep at most.
    @event.listens_for(engine, "commit")
    def _on_commit(conn: sa.Connection) -> None:
        _release(conn.info)

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn: sa.Connection) -> None:
        _release(conn.info)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        _release(record.info)  # a connection never goes back to the pool holding the queue

    return engine


_CHECKED_IN_AT = "stylestudio_checked_in_at"


def _ping_when_idle(engine: Engine, after_s: float) -> None:
    """Pessimistic disconnect handling without a round trip per checkout: SQLAlchemy's
    `pool_pre_ping` pings every time, which was one of a gallery page's two round trips on
    PostgreSQL. A connection back from the pool within seconds was just working; one that
    sat idle (a server restart, a proxy's idle timeout) is pinged, and a dead one is
    replaced (the pool retries a checkout that raises DisconnectionError). A connection that
    dies in use is invalidated by SQLAlchemy and the whole pool with it."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.get(_CHECKED_IN_AT)
        if checked_in is None or time.monotonic() - checked_in < after_s:
            return  # brand new, or just used
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            if not dbapi_connection.autocommit:
                dbapi_connection.rollback()  # end the ping's implicit transaction
        except Exception as exc:
            raise sa.exc.DisconnectionError() from exc


def get_engine(url: str | None = None) -> Engine:
    """The shared engine for `url` (default: the configured database)."""
    url = url or get_settings().effective_database_url
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = create_db_engine(url)
        return engine


def dispose_engines() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


_READ_ONLY = "stylestudio_read_only"


@event.listens_for(Session, "before_flush")
def _refuse_writes(session: Session, _context: Any, _instances: Any) -> None:
    """A read session (`write=False`) must not write: on PostgreSQL each statement of it
    would commit on its own."""
    if session.info.get(_READ_ONLY) and (session.new or session.dirty or session.deleted):
        raise RuntimeError("a read-only session (write=False) cannot write; use write=True")


_Compiled = tuple[str, tuple[str, ...], dict[str, Any]]
_COMPILED: dict[tuple[int, str], _Compiled] = {}


def compiled_for(stmt: sa.ClauseElement, dialect: sa.Dialect) -> _Compiled:
    """`stmt` as this database's SQL, compiled once: the text, the order of positional
    parameters (SQLite's qmark style; empty for named styles), and the values of the
    parameters the statement fixes itself (enums as their text). `stmt` must live as long as
    the process (a module-level or cached statement)."""
    key = (id(stmt), dialect.name)
    found = _COMPILED.get(key)
    if found is None:
        compiled = stmt.compile(dialect=dialect)
        assert isinstance(compiled, sa.sql.compiler.SQLCompiler)
        fixed = {
            k: v.value if isinstance(v, Enum) else v
            for k, v in (compiled.construct_params(_check=False) or {}).items()
            if v is not None
        }
        found = _COMPILED[key] = (compiled.string, tuple(compiled.positiontup or ()), fixed)
    return found


def fetch_prebuilt(
    session: Session, stmt: sa.ClauseElement, values: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """The rows of a prebuilt statement, through the driver's own cursor: no per-call cache
    key of the statement and no result processing (values come as the driver returns them:
    SQLite gives datetimes as text). For hot read paths whose statements are built once."""
    connection = session.connection()
    sql, order, fixed = compiled_for(stmt, connection.dialect)
    params = {**fixed, **values}
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, tuple(params[k] for k in order) if order else params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def write_prebuilt(
    session: Session, stmt: sa.ClauseElement, values: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """`fetch_prebuilt` for a prebuilt write: the session's pending objects are flushed first
    (a row written here may refer to them), and a read-only session refuses, as a flush
    would (see _refuse_writes). Objects of the session do not see what the statement
    changed: the caller refreshes those it keeps."""
    if session.info.get(_READ_ONLY):
        raise RuntimeError("a read-only session (write=False) cannot write; use write=True")
    session.flush()
    return fetch_prebuilt(session, stmt, values)


@contextmanager
def session_scope(engine: Engine | None = None, *, write: bool = True) -> Iterator[Session]:
    """A session committed on success and rolled back on error.

    `write=True` (the default) takes SQLite's write lock up front; pass `write=False` for
    read-only work so readers never queue behind writers.
    """
    engine = engine or get_engine()
    bind: Engine
    if write:
        bind = engine.execution_options(**{_IMMEDIATE: True})
    elif is_sqlite(engine):
        bind = engine  # a read transaction: one snapshot for all its statements
    else:
        # PostgreSQL reads run in autocommit: under READ COMMITTED (the default) each
        # statement sees its own snapshot anyway, and BEGIN and COMMIT were two of a gallery
        # page's round trips. Writes in such a session are refused (see _refuse_writes).
        bind = engine.execution_options(isolation_level="AUTOCOMMIT")
    session = Session(bind=bind, expire_on_commit=False, info={_READ_ONLY: not write})
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
