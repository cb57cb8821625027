"""Is the database reachable and migrated to the code's head revision?"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parents[2]


@lru_cache
def head_revisions() -> frozenset[str]:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    return frozenset(ScriptDirectory.from_config(cfg).get_heads())


def database_status(engine: Engine) -> dict[str, object]:
    """{"database": "ok"|"unreachable"|"not migrated", "revision": ...}."""
    try:
        with engine.connect() as conn:
            current = frozenset(MigrationContext.configure(conn).get_current_heads())
    except Exception as exc:
        return {"database": "unreachable", "detail": type(exc).__name__}
    heads = head_revisions()
    state = "ok" if current == heads else "not migrated"
    return {
        "database": state,
        "revision": ",".join(sorted(current)) or None,
        "expected_revision": ",".join(sorted(heads)),
    }
