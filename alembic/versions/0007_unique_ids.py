"""ids never reused: AUTOINCREMENT on SQLite, and the ledger keys that collided repaired

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 08:40:00.000000
"""

import re
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Why: ledger idempotency keys are built from row ids (`spend:generation:<id>`,
# `refund:generation:<id>`, `checkout:purchase:<id>`, `free-trial:user:<id>`). A plain
# INTEGER PRIMARY KEY on SQLite hands the largest id out again once that row is deleted, so a
# new generation inherited a deleted one's spend key: its spend was taken for a replay (a
# free generation), or refused as "another account's key" for everyone (after an account
# was deleted). PostgreSQL sequences never go back; SQLite needs AUTOINCREMENT, which only
# a table rebuild can add (the 12-step procedure of https://sqlite.org/lang_altertable.html,
# run with foreign keys off by alembic/env.py and checked with `foreign_key_check` after).
#
# The rebuild keeps each table's own DDL as SQLite stored it (columns, CHECK, UNIQUE, FOREIGN
# KEY clauses exactly), changing only the primary key clause, then recreates the table's
# indexes and triggers from their stored SQL (the prompt-search triggers of 0004 included).
#
# Then, on both databases, the collisions already made are repaired:
# - a ledger row whose `...:generation:<N>` key no longer describes generation N (that
#   generation was deleted, or the row predates the generation now holding N) gets its key
#   retired (`<key>:retired:<ledger id>`), so generation N's own spend and refund work;
# - generation N, which was never charged because its key was taken, records what it
#   really cost its owner: 0 credits (so a later failure refunds nothing that was not spent);
# - each SQLite sequence starts past every id a ledger key has ever named.

_KEY = re.compile(r"^(spend|refund):generation:(\d+)$")
_NAMED_IDS = {
    "generations": re.compile(r"^(?:spend|refund):generation:(\d+)(?::|$)"),
    "purchases": re.compile(r"^checkout:purchase:(\d+)(?::|$)"),
    "users": re.compile(r"^free-trial:user:(\d+)(?::|$)"),
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for table in _integer_id_tables(bind):
            _rebuild_with_autoincrement(bind, table)
    _retire_collided_keys(bind)
    if bind.dialect.name == "sqlite":
        _start_sequences_past_named_ids(bind)


def downgrade() -> None:
    # AUTOINCREMENT is harmless to the older code and retired keys are history: nothing to undo.
    pass


def _integer_id_tables(bind: sa.Connection) -> list[str]:
    names = [
        row[0]
        for row in bind.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE TABLE%' "
            "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version' "
            # FTS5's own shadow tables (0004) belong to the virtual table: never touched.
            "AND name NOT LIKE 'generations_fts%' ORDER BY name"
        )
    ]
    chosen = []
    for name in names:
        columns = list(bind.exec_driver_sql(f'PRAGMA table_info("{name}")'))
        keys = [c for c in columns if c[5]]  # (cid, name, type, notnull, default, pk)
        if len(keys) == 1 and keys[0][1] == "id" and keys[0][2].upper() == "INTEGER":
            chosen.append(name)
    return chosen


def _rebuild_with_autoincrement(bind: sa.Connection, table: str) -> None:
    (ddl,) = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).one()
    if "AUTOINCREMENT" in ddl.upper():
        return
    new = f"{table}__rebuilt"
    pk = f"pk_{table}"
    head = re.compile(rf'^CREATE TABLE "?{re.escape(table)}"?\s*\(')
    column = re.compile(r'(\(|,)(\s*)"?id"? INTEGER NOT NULL\s*,')
    clause = re.compile(rf',\s*CONSTRAINT "?{re.escape(pk)}"? PRIMARY KEY \("?id"?\)')
    rewritten, heads = head.subn(f"CREATE TABLE {new} (", ddl, count=1)
    rewritten, columns = column.subn(
        rf"\1\2id INTEGER NOT NULL CONSTRAINT {pk} PRIMARY KEY AUTOINCREMENT,",
        rewritten,
        count=1,
    )
    rewritten, clauses = clause.subn("", rewritten, count=1)
    if (heads, columns, clauses) != (1, 1, 1):
        raise RuntimeError(f"unexpected DDL for {table}; not rebuilt:\n{ddl}")
    dependents = [
        row[0]
        for row in bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
            "AND tbl_name = ? AND sql IS NOT NULL ORDER BY type, name",
            (table,),
        )
    ]
    names = ", ".join(f'"{c[1]}"' for c in bind.exec_driver_sql(f'PRAGMA table_info("{table}")'))
    bind.exec_driver_sql(rewritten)
    bind.exec_driver_sql(f'INSERT INTO {new} ({names}) SELECT {names} FROM "{table}"')
    bind.exec_driver_sql(f'DROP TABLE "{table}"')
    bind.exec_driver_sql(f'ALTER TABLE {new} RENAME TO "{table}"')
    for statement in dependents:
        bind.exec_driver_sql(statement)


