"""Following generations from a tab, and cancelling them: shared by the studio and the
gallery.

A watcher costs nothing while nothing changes: it awaits its `StatusWatch`, which the
process's status feed wakes when one of its generations changes status (pushed, see
services/generation/generation_status_feed.py). It then takes the tab's state lock only to
copy what it needs and, after reading outside it, to apply the fresh cards — never across a
query."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol, TypeVar

from sqlmodel import Session

from stylestudio.db import get_engine
from stylestudio.runtime import get_prediction_engine
from stylestudio.services.accounts import accounts
from stylestudio.services.accounts.accounts import CurrentUser
from stylestudio.services.errors import DomainError
from stylestudio.services.generation import generation_flows
from stylestudio.services.generation.generation_status_feed import StatusWatch, get_feed
from stylestudio.services.generation.generation_views import GenerationView, get_generation_views
from stylestudio.state.calls import in_session
from stylestudio.state.session import SessionState

log = logging.getLogger(__name__)

# A generation outlasting this is still running in the worker; the gallery will show it.
WATCH_TIMEOUT_SECONDS = 15 * 60
TAB_GONE_SECONDS = 30.0
# How often an idle watcher looks at its tab (still connected? past its deadline?): memory
# only, no query and no lock.
CHECK_TAB_SECONDS = 5.0
# Watchers running in this process, by id. A tab whose watcher id is not here (the backend
# restarted, or the watcher died) has nobody watching, whatever its state says.
LIVE_WATCHES: dict[str, StatusWatch] = {}

Statuses = dict[int, str]
Loaded = TypeVar("Loaded")


class CardReader(Protocol):
    """How a watcher reads its cards again (get_generation_views, or the gallery's cards)."""

    def __call__(
        self, session: Session, *, user_id: int, generation_ids: list[int], base_url: str
    ) -> list[GenerationView]: ...


def open_statuses(rows: Iterable[GenerationView]) -> Statuses:
    """The status each open (not yet ended) card shows, by generation id."""
    return {r.id: r.status for r in rows if not r.is_terminal}


def is_live(watch_id: str) -> bool:
    return bool(watch_id) and watch_id in LIVE_WATCHES


def merge_views(
    rows: list[GenerationView], views: Iterable[GenerationView]
) -> tuple[list[GenerationView], bool]:
    """`rows` with the fresh `views` in their places (by id), and whether one of those has
    just ended."""
    fresh = {v.id: v for v in views}
    merged = [fresh.get(row.id, row) for row in rows]
    ended = any(
        new.is_terminal and not old.is_terminal for old, new in zip(rows, merged, strict=True)
    )
    return merged, ended


def follow(watch_id: str, statuses: Statuses) -> bool:
    """Point a live watcher at these open cards (new ones are read once at once); False
    when no watcher of that id runs in this process."""
    watch = LIVE_WATCHES.get(watch_id) if watch_id else None
    if watch is None:
        return False
    watch.follow(statuses)
    return True


async def run_watch(
    *,
    watch_id: str,
    replaces: str,
    client_token: str,
    statuses: Statuses,
    refresh: Callable[[frozenset[int]], Awaitable[Statuses | None]],
    timeout_s: float | None = None,
) -> None:
    """Wait for changes of these cards and `refresh` on each (it reads, applies and returns
    the cards still open, or None to stop). Ends when none is open, the tab has been gone
    TAB_GONE_SECONDS, WATCH_TIMEOUT_SECONDS have passed, or `replaces`'s successor starts."""
    old = LIVE_WATCHES.pop(replaces, None) if replaces else None
    if old is not None:
        old.close()
    watch = LIVE_WATCHES[watch_id] = get_feed().watch()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (WATCH_TIMEOUT_SECONDS if timeout_s is None else timeout_s)
    gone_since: float | None = None
    try:
        watch.follow(statuses)  # every card counts as new: read once, now
        while not watch.closed and loop.time() < deadline:
            if tab_is_connected(client_token):
                gone_since = None
                wait = CHECK_TAB_SECONDS
            else:
                gone_since = loop.time() if gone_since is None else gone_since
                wait = TAB_GONE_SECONDS - (loop.time() - gone_since)
                if wait <= 0:
                    return
            changed = await watch.wait(timeout=min(wait, CHECK_TAB_SECONDS))
            if not changed or watch.closed:
                continue
            still_open = await refresh(changed)
            if not still_open:
                return
            watch.follow(still_open)
    finally:
        watch.close()
        if LIVE_WATCHES.get(watch_id) is watch:
            del LIVE_WATCHES[watch_id]


async def watch_cards(
    tab: SessionState,
    *,
    slot: str,
    cards: Callable[[], list[GenerationView]],
    load: Callable[[Session, str | None, list[int]], Loaded],
    apply: Callable[[Loaded], Statuses | None],
    what: str,
    on_stop: Callable[[], None] | None = None,
    keep_live: bool = False,
    timeout_s: float | None = None,
) -> None:
    """Follow the open generations among `cards()` from a background event of `tab` until
    they end (see `run_watch`), whatever stops it.

    `slot` names the tab's backend var holding the id of its current watcher: a newer watcher
    replaces this one, or with `keep_live` this one does not start while a live one runs. On
    each change `load(session, token, open ids)` reads in a thread, no lock held, with the
    cookie of the tab's current connection; then `apply` puts what it read in place, inside
    the tab's lock, and returns the cards still open (None: stop). However it stops — all
    ended, replaced, signed out (logged), an error (logged with its traceback) — the slot is
    cleared and `on_stop` runs, if this is still the tab's watcher."""
    watch_id = uuid.uuid4().hex
    async with tab:
        replaces = getattr(tab, slot)
        if keep_live and is_live(replaces):
            return
        setattr(tab, slot, watch_id)
        client_token = tab.router.session.client_token
        statuses = open_statuses(cards())

    async def refresh(_changed: frozenset[int]) -> Statuses | None:
        async with tab:
            if getattr(tab, slot) != watch_id:
                return None  # replaced by a newer watcher
            token = tab.session_token
            open_ids = list(open_statuses(cards()))
        if not open_ids:
            return None
        loaded = await in_session(lambda s: load(s, token, open_ids), write=False)
        async with tab:
            return apply(loaded) if getattr(tab, slot) == watch_id else None

    try:
        await run_watch(
            watch_id=watch_id,
            replaces=replaces,
            client_token=client_token,
            statuses=statuses,
            refresh=refresh,
            timeout_s=timeout_s,
        )
    except DomainError as exc:  # signed out, or the generations are gone
        log.info("stopped %s: %s", what, exc.message)
    except Exception:
        log.exception("%s failed", what)
    finally:
        async with tab:
            if getattr(tab, slot) == watch_id:
                setattr(tab, slot, "")
                if on_stop is not None:
                    on_stop()


async def cancel_for_user(user_id: int, generation_id: int) -> None:
    """The owner's `Cancel` (see generation_flows.cancel_generation)."""
    await generation_flows.cancel_generation(
        db=get_engine(),
        predictions=get_prediction_engine(),
        user_id=user_id,
        generation_id=generation_id,
    )


def tab_is_connected(client_token: str) -> bool:
    """Whether the tab behind this Reflex client token has a websocket on this process."""
    from reflex.utils.prerequisites import get_app

    namespace = get_app().app.event_namespace
    return namespace is None or client_token in namespace.token_to_sid


def views_for_token(
    session: Session,
    *,
    token: str | None,
    ids: list[int],
    base: str,
    cards: CardReader = get_generation_views,
) -> tuple[CurrentUser, list[GenerationView]]:
    """The signed-in user (the header's numbers) and the views of their generations `ids`,
    read by `cards`."""
    user = accounts.require_user(session, token=token)
    return user, cards(session, user_id=user.id, generation_ids=ids, base_url=base)
