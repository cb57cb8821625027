"""Watching generations: database queries of 500 idle watching tabs, polled against pushed.

Prints JSON. In the same process and on the same database, 500 watchers (one running
generation each) first poll as the studio and gallery did before (one read of the
generation's view every 0.25 s), then wait as they do now (`generation_watch.run_watch`
on the process's status feed). Counted over an idle window: statements this process sent
(SQLAlchemy's before_cursor_execute) and, on PostgreSQL, the database's committed and
rolled-back transactions and rows returned (pg_stat_database, read from another database so
the reading is not counted; a backend may publish its counters seconds late, but always as
it exits, so each window starts with the pool's connections closed; a window with no
watcher at all gives the floor). Then, with the 500 pushed watchers
still waiting, 20 generations are cancelled one by one from another engine (another
session; on PostgreSQL another connection): the time from the cancel's start to the
watcher's fresh read of it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylestudio.adapters.storage import LocalStorage
from stylestudio.db import create_db_engine, dispose_engines, get_engine, session_scope
from stylestudio.services.accounts import accounts
from stylestudio.services.generation import generations
from stylestudio.services.generation.generation_status_feed import close_feeds
from stylestudio.settings import get_settings
from stylestudio.state import generation_watch
from stylestudio.state.calls import in_session
from tests.support.builders import product_shot
from tests.support.databases import POSTGRES_ADMIN_URL, migrated_database, postgres_available

WATCHERS = 500
IDLE_S = 10.0
POLL_S = 0.25  # what the studio and the gallery used to wait between reads
CHANGES = 20
BASE = "http://bench.local"


def _setup(db: Engine, media: Path) -> tuple[int, str, list[int]]:
    from stylestudio.models import ImageCategory
    from stylestudio.services.media import media as media_service

    with session_scope(db) as session:
        user = accounts.sign_up(session, email="watcher@bench.local", password="bench-password")
        assert user.id is not None
        user_id = user.id
        session.execute(sa.text("UPDATE users SET credits = 1000000 WHERE id = :u"), {"u": user_id})
    with session_scope(db) as session:
        image = media_service.store_upload(
            session,
            storage=LocalStorage(media),
            user_id=user_id,
            data=product_shot(),
            filename="shoe.jpg",
            category=ImageCategory.PRODUCT,
        )
        image_id = image.id
        token = accounts.start_session(session, user_id=user_id)
    ids = []
    for i in range(WATCHERS):
        with session_scope(db) as session:
            generation = generations.start_generation(
                session,
                user_id=user_id,
                product_image_id=image_id,  # type: ignore[arg-type]
                model_image_id=None,
                prompt="on a marble table",
                style="realistic",
                quality="standard",
                aspect_ratio="1:1",
                idempotency_key=f"bench-{i}",
            )
            assert generation.id is not None
            ids.append(generation.id)
    return user_id, token, ids


class Counter:
    def __init__(self, engine: Engine) -> None:
        self.count = 0
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1


def _pg_stats(name: str) -> tuple[int, int]:
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(
                sa.text(
                    "SELECT xact_commit + xact_rollback, tup_returned"
                    " FROM pg_stat_database WHERE datname = :n"
                ),
                {"n": name},
            ).one()
            return int(row[0]), int(row[1])
    finally:
        admin.dispose()


async def _window(counter: Counter, db_name: str | None, *pools: Engine) -> dict[str, float]:
    # A PostgreSQL backend publishes its counters when it exits: closing the pooled
    # connections first keeps earlier work out of the window.
    for pool in pools:
        pool.dispose()
    await asyncio.sleep(1.0)
    before_pg = await asyncio.to_thread(_pg_stats, db_name) if db_name else None
    before = counter.count
    await asyncio.sleep(IDLE_S)
    figures = {"statements_per_s": round((counter.count - before) / IDLE_S, 2)}
    if db_name and before_pg:
        after_pg = await asyncio.to_thread(_pg_stats, db_name)
        figures["pg_transactions_per_s"] = round((after_pg[0] - before_pg[0]) / IDLE_S, 2)
        figures["pg_rows_returned_per_s"] = round((after_pg[1] - before_pg[1]) / IDLE_S, 2)
    return figures


async def _measure(url: str, kind: str, media: Path) -> dict[str, Any]:
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    setup_engine = create_db_engine(url)  # the other session that commits the changes
    user_id, token, ids = await asyncio.to_thread(_setup, setup_engine, media)
    engine = get_engine()
    counter = Counter(engine)
    db_name = sa.engine.make_url(url).database if kind == "postgresql" else None
    read = functools.partial(generation_watch.views_for_token, token=token, base=BASE)
    if db_name:  # nothing left for autovacuum to do during the windows
        await asyncio.to_thread(_vacuum, url)
    nobody = await _window(counter, db_name, engine, setup_engine)  # the floor: no watcher

    # Before: every watcher reads its generation every 0.25 s.
    stop = asyncio.Event()

    async def poll(gid: int) -> None:
        while not stop.is_set():
            await in_session(functools.partial(read, ids=[gid]), write=False)
            await asyncio.sleep(POLL_S)

    pollers = [asyncio.create_task(poll(gid)) for gid in ids]
    await asyncio.sleep(2.0)
    polled = await _window(counter, db_name, setup_engine)
    stop.set()
    await asyncio.gather(*pollers)

    # Now: every watcher waits on the process's feed.
    done: dict[int, float] = {}
    first_reads: set[int] = set()

    def refresher(gid: int) -> Any:
        async def refresh(_changed: frozenset[int]) -> dict[int, str] | None:
            _user, views = await in_session(functools.partial(read, ids=[gid]), write=False)
            first_reads.add(gid)
            statuses = generation_watch.open_statuses(views)
            if not statuses:
                done[gid] = time.perf_counter()
            return statuses or None

        return refresh

    watchers = [
        asyncio.create_task(
            generation_watch.run_watch(
                watch_id=uuid.uuid4().hex,
                replaces="",
                client_token="bench",
                statuses={gid: "pending"},
                refresh=refresher(gid),
            )
        )
        for gid in ids
    ]
    while len(first_reads) < WATCHERS:  # each reads its card once, then waits
        await asyncio.sleep(0.05)
    pushed = await _window(counter, db_name, engine, setup_engine)

    latencies = []
    for gid in ids[:CHANGES]:
        start = time.perf_counter()
        await asyncio.to_thread(_cancel, setup_engine, user_id, gid)
        while gid not in done:
            await asyncio.sleep(0.002)
        latencies.append((done[gid] - start) * 1000)
    for task in watchers:
        task.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)
    await close_feeds()
    setup_engine.dispose()
    dispose_engines()
    return {
        "watchers": WATCHERS,
        "idle_window_s": IDLE_S,
        "no_watchers": nobody,
        "polling_before": polled,
        "pushed_now": pushed,
        "statements_ratio_before_over_now": (
            round(polled["statements_per_s"] / pushed["statements_per_s"], 1)
            if pushed["statements_per_s"]
            else None
        ),
        "change_to_fresh_card_ms": {
            "p50": round(statistics.median(latencies), 1),
            "max": round(max(latencies), 1),
            "changes": CHANGES,
        },
    }


def _vacuum(url: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    finally:
        engine.dispose()


def _cancel(db: Engine, user_id: int, generation_id: int) -> None:
    with session_scope(db) as session:
        generations.cancel_generation(session, user_id=user_id, generation_id=generation_id)


def main() -> None:
    generation_watch.tab_is_connected = lambda client_token: True  # no websocket here
    results: dict[str, Any] = {}
    kinds = ["sqlite"] + (["postgresql"] if postgres_available() else [])
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STYLESTUDIO_DATA_DIR"] = str(Path(tmp) / "data")
        for kind in kinds:
            with migrated_database(kind, Path(tmp)) as url:
                results[kind] = asyncio.run(_measure(url, kind, Path(tmp) / "media"))
    print(json.dumps({"bench": "status_push", **results}, indent=2))


if __name__ == "__main__":
    main()