def _retire_collided_keys(bind: sa.Connection) -> None:
    ledger = bind.execute(
        sa.text(
            "SELECT id, user_id, idempotency_key, generation_id, created_at FROM credit_ledger "
            "WHERE idempotency_key LIKE 'spend:generation:%' "
            "OR idempotency_key LIKE 'refund:generation:%'"
        )
    ).all()
    named = {}
    for entry_id, user_id, key, generation_id, created_at in ledger:
        match = _KEY.match(key)
        if match:
            named[entry_id] = (int(match.group(2)), match.group(1), user_id, generation_id, key)
            named[entry_id] += (created_at,)
    if not named:
        return
    ids = sorted({n[0] for n in named.values()})
    generations = {}
    for chunk in range(0, len(ids), 500):
        rows = bind.execute(
            sa.text("SELECT id, user_id, created_at FROM generations WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": ids[chunk : chunk + 500]},
        ).all()
        generations.update({row[0]: (row[1], row[2]) for row in rows})
    uncharged = set()
    for entry_id, (number, kind, user_id, generation_id, key, created_at) in named.items():
        holder = generations.get(number)
        if holder is None:
            continue  # nobody holds N now, and the sequence will start past it
        owner, born = holder
        if generation_id == number and user_id == owner and not _before(created_at, born):
            continue  # the key describes the generation that holds N: no collision
        bind.execute(
            sa.text("UPDATE credit_ledger SET idempotency_key = :new WHERE id = :id"),
            {"new": f"{key}:retired:{entry_id}", "id": entry_id},
        )
        if kind == "spend":
            uncharged.add(number)
    for number in sorted(uncharged):
        charged = bind.execute(
            sa.text(
                "SELECT 1 FROM credit_ledger WHERE generation_id = :g AND kind = 'spend' "
                "AND idempotency_key = :key"
            ),
            {"g": number, "key": f"spend:generation:{number}"},
        ).first()
        if charged is None:
            bind.execute(
                sa.text("UPDATE generations SET credits_used = 0 WHERE id = :g"), {"g": number}
            )


def _before(entry_at: object, generation_at: object) -> bool:
    """Whether a ledger row was written before the generation now holding its id existed
    (a spend is written right after its generation, in the same transaction)."""
    first, second = _moment(entry_at), _moment(generation_at)
    if first is None or second is None:
        return False
    return (second - first).total_seconds() > 1.0


def _moment(value: object) -> datetime | None:
    """A stored time as naive UTC (SQLite gives text of naive UTC, PostgreSQL aware times)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _start_sequences_past_named_ids(bind: sa.Connection) -> None:
    highest: dict[str, int] = {}
    for (key,) in bind.exec_driver_sql("SELECT idempotency_key FROM credit_ledger"):
        for table, pattern in _NAMED_IDS.items():
            if match := pattern.match(key):
                highest[table] = max(highest.get(table, 0), int(match.group(1)))
    for table, number in highest.items():
        current = bind.exec_driver_sql(
            "SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)
        ).first()
        if current is None:
            bind.exec_driver_sql(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, number)
            )
        elif current[0] < number:
            bind.exec_driver_sql(
                "UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (number, table)
            )
