"""Fresh, migrated databases for tests: a SQLite file or a new PostgreSQL database."""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from stylestudio.db import create_db_engine

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_ADMIN_URL = os.environ.get(
    "STYLESTUDIO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["configure_logger"] = False
    return cfg


def migrate(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


def postgres_available() -> bool:
    try:
        engine = sa.create_engine(POSTGRES_ADMIN_URL)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def require_postgres() -> None:
    """Skip without PostgreSQL locally; under CI a missing server is a failure."""
    if postgres_available():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("PostgreSQL is required under CI=true but is not reachable")
    pytest.skip("PostgreSQL not reachable")


@contextmanager
def empty_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database of `kind` ("sqlite" or "postgresql"), dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / f'test-{uuid.uuid4().hex[:8]}.db'}"
        return
    require_postgres()
    name = f"ss_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


# One migrated database per kind and test process, cloned for every test: running every
# migration anew cost 1-5 s per test on this machine, a clone well under one.
_TEMPLATES: dict[str, str] = {}
# Chosen at import: a test that points `tempfile` elsewhere (to watch what an upload spools)
# must not find the template there when its own test happens to be the first to need one.
_TEMPLATE_PARENT = tempfile.gettempdir()


def _template(kind: str) -> str:
    """The migrated template of `kind`: a SQLite file's path, or a PostgreSQL database name."""
    if kind in _TEMPLATES:
        return _TEMPLATES[kind]
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="ss-template-", dir=_TEMPLATE_PARENT))
        atexit.register(shutil.rmtree, folder, True)
        path = folder / "template.db"
        migrate(f"sqlite:///{path}")
        with sqlite3.connect(path) as raw:  # everything in the main file, nothing in a WAL
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _TEMPLATES[kind] = str(path)
        return str(path)
    require_postgres()
    name = f"ss_template_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with _admin() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    atexit.register(_drop, name)
    migrate(POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    _TEMPLATES[kind] = name
    return name


@contextmanager
def _admin() -> Iterator[sa.Connection]:
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            yield conn
    finally:
        admin.dispose()


def _drop(name: str) -> None:
    with _admin() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def migrated_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a new database of `kind` at the migrations' head (a clone), dropped after."""
    template = _template(kind)
    if kind == "sqlite":
        path = tmp_path / f"test-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    name = f"ss_test_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        _drop(name)


@contextmanager
def migrated_engine(kind: str, tmp_path: Path) -> Iterator[Engine]:
    with migrated_database(kind, tmp_path) as url:
        engine = create_db_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


# Templates at earlier revisions (upgrade tests), built each from the one before it: every
# revision's migration runs once per kind and test process, not once per test.
_REVISION_TEMPLATES: dict[tuple[str, str], str] = {}


def revisions() -> list[str]:
    """Every migration's revision, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(POSTGRES_ADMIN_URL))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _url_of(kind: str, template: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{template}"
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{template}"


def _template_at(kind: str, revision: str) -> str:
    """A database of `kind` migrated to `revision` and no further (path or database name)."""
    found = _REVISION_TEMPLATES.get((kind, revision))
    if found is not None:
        return found
    order = revisions()
    before = order.index(revision) - 1
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix=f"ss-at-{revision}-", dir=_TEMPLATE_PARENT))
        atexit.register(shutil.rmtree, folder, True)
        template = str(folder / "template.db")
        if before >= 0:
            shutil.copyfile(_template_at(kind, order[before]), template)
    else:
        require_postgres()
        template = f"ss_at_{revision}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        clone = f' TEMPLATE "{_template_at(kind, order[before])}"' if before >= 0 else ""
        with _admin() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{template}"{clone}')
        atexit.register(_drop, template)
    command.upgrade(alembic_config(_url_of(kind, template)), revision)
    if kind == "sqlite":
        with sqlite3.connect(template) as raw:  # everything in the main file, nothing in a WAL
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _REVISION_TEMPLATES[(kind, revision)] = template
    return template


@contextmanager
def database_at(kind: str, tmp_path: Path, revision: str) -> Iterator[str]:
    """The URL of a new database of `kind` migrated to `revision` only (a clone), dropped
    after: a database as an older release left it, to upgrade."""
    template = _template_at(kind, revision)
    if kind == "sqlite":
        path = tmp_path / f"at-{revision}-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    name = f"ss_test_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _url_of(kind, name)
    finally:
        _drop(name)


@contextmanager
def writes_through(engine: Engine | type[Engine]) -> Iterator[list[str]]:
    """The statements sent through `engine` (or every engine: `Engine`) meanwhile that
    write or, on SQLite, take the write lock (BEGIN IMMEDIATE); each as its first words."""
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE", "BEGIN IMM")):
            seen.append(" ".join(statement.split()[:3]))

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)
