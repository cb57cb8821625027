"""One listener per backend process wakes the tabs that watch a generation when its status
changes; idle watching tabs cost no query.

A tab's watcher holds a `StatusWatch` (the generations it shows, with the status it shows
for each) and awaits it. The process's `GenerationStatusFeed` receives the changes
(services/generation/generation_events.py) — PostgreSQL LISTEN, or this process's own commits on
SQLite — and wakes only the watches of those generations. Safety nets, each one query for
the whole process, never one per tab:

- every `recheck_s`, and whenever the LISTEN connection is (re)established, the statuses of
  everything watched are read once and any watch showing another status is woken;
- on SQLite, where a separate `stylestudio worker` process cannot signal this one, every
  `probe_s` the feed asks SQLite whether any other connection committed
  (`PRAGMA data_version`, which reads no table) and rechecks when one did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import weakref
from collections.abc import Callable, Mapping

from sqlalchemy.engine import Engine

from stylestudio.adapters.pg_notifications import listen
from stylestudio.db import get_engine, session_scope
from stylestudio.services.generation.generation_events import (
    CHANNEL,
    database_key,
    parse_payload,
    statuses_of,
    subscribe_local,
)
from stylestudio.settings import get_settings

log = logging.getLogger(__name__)

_RECONNECT_FIRST_S = 0.5
_RECONNECT_MAX_S = 10.0


class StatusWatch:
    """One watcher's interest: some generations and the status it shows for each."""

    def __init__(self, feed: GenerationStatusFeed) -> None:
        self._feed = feed
        self.known: dict[int, str] = {}
        self._changed: set[int] = set()
        self._event = asyncio.Event()
        self.closed = False

    def follow(self, statuses: Mapping[int, str]) -> None:
        """Watch exactly these generations, shown with these statuses. A generation not
        watched before counts as changed: the watcher reads it once more, so a change
        committed before this call is not missed."""
        if self.closed:
            return
        before = set(self.known)
        now = set(statuses)
        self._feed._move(self, removed=before - now, added=now - before)
        self.known = dict(statuses)
        self._changed &= now
        if now - before:
            self._wake(now - before)

    def _wake(self, generation_ids: set[int] | frozenset[int]) -> None:
        self._changed |= generation_ids
        self._event.set()

    async def wait(self, timeout: float) -> frozenset[int]:
        """The generations changed since the last call; empty after `timeout` without one
        (or once closed)."""
        if not self._changed and not self.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()
        changed, self._changed = frozenset(self._changed), set()
        return changed

    def close(self) -> None:
        """Stop watching (a newer watcher of the tab replaces this one, or it ended)."""
        if not self.closed:
            self._feed._move(self, removed=set(self.known), added=set())
            self.closed = True
            self._event.set()


