"""Alembic environment: the models' metadata, the settings' database URL."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlmodel import SQLModel

import stylestudio.models  # noqa: F401  (registers every table)
from stylestudio.db import create_db_engine
from stylestudio.services.library.search import include_name
from stylestudio.settings import get_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().effective_database_url
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                _run_without_foreign_keys(conn)
            else:
                _run(conn)
            conn.commit()
    finally:
        engine.dispose()


def _run_without_foreign_keys(conn) -> None:  # type: ignore[no-untyped-def]
    """SQLite: migrations that rebuild a table (copy, drop, rename) must run with foreign
    keys off, or dropping a parent table deletes every child row through ON DELETE CASCADE
    (https://sqlite.org/lang_altertable.html#otheralter). The pragma only takes effect
    outside a transaction, so it is set on the driver's connection before BEGIN; the
    references are checked before COMMIT, and a violation fails the migration."""
    driver = conn.connection.dbapi_connection
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        _run(conn, check_foreign_keys=True)
    finally:
        driver.execute("PRAGMA foreign_keys=ON")


def _run(connection, check_foreign_keys: bool = False) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,  # the prompt-search objects are not models
    )
    with context.begin_transaction():
        context.run_migrations()
        if check_foreign_keys:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration broke foreign keys: {broken[:10]}")


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
run_migrations_online()
