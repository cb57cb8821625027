"""Session scopes and the connection pool, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from stylestudio.db import create_db_engine, session_scope
from stylestudio.models import User
from tests.support.databases import POSTGRES_ADMIN_URL, empty_database, migrate, migrated_engine


def _backend_pid(engine: Engine) -> int:
    with session_scope(engine, write=False) as session:
        return int(session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(pid: int) -> None:
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.dispose()


def test_a_read_session_refuses_to_write(db: Engine) -> None:
    with pytest.raises(RuntimeError, match="read-only"), session_scope(db, write=False) as session:
        session.add(User(email="reader@example.com", name="Reader"))
        session.flush()
    with session_scope(db, write=False) as session:
        found = session.execute(
            sa.select(sa.func.count()).where(col(User.email) == "reader@example.com")
        ).scalar_one()
    assert found == 0


def test_a_read_session_sees_what_committed_before_it(db: Engine) -> None:
    with session_scope(db) as session:
        session.add(User(email="writer@example.com", name="Writer"))
    with session_scope(db, write=False) as session:
        names = session.execute(
            sa.select(col(User.name)).where(col(User.email) == "writer@example.com")
        ).all()
    assert [n for (n,) in names] == ["Writer"]


def test_postgresql_reads_take_one_round_trip(tmp_path: Path) -> None:
    """No BEGIN, no COMMIT and no ping around a read on a connection just used."""
    with migrated_engine("postgresql", tmp_path) as db:
        with session_scope(db, write=False) as session:  # warm the pool
            session.execute(sa.text("SELECT 1")).all()
        sent: list[str] = []

        def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            sent.append(statement)

        sa.event.listen(db, "before_cursor_execute", record)
        try:
            with session_scope(db, write=False) as session:
                session.execute(sa.text("SELECT 42")).all()
                # psycopg sends BEGIN itself, outside SQLAlchemy's events: autocommit, none.
                driver = session.connection().connection.driver_connection
                assert driver is not None and driver.autocommit
        finally:
            sa.event.remove(db, "before_cursor_execute", record)
        assert sent == ["SELECT 42"]
        with session_scope(db) as session:  # writes still run in a transaction
            driver = session.connection().connection.driver_connection
            assert driver is not None and not driver.autocommit


@pytest.mark.parametrize("ping_after_idle_s", [0.0, 3600.0])
def test_a_connection_killed_while_idle_in_the_pool(
    tmp_path: Path, ping_after_idle_s: float
) -> None:
    """The server ends an idle connection (a restart, a proxy's timeout). Pinged after
    idling, the next read gets a fresh connection; without the ping, that read fails once
    and the pool recovers for the one after."""
    with empty_database("postgresql", tmp_path) as url:
        migrate(url)
        engine = create_db_engine(url, ping_after_idle_s=ping_after_idle_s)
        try:
            pid = _backend_pid(engine)
            _terminate(pid)
            if ping_after_idle_s == 0.0:
                assert _backend_pid(engine) != pid
            else:
                with pytest.raises(sa.exc.OperationalError):
                    _backend_pid(engine)
                assert _backend_pid(engine) != pid
        finally:
            engine.dispose()
