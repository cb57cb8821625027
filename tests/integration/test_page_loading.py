"""Pages that load data tell "not loaded yet" (a skeleton) from "nothing there" (the empty
state), and the gallery's header numbers follow its generations. The page states' event
handlers run in a Reflex state tree, against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import reflex as rx
from reflex.istate.manager import StateManager
from reflex.istate.manager.memory import StateManagerMemory
from reflex.state import BaseState
from reflex_base.config import get_config
from reflex_base.constants import StateManagerMode
from sqlalchemy.engine import Engine

from stylestudio.adapters.local_engine.engine import LocalEngine
from stylestudio.adapters.storage import LocalStorage
from stylestudio.db import session_scope
from stylestudio.services import accounts
from stylestudio.services.stats import UserStats, no_stats
from stylestudio.settings import get_settings
from stylestudio.state.credits import CreditsState
from stylestudio.state.explore import ExploreState
from stylestudio.state.gallery import GalleryState
from tests.integration.test_generation_flow import _run, _start, _upload, _user
from tests.support.tab_cookie import connect_with_cookie


@pytest.fixture
def app_db(db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The app's configured database is the test's."""
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("STYLESTUDIO_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield db
    get_settings.cache_clear()


@pytest.fixture
async def state_manager(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[StateManager]:
    monkeypatch.setattr(get_config(), "state_manager_mode", StateManagerMode.MEMORY)
    manager = StateManager.create()
    assert type(manager) is StateManagerMemory
    yield manager
    await manager.close()


def _signed_in(db: Engine, user_id: int) -> str:
    with session_scope(db) as session:
        return accounts.start_session(session, user_id=user_id)


async def _send(state: BaseState, handler: str, *args: object) -> None:
    """Run one of the state's event handlers, by name, as an event from the page would."""
    result = type(state).event_handlers[handler].fn(state, *args)
    if inspect.isasyncgen(result):
        async for _ in result:
            pass
    elif inspect.isawaitable(result):
        await result


def _tab() -> rx.BaseStateToken:
    return rx.BaseStateToken(ident=str(uuid.uuid4()), cls=GalleryState)


async def test_gallery_shows_a_skeleton_until_its_first_page_and_numbers_arrive(
    app_db: Engine, storage: LocalStorage, state_manager: StateManager
) -> None:
    user_id = _user(app_db, "shelf@example.com")
    image = _upload(app_db, storage, user_id)
    _start(app_db, user_id=user_id, image_id=image, key="done")
    assert await asyncio.to_thread(_run, app_db, storage, LocalEngine())  # it runs its own loop
    queued = _start(app_db, user_id=user_id, image_id=image, key="queued")

    async with state_manager.modify_state(_tab()) as root:
        connect_with_cookie(root, _signed_in(app_db, user_id))
        gallery = await root.get_state(GalleryState)
        # What a tab shows before its on_load has answered: the skeleton, not "No images".
        assert (gallery.loaded, gallery.items, gallery.stats) == (False, [], no_stats())

        await _send(gallery, "open_gallery")
        assert gallery.loaded
        assert gallery.items[0].id == queued  # newest first
        assert gallery.stats == UserStats(
            generations=2, completed=1, finished=1, success_rate="100%", credits_used=2
        )

        # Cancelling the queued card ends a generation the gallery follows: the numbers
        # move with it (one more finished, its credit refunded).
        await _send(gallery, "cancel", queued)
        assert gallery.stats == UserStats(
            generations=2, completed=1, finished=2, success_rate="50%", credits_used=1
        )

        # A filter that matches nothing is the "Nothing matches" state, never the skeleton.
        await _send(gallery, "set_filter_status", "failed")
        assert (gallery.loaded, gallery.items) == (True, [])


async def test_a_new_user_in_the_tab_sees_a_skeleton_not_the_previous_gallery(
    app_db: Engine, storage: LocalStorage, state_manager: StateManager
) -> None:
    first = _user(app_db, "first@example.com")
    _start(app_db, user_id=first, image_id=_upload(app_db, storage, first), key="mine")
    second = _user(app_db, "second@example.com")

    async with state_manager.modify_state(_tab()) as root:
        connect_with_cookie(root, _signed_in(app_db, first))
        gallery = await root.get_state(GalleryState)
        await _send(gallery, "open_gallery")
        assert gallery.loaded and len(gallery.items) == 1

        # The second user signs in through another tab (the cookie is shared): this tab's
        # next event drops the first user's gallery, and shows no empty state until the
        # second user's has loaded.
        connect_with_cookie(root, _signed_in(app_db, second))
        await _send(gallery, "load_more")
        assert (gallery.loaded, gallery.items, gallery.stats) == (False, [], no_stats())

        await _send(gallery, "open_gallery")
        assert (gallery.loaded, gallery.items) == (True, [])  # now "No images yet" is true
        assert gallery.stats.generations == 0


async def test_explore_and_credits_show_a_skeleton_until_loaded(
    app_db: Engine, state_manager: StateManager
) -> None:
    user_id = _user(app_db, "buyer@example.com")
    async with state_manager.modify_state(_tab()) as root:
        connect_with_cookie(root, _signed_in(app_db, user_id))
        explore = await root.get_state(ExploreState)
        credits = await root.get_state(CreditsState)
        assert not explore.loaded and not credits.loaded

        await _send(explore, "open_explore")
        assert (explore.loaded, explore.items) == (True, [])  # "Nothing featured yet"
        await _send(credits, "open_credits")
        assert credits.loaded
        assert [line.kind for line in credits.history] == ["Grant"]  # the free trial
