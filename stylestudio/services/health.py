"""Is this process ready to serve? The database reachable and migrated to the code's head
revision, Redis answering (when configured), media storage writable and readable."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from stylestudio.adapters.storage import MediaStorage

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


def redis_status(url: str, *, timeout_s: float = 2.0) -> dict[str, object]:
    """{"redis": "ok"|"unreachable"}: a PING answered within `timeout_s`."""
    import redis

    client = redis.Redis.from_url(
        url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, retry_on_timeout=False
    )
    try:
        client.ping()
    except Exception as exc:
        return {"redis": "unreachable", "detail": type(exc).__name__}
    finally:
        client.close()
    return {"redis": "ok"}


PROBE_PREFIX = "health/"


def storage_status(storage: MediaStorage) -> dict[str, object]:
    """{"storage": "ok"|"failing"}: a small object written, read back and deleted through the
    storage protocol (local folder or object store alike). A probe left behind by a crash
    is an orphan like any other: `stylestudio media sweep` finds it."""
    key = f"{PROBE_PREFIX}probe-{os.getpid()}-{secrets.token_hex(8)}.txt"
    payload = secrets.token_bytes(16)
    try:
        storage.put(key, payload, content_type="text/plain")
        try:
            if storage.get(key) != payload:
                return {"storage": "failing", "detail": "read back other bytes"}
        finally:
            storage.delete(key)
    except Exception as exc:
        return {"storage": "failing", "detail": type(exc).__name__}
    return {"storage": "ok"}