class GenerationStatusFeed:
    """The process's receiver of status changes (one per event loop and database)."""

    def __init__(self, *, engine: Engine, recheck_s: float = 15.0, probe_s: float = 0.5) -> None:
        self.engine = engine
        self.recheck_s = recheck_s
        self.probe_s = probe_s
        self.is_postgresql = engine.dialect.name == "postgresql"
        self._by_id: dict[int, set[StatusWatch]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: list[Callable[[], None]] = []
        self._probe_connection: sqlite3.Connection | None = None
        # Set while the LISTEN connection is up (PostgreSQL), at once elsewhere.
        self.listening = asyncio.Event()
        # What it cost, for tests and benchmarks: status reads and data_version probes.
        self.rechecks = 0
        self.probes = 0
        self.delivered = 0
        self.connects = 0  # LISTEN connections made (PostgreSQL)

    # -- watches -------------------------------------------------------------------------

    def watch(self) -> StatusWatch:
        self.start()
        return StatusWatch(self)

    @property
    def watched(self) -> int:
        return len(self._by_id)

    def _move(self, watch: StatusWatch, *, removed: set[int], added: set[int]) -> None:
        for gid in removed:
            watchers = self._by_id.get(gid)
            if watchers is not None:
                watchers.discard(watch)
                if not watchers:
                    del self._by_id[gid]
        for gid in added:
            self._by_id.setdefault(gid, set()).add(watch)

    def deliver(self, generation_ids: frozenset[int]) -> None:
        """Wake the watches of these generations (on the feed's event loop)."""
        for gid in generation_ids:
            for watch in list(self._by_id.get(gid, ())):
                self.delivered += 1
                watch._wake({gid})

    async def recheck(self) -> None:
        """Read the statuses of everything watched (one query) and wake every watch that
        shows another one."""
        ids = list(self._by_id)
        if not ids:
            return
        self.rechecks += 1
        current = await asyncio.to_thread(self._read_statuses, ids)
        for gid in ids:
            status = current.get(gid)
            if status is None:
                continue  # deleted: the watcher's next read finds it gone
            for watch in list(self._by_id.get(gid, ())):
                shown = watch.known.get(gid)
                if shown is not None and shown != status:
                    watch._wake({gid})

    def _read_statuses(self, ids: list[int]) -> dict[int, str]:
        with session_scope(self.engine, write=False) as session:
            return statuses_of(session, generation_ids=ids)

    # -- the process's listener ------------------------------------------------------------

    def start(self) -> None:
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        if self.is_postgresql:
            self._tasks.append(loop.create_task(self._listen_forever()))
        else:
            mine = database_key(self.engine)

            def from_commit(database: str, ids: frozenset[int]) -> None:
                if database != mine:
                    return
                with contextlib.suppress(RuntimeError):  # the loop has closed
                    loop.call_soon_threadsafe(self.deliver, ids)

            self._unsubscribe.append(subscribe_local(from_commit))
            self.listening.set()
            self._tasks.append(loop.create_task(self._probe_forever()))
        self._tasks.append(loop.create_task(self._recheck_forever()))

    async def close(self) -> None:
        tasks, self._tasks = list(self._tasks), []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self._probe_connection is not None:
            self._probe_connection.close()
            self._probe_connection = None

    async def _listen_forever(self) -> None:
        url = self.engine.url.render_as_string(hide_password=False)
        wait = _RECONNECT_FIRST_S
        while True:
            try:
                async for payload in listen(url, CHANNEL, on_listening=self._on_listening):
                    wait = _RECONNECT_FIRST_S
                    self.deliver(parse_payload(payload))
            except Exception as exc:
                log.warning("generation status listener lost its connection: %r", exc)
            self.listening.clear()
            await asyncio.sleep(wait)
            wait = min(wait * 2, _RECONNECT_MAX_S)

    def _on_listening(self) -> None:
        self.connects += 1
        self.listening.set()
        # Whatever was committed while no connection listened is found by one read.
        task = asyncio.get_running_loop().create_task(self._recheck_logged())
        self._tasks.append(task)
        task.add_done_callback(self._forget_task)

    def _forget_task(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)

    async def _recheck_logged(self) -> None:
        try:
            await self.recheck()
        except Exception:
            log.warning("could not re-read watched generation statuses", exc_info=True)

    async def _recheck_forever(self) -> None:
        while True:
            await asyncio.sleep(self.recheck_s)
            await self._recheck_logged()

    async def _probe_forever(self) -> None:
        """SQLite: recheck when another connection (maybe another process) committed."""
        path = self.engine.url.database
        if not path or path == ":memory:":
            return
        seen: int | None = None
        while True:
            await asyncio.sleep(self.probe_s)
            if not self._by_id:
                continue
            try:
                version = await asyncio.to_thread(self._data_version, path)
            except sqlite3.Error:
                log.warning("could not probe the SQLite database", exc_info=True)
                continue
            self.probes += 1
            if version != seen:
                seen = version
                await self._recheck_logged()

    def _data_version(self, path: str) -> int:
        if self._probe_connection is None:
            self._probe_connection = sqlite3.connect(path, check_same_thread=False)
        row = self._probe_connection.execute("PRAGMA data_version").fetchone()
        return int(row[0])


_feeds: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, GenerationStatusFeed]]
_feeds = weakref.WeakKeyDictionary()


def get_feed() -> GenerationStatusFeed:
    """This process's feed for the configured database (started on first use)."""
    loop = asyncio.get_running_loop()
    settings = get_settings()
    url = settings.effective_database_url
    feeds = _feeds.setdefault(loop, {})
    feed = feeds.get(url)
    if feed is None:
        feed = feeds[url] = GenerationStatusFeed(
            engine=get_engine(url),
            recheck_s=settings.status_recheck_s,
            probe_s=settings.status_probe_s,
        )
    return feed


async def close_feeds() -> None:
    """Stop this event loop's feeds (tests; the app's run until the process ends)."""
    feeds = _feeds.pop(asyncio.get_running_loop(), {})
    for feed in feeds.values():
        await feed.close()
