"""Following generations from a tab, and cancelling them: shared by the studio and the
gallery.

A watcher costs nothing while nothing changes: it awaits its `StatusWatch`, which the
process's status feed wakes when one of its generations changes status (pushed, see
services/generation_status_feed.py). It then takes the tab's state lock only to copy what it
needs and, after reading outside it, to apply the fresh cards — never across a query."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from sqlmodel import Session

from stylestudio.runtime import get_prediction_engine
from stylestudio.services import accounts, generations
from stylestudio.services.accounts import CurrentUser
from stylestudio.services.generation_predictions import cancel_quietly
from stylestudio.services.generation_status_feed import StatusWatch, get_feed
from stylestudio.services.generation_views import GenerationView, get_generation_views
from stylestudio.state.calls import in_session

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


def open_statuses(rows: Iterable[GenerationView]) -> Statuses:
    """The status each open (not yet ended) card shows, by generation id."""
    return {r.id: r.status for r in rows if not r.is_terminal}


def is_live(watch_id: str) -> bool:
    return bool(watch_id) and watch_id in LIVE_WATCHES


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


async def cancel_for_user(user_id: int, generation_id: int) -> None:
    """Cancel in our database first (the one terminal transition), then at the provider."""
    prediction_id = await in_session(
        lambda s: generations.cancel_generation(s, user_id=user_id, generation_id=generation_id)
    )
    engine = get_prediction_engine()
    if prediction_id and engine is not None:  # cancelled here whatever the provider says
        await cancel_quietly(engine, prediction_id)


def tab_is_connected(client_token: str) -> bool:
    """Whether the tab behind this Reflex client token has a websocket on this process."""
    from reflex.utils.prerequisites import get_app

    namespace = get_app().app.event_namespace
    return namespace is None or client_token in namespace.token_to_sid


def views_for_token(
    session: Session, *, token: str | None, ids: list[int], base: str
) -> tuple[CurrentUser, list[GenerationView]]:
    """The signed-in user (the header's numbers) and the views of their generations `ids`."""
    user = accounts.require_user(session, token=token)
    views = get_generation_views(session, user_id=user.id, generation_ids=ids, base_url=base)
    return user, views
