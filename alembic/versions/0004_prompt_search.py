"""prompt search: SQLite FTS5 over generations.prompt, a PostgreSQL full-text GIN index

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Neither object is a model: stylestudio.services.library.search queries them and lists their names
# (SQLITE_FTS_TABLE, POSTGRESQL_FTS_INDEX) and gives Alembic the `include_name` hook that
# keeps autogenerate from proposing to drop them.
#
# SQLite: an external-content FTS5 table (it stores the index only; the text stays in
# `generations`), kept in sync by triggers. It indexes the owner's `user_id` next to `prompt`
# so a search intersects "this user" with the words inside FTS5: at 1M generations over 1000
# users, p99 1-8 ms (bench/bench_gallery_scale.py), where matching the words first and
# keeping the user's rows afterwards took 25-70 ms in a prototype at the same scale.
# The update trigger fires on `prompt` and `user_id` changes only: generations change
# status many times, their prompt never (status updates cost nothing).
# unicode61 + remove_diacritics 2: case- and accent-insensitive words ("Café" finds "cafe");
# prefix='2 3' also indexes every word's first 2 and 3 letters, so the short prefixes typed
# first ("ma", "mar") are one index lookup each; longer ones read a narrow range of words.
# Caveat for later migrations: a batch "recreate" of `generations` on SQLite (copy + rename)
# drops these triggers with the old table; such a migration must recreate them.
#
# PostgreSQL: a GIN index on (user_id, to_tsvector('simple', prompt)): an expression index,
# no extra column, so the model and the table stay identical. With user_id in the same GIN
# index (btree_gin), one index scan intersects the owner's rows with the words' rows, the
# counterpart of user_id in the FTS5 table. btree_gin ships with PostgreSQL (contrib) and is
# a trusted extension since PostgreSQL 13: the database owner may create it. 'simple'
# lowercases and splits, with no stemming or stop words, the same for every language. The
# query must repeat the exact expression, to_tsvector('simple', prompt), to use the index.

_SQLITE_UP = [
    """
    CREATE VIRTUAL TABLE generations_fts USING fts5(
        prompt,
        user_id,
        content='generations',
        content_rowid='id',
        tokenize='unicode61 remove_diacritics 2',
        prefix='2 3'
    )
    """,
    """
    CREATE TRIGGER generations_fts_insert AFTER INSERT ON generations BEGIN
        INSERT INTO generations_fts (rowid, prompt, user_id)
        VALUES (new.id, new.prompt, new.user_id);
    END
    """,
    """
    CREATE TRIGGER generations_fts_delete AFTER DELETE ON generations BEGIN
        INSERT INTO generations_fts (generations_fts, rowid, prompt, user_id)
        VALUES ('delete', old.id, old.prompt, old.user_id);
    END
    """,
    """
    CREATE TRIGGER generations_fts_update AFTER UPDATE OF prompt, user_id ON generations
    BEGIN
        INSERT INTO generations_fts (generations_fts, rowid, prompt, user_id)
        VALUES ('delete', old.id, old.prompt, old.user_id);
        INSERT INTO generations_fts (rowid, prompt, user_id)
        VALUES (new.id, new.prompt, new.user_id);
    END
    """,
    # Index the rows that exist already.
    "INSERT INTO generations_fts (generations_fts) VALUES ('rebuild')",
]

_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS generations_fts_update",
    "DROP TRIGGER IF EXISTS generations_fts_delete",
    "DROP TRIGGER IF EXISTS generations_fts_insert",
    "DROP TABLE IF EXISTS generations_fts",
]

_POSTGRESQL_UP = [
    "CREATE EXTENSION IF NOT EXISTS btree_gin",
    "CREATE INDEX ix_generations_user_id_prompt_fts ON generations "
    "USING gin (user_id, to_tsvector('simple'::regconfig, prompt))",
]

# The extension stays: other objects may use it by now, and it costs nothing unused.
_POSTGRESQL_DOWN = ["DROP INDEX IF EXISTS ix_generations_user_id_prompt_fts"]


def _run(statements: dict[str, list[str]]) -> None:
    dialect = op.get_bind().dialect.name
    if dialect not in statements:
        raise NotImplementedError(f"prompt search has no migration for {dialect}")
    for statement in statements[dialect]:
        op.execute(statement)


def upgrade() -> None:
    _run({"sqlite": _SQLITE_UP, "postgresql": _POSTGRESQL_UP})
    op.create_index("ix_generations_user_id_id", "generations", ["user_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_generations_user_id_id", table_name="generations")
    _run({"sqlite": _SQLITE_DOWN, "postgresql": _POSTGRESQL_DOWN})
