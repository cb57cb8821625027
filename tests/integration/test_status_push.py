"""Generation status is pushed to watching tabs, not polled: a status change committed by
another session or process wakes exactly the watchers of that generation; idle watchers
send no query; and the gallery's follower never holds the tab's state lock across a query,
so the tab's clicks are answered while it follows. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import reflex as rx
import sqlalchemy as sa
from reflex.state import BaseState
from reflex_base.event import Event
from sqlalchemy.engine import Engine

from stylestudio.adapters.storage import LocalStorage
from stylestudio.api.session_cookie import SESSION_COOKIE
from stylestudio.db import get_engine, session_scope
from stylestudio.models import Generation, GenerationStatus
from stylestudio.services.accounts import accounts
from stylestudio.services.generation import generations
from stylestudio.services.generation.generation_events import notify_payloads, parse_payload
from stylestudio.services.generation.generation_status_feed import (
    GenerationStatusFeed,
    close_feeds,
    get_feed,
)
from stylestudio.services.generation.generation_views import GenerationView
from stylestudio.settings import get_settings
from stylestudio.state import generation_watch, socket_sessions
from stylestudio.state.gallery import GalleryState
from stylestudio.state.session import SessionState
from stylestudio.state.studio import StudioState
from tests.support.builders import new_generation, new_upload, new_user
from tests.support.event_processing import AppEvents, event_name, new_tab

ROOT = Path(__file__).resolve().parents[2]
# Long enough never to be the reason a test passes: only a pushed change can wake a watch.
NEVER = 3600.0
WITHIN = 20.0  # a bound for a failure to show, not a measured time


class QueryCounter:
    """Every statement an engine sends (SQLAlchemy's before_cursor_execute)."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.count, self.statements = engine, 0, list[str]()
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.count += 1
        self.statements.append(statement.split("\n", 1)[0][:80])

    def close(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)


def _cancel(db: Engine, user_id: int, generation_id: int) -> None:
    with session_scope(db) as session:
        generations.cancel_generation(session, user_id=user_id, generation_id=generation_id)


def _claim_in_another_process(url: str) -> None:
    """What a separate `stylestudio worker` does first: claim the job, so its generation
    becomes processing, committed by another process."""
    script = (
        "from stylestudio.db import create_db_engine\n"
        "from stylestudio.services.generation.generation_claims import claim_work\n"
        f"works = claim_work(db=create_db_engine({url!r}), worker_id='elsewhere', limit=1)\n"
        "assert len(works) == 1, works\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=120)


@pytest.fixture
async def feed(db: Engine) -> AsyncIterator[GenerationStatusFeed]:
    feed = GenerationStatusFeed(engine=db, recheck_s=NEVER, probe_s=NEVER)
    feed.start()
    await asyncio.wait_for(feed.listening.wait(), WITHIN)
    yield feed
    await feed.close()


async def test_a_status_committed_by_another_session_wakes_its_watchers_only(
    db: Engine, storage: LocalStorage, feed: GenerationStatusFeed
) -> None:
    user_id = new_user(db)
    image = new_upload(db, storage, user_id)
    watched, other = (new_generation(db, user_id=user_id, image_id=image, key=k) for k in "ab")
    mine, theirs = feed.watch(), feed.watch()
    mine.follow({watched: "pending"})
    theirs.follow({other: "pending"})
    # Following is itself a change: each reads its cards once.
    assert await mine.wait(timeout=0) == {watched}
    assert await theirs.wait(timeout=0) == {other}

    await asyncio.to_thread(_cancel, db, user_id, watched)

    assert await mine.wait(timeout=WITHIN) == {watched}
    assert await theirs.wait(timeout=0.3) == frozenset()  # not woken by another's change
    assert (feed.rechecks, feed.probes) == (0, 0)  # pushed, not found by polling


async def test_a_rolled_back_change_announces_nothing(
    db: Engine, storage: LocalStorage, feed: GenerationStatusFeed
) -> None:
    user_id = new_user(db)
    watched = new_generation(db, user_id=user_id, image_id=new_upload(db, storage, user_id))
    watch = feed.watch()
    watch.follow({watched: "pending"})
    await watch.wait(timeout=0)

    def change_then_fail() -> None:
        with session_scope(db) as session:
            generation = session.get(Generation, watched)
            assert generation is not None
            generation.status = GenerationStatus.PROCESSING
            session.add(generation)
            session.flush()
            raise RuntimeError("the transaction fails after the change")

    with pytest.raises(RuntimeError):
        await asyncio.to_thread(change_then_fail)
    assert await watch.wait(timeout=0.5) == frozenset()

    await asyncio.to_thread(_cancel, db, user_id, watched)  # a committed one does
    assert await watch.wait(timeout=WITHIN) == {watched}


async def test_a_status_committed_by_another_process_wakes_the_watcher(
    db: Engine, storage: LocalStorage
) -> None:
    """PostgreSQL: LISTEN/NOTIFY. SQLite: the other process cannot signal this one; the
    process's data_version probe finds its commit (one probe for all watchers)."""
    user_id = new_user(db)
    watched = new_generation(db, user_id=user_id, image_id=new_upload(db, storage, user_id))
    postgres = db.dialect.name == "postgresql"
    feed = GenerationStatusFeed(engine=db, recheck_s=NEVER, probe_s=NEVER if postgres else 0.2)
    feed.start()
    try:
        await asyncio.wait_for(feed.listening.wait(), WITHIN)
        watches = [feed.watch() for _ in range(20)]
        for watch in watches:
            watch.follow({watched: "pending"})
            await watch.wait(timeout=0)

        await asyncio.to_thread(
            _claim_in_another_process, db.url.render_as_string(hide_password=False)
        )

        for watch in watches:
            assert await watch.wait(timeout=WITHIN) == {watched}
        if postgres:
            assert (feed.rechecks, feed.probes) == (0, 0)
        else:
            assert feed.rechecks >= 1  # one read for the process, not one per watcher
    finally:
        await feed.close()


async def test_idle_watchers_send_no_query(db: Engine, storage: LocalStorage) -> None:
    user_id = new_user(db)
    image = new_upload(db, storage, user_id)
    # 50 watchers (tabs) of 10 running generations (a new account's 10 credits).
    ids = [new_generation(db, user_id=user_id, image_id=image, key=f"k{i}") for i in range(10)] * 5
    feed = GenerationStatusFeed(engine=db, recheck_s=NEVER)  # the default SQLite probe
    feed.start()
    counter = QueryCounter(db)
    try:
        await asyncio.wait_for(feed.listening.wait(), WITHIN)
        watches = [feed.watch() for _ in ids]
        for watch, gid in zip(watches, ids, strict=True):
            watch.follow({gid: "pending"})
            await watch.wait(timeout=0)
        waiting = [asyncio.ensure_future(w.wait(timeout=NEVER)) for w in watches]
        await asyncio.sleep(0.1)
        before = counter.count
        await asyncio.sleep(2.0)  # 50 watchers polling every 0.25 s: 400 queries
        idle = counter.count - before
        assert not any(w.done() for w in waiting)
        # At most the SQLite probe's first recheck (one read for all 50): nothing per tab.
        assert feed.rechecks <= 1 and idle <= 2 * feed.rechecks, counter.statements[before:]
        for task in waiting:
            task.cancel()
    finally:
        counter.close()
        await feed.close()


async def test_a_lost_notification_is_found_by_the_recheck(
    db: Engine, storage: LocalStorage
) -> None:
    """The safety net: a status that changed without any announcement (another tool
    writing SQL directly) still reaches the watcher, by one read for the whole process."""
    user_id = new_user(db)
    watched = new_generation(db, user_id=user_id, image_id=new_upload(db, storage, user_id))
    feed = GenerationStatusFeed(engine=db, recheck_s=0.3, probe_s=NEVER)
    feed.start()
    try:
        watch = feed.watch()
        watch.follow({watched: "pending"})
        await watch.wait(timeout=0)
        with db.begin() as conn:  # a Core connection: no session, no announcement
            conn.execute(
                sa.update(Generation)
                .where(sa.column("id") == watched)
                .values(status=GenerationStatus.FAILED)
            )
        assert await watch.wait(timeout=WITHIN) == {watched}
        assert feed.rechecks >= 1 and feed.delivered == 0
    finally:
        await feed.close()


# --------------------------------------------------------------------------- the gallery tab


@pytest.fixture
def app_db(db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The app's configured database is the test's; the tabs count as connected."""
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("STYLESTUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STYLESTUDIO_RATE_LIMITS_ENABLED", "false")
    monkeypatch.setenv("STYLESTUDIO_STATUS_RECHECK_S", str(NEVER))
    get_settings.cache_clear()
    monkeypatch.setattr(generation_watch, "tab_is_connected", lambda token: True)
    yield db
    get_settings.cache_clear()


class Tab:
    """A signed-in tab on the page `path` whose events go through the app's event
    processing; `post` waits for the event itself, not for the background follower it
    starts."""

    def __init__(self, app: AppEvents, session: str, *, path: str = "/gallery") -> None:
        self.app, self.token, self.session, self.path = app, new_tab(), session, path
        self.sid = f"push-{self.token}"
        socket_sessions.connect(self.sid, f"{SESSION_COOKIE}={session}")

    async def hydrate(self) -> None:
        """What a browser sends first on its websocket: the state snapshot, without the
        page's on_load. A tab whose state was seeded without it gets Reflex's compatibility
        rehydration on its first event instead, which runs the on_load of `path` in the
        middle of the test (on /gallery: a gallery follower of the same cards)."""
        await self._send(event_name(rx.State, "hydrate"), {})

    async def post(
        self,
        handler: str,
        payload: dict[str, Any] | None = None,
        *,
        state: type[BaseState] = GalleryState,
    ) -> None:
        await self._send(event_name(state, handler), payload or {})

    async def _send(self, name: str, payload: dict[str, Any]) -> None:
        router = {"pathname": self.path, "asPath": self.path, "headers": {}}
        router |= {"sid": self.sid, "token": self.token}
        event = Event(name=name, payload=payload, router_data=router)
        future = await self.app.processor.enqueue(self.token, event)
        await asyncio.wait_for(future, WITHIN)

    async def items(self) -> list[GenerationView]:
        return list((await self.app.state_of(self.token, GalleryState))["items"])


async def _until(check: Any, what: str) -> None:
    for _ in range(int(WITHIN / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never: {what}")


async def test_the_gallery_answers_clicks_while_following_and_idles_without_queries(
    app_db: Engine, storage: LocalStorage
) -> None:
    user_id = new_user(app_db)
    image = new_upload(app_db, storage, user_id)
    queued = new_generation(app_db, user_id=user_id, image_id=image)
    with session_scope(app_db) as session:
        cookie = accounts.start_session(session, user_id=user_id)
    app_engine = get_engine()  # the app's own engine (the test commits through `app_db`)
    assert app_engine is not app_db
    counter = QueryCounter(app_engine)
    # Blocks the app's statements while armed, to hold a follower inside its read.
    gate, reached, armed = threading.Event(), threading.Event(), threading.Event()

    def hold(*_args: Any) -> None:
        if armed.is_set():
            reached.set()
            gate.wait(WITHIN)

    sa.event.listen(app_engine, "before_cursor_execute", hold)
    try:
        async with AppEvents() as app:
            tabs = [Tab(app, cookie) for _ in range(10)]
            for tab in tabs:
                await tab.post("open_gallery")
            await _until(
                lambda: _true(len(generation_watch.LIVE_WATCHES) == len(tabs)),
                "every tab follows its queued card",
            )
            await _quiet(counter)  # the followers' first reads are done

            feed = get_feed()  # this process's, which the followers wait on
            before, rechecks = counter.count, feed.rechecks
            await asyncio.sleep(2.0)  # 10 followers polling every 0.25 s: 160 queries
            # At most the SQLite probe's first recheck (one read for the process).
            rechecked = feed.rechecks - rechecks
            assert rechecked <= 1, rechecked
            assert counter.count - before <= 2 * rechecked, counter.statements[before:]

            # A change arrives; the followers' reads are held inside the database...
            armed.set()
            await asyncio.to_thread(_cancel, app_db, user_id, queued)
            # (Polled here: the held reads occupy the default thread pool.)
            await _until(lambda: _true(reached.is_set()), "a follower reads the change")
            # ...and the tab still answers a click at once: no follower holds its lock.
            await tabs[0].post("set_new_collection", {"value": "Summer"})
            assert (await app.state_of(tabs[0].token, GalleryState))["new_collection"] == ("Summer")
            armed.clear()
            gate.set()

            for tab in tabs:
                await _until(
                    lambda tab=tab: _card_is(tab, queued, "cancelled"), "the card shows it"
                )
            await _until(
                lambda: _true(not generation_watch.LIVE_WATCHES), "followers end with the card"
            )
    finally:
        gate.set()
        sa.event.remove(app_engine, "before_cursor_execute", hold)
        counter.close()
        await close_feeds()


async def _quiet(counter: QueryCounter) -> None:
    """Until the engine has sent nothing for half a second."""
    for _ in range(int(WITHIN / 0.5)):
        seen = counter.count
        await asyncio.sleep(0.5)
        if counter.count == seen:
            return
    raise AssertionError("the app never went quiet")


async def _true(value: bool) -> bool:
    return value


async def _card_is(tab: Tab, generation_id: int, status: str) -> bool:
    items = await tab.items()
    return any(i.id == generation_id and i.status == status for i in items)


def test_many_changes_fit_in_notify_payloads() -> None:
    """PostgreSQL refuses a NOTIFY payload of 8000 bytes or more: many ids go in several."""
    ids = [*range(1, 5000), 2**62]
    payloads = notify_payloads(ids)
    assert len(payloads) > 1 and all(len(p.encode()) < 8000 for p in payloads)
    assert frozenset().union(*(parse_payload(p) for p in payloads)) == set(ids)
    assert parse_payload("12,x,,7") == {12, 7}  # a stray part is skipped, never raised


async def test_the_studio_shows_a_pushed_ending_and_the_refund(
    app_db: Engine, storage: LocalStorage
) -> None:
    user_id = new_user(app_db)
    generation = new_generation(
        app_db, user_id=user_id, image_id=new_upload(app_db, storage, user_id)
    )
    with session_scope(app_db) as session:
        cookie = accounts.start_session(session, user_id=user_id)
        _user_seen, views = generation_watch.views_for_token(
            session, token=cookie, ids=[generation], base="http://test"
        )
    try:
        async with AppEvents() as app:
            tab = Tab(app, cookie, path="/upload")
            await tab.hydrate()  # connected first, as a browser is: no on_load runs later
            async with app.manager.modify_state(
                rx.BaseStateToken(ident=tab.token, cls=StudioState)
            ) as root:
                (await root.get_state(SessionState))._user_id = user_id
                studio = await root.get_state(StudioState)
                studio.results, studio.watching = views, True
            watching = asyncio.ensure_future(tab.post("watch_generation", state=StudioState))
            await _until(lambda: _true(len(generation_watch.LIVE_WATCHES) == 1), "it watches")

            await asyncio.to_thread(_cancel, app_db, user_id, generation)

            async def shown() -> bool:
                studio = await app.state_of(tab.token, StudioState)
                return studio["results"][0].status == "cancelled" and not studio["watching"]

            await _until(shown, "the result shows the ending and the watch stops")
            # The refund reached the header with the same read (no query under the lock).
            assert (await app.state_of(tab.token, SessionState))["credits"] == 10
            await asyncio.wait_for(watching, WITHIN)
    finally:
        await close_feeds()


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)  # LISTEN is PostgreSQL's
async def test_a_change_made_while_the_listener_reconnects_is_not_lost(
    db: Engine, storage: LocalStorage
) -> None:
    """PostgreSQL: the LISTEN connection is cut (a server restart, a proxy); whatever was
    committed meanwhile is found by the one read the feed makes when it listens again."""
    assert db.dialect.name == "postgresql"
    user_id = new_user(db)
    watched = new_generation(db, user_id=user_id, image_id=new_upload(db, storage, user_id))
    feed = GenerationStatusFeed(engine=db, recheck_s=NEVER, probe_s=NEVER)
    feed.start()
    try:
        await asyncio.wait_for(feed.listening.wait(), WITHIN)
        watch = feed.watch()
        watch.follow({watched: "pending"})
        await watch.wait(timeout=0)

        with db.connect() as conn:  # the server drops the listener's connection
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'stylestudio-status-listener'"
                    " AND datname = current_database()"
                )
            )
            conn.commit()
        await _until(lambda: _true(not feed.listening.is_set()), "the listener notices")
        await asyncio.to_thread(_cancel, db, user_id, watched)  # nobody listens now

        assert await watch.wait(timeout=WITHIN) == {watched}
        assert feed.connects == 2 and feed.rechecks >= 1
    finally:
        await feed.close()
