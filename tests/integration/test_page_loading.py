"""Pages that load data tell "not loaded yet" (a skeleton) from "nothing there" (the empty
state), and the gallery's header numbers follow its generations. The page states' event
handlers run in a Reflex state tree, against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import reflex as rx
from reflex.istate.manager import StateManager
from sqlalchemy.engine import Engine

from stylestudio.adapters.local_engine.engine import LocalEngine
from stylestudio.adapters.storage import LocalStorage
from stylestudio.services.library.stats import UserStats, no_stats
from stylestudio.state.credits import CreditsState
from stylestudio.state.explore import ExploreState
from stylestudio.state.gallery import GalleryState
from tests.support.app_states import app_db as app_db
from tests.support.app_states import run_handler
from tests.support.app_states import state_manager as state_manager
from tests.support.builders import (
    new_generation,
    new_upload,
    new_user,
    run_one_job,
    signed_in_session,
)
from tests.support.tab_cookie import connect_with_cookie


def _tab() -> rx.BaseStateToken:
    return rx.BaseStateToken(ident=str(uuid.uuid4()), cls=GalleryState)


async def test_gallery_shows_a_skeleton_until_its_first_page_and_numbers_arrive(
    app_db: Engine, storage: LocalStorage, state_manager: StateManager
) -> None:
    user_id = new_user(app_db, "shelf@example.com")
    image = new_upload(app_db, storage, user_id)
    new_generation(app_db, user_id=user_id, image_id=image, key="done")
    # run_one_job runs its own event loop: off this one
    assert await asyncio.to_thread(run_one_job, app_db, storage, LocalEngine())
    queued = new_generation(app_db, user_id=user_id, image_id=image, key="queued")

    async with state_manager.modify_state(_tab()) as root:
        connect_with_cookie(root, signed_in_session(app_db, user_id))
        gallery = await root.get_state(GalleryState)
        # What a tab shows before its on_load has answered: the skeleton, not "No images".
        assert (gallery.loaded, gallery.items, gallery.stats) == (False, [], no_stats())

        await run_handler(gallery, "open_gallery")
        assert gallery.loaded
        assert gallery.items[0].id == queued  # newest first
        assert gallery.stats == UserStats(
            generations=2, completed=1, finished=1, success_rate="100%", credits_used=2
        )

        # Cancelling the queued card ends a generation the gallery follows: the numbers
        # move with it (one more finished, its credit refunded).
        await run_handler(gallery, "cancel", queued)
        assert gallery.stats == UserStats(
            generations=2, completed=1, finished=2, success_rate="50%", credits_used=1
        )

        # A filter that matches nothing is the "Nothing matches" state, never the skeleton.
        await run_handler(gallery, "set_filter_status", "failed")
        assert (gallery.loaded, gallery.items) == (True, [])


async def test_a_new_user_in_the_tab_sees_a_skeleton_not_the_previous_gallery(
    app_db: Engine, storage: LocalStorage, state_manager: StateManager
) -> None:
    first = new_user(app_db, "first@example.com")
    new_generation(app_db, user_id=first, image_id=new_upload(app_db, storage, first), key="mine")
    second = new_user(app_db, "second@example.com")

    async with state_manager.modify_state(_tab()) as root:
        connect_with_cookie(root, signed_in_session(app_db, first))
        gallery = await root.get_state(GalleryState)
        await run_handler(gallery, "open_gallery")
        assert gallery.loaded and len(gallery.items) == 1

        # The second user signs in through another tab (the cookie is shared): this tab's
        # next event drops the first user's gallery, and shows no empty state until the
        # second user's has loaded.
        connect_with_cookie(root, signed_in_session(app_db, second))
        await run_handler(gallery, "load_more")
        assert (gallery.loaded, gallery.items, gallery.stats) == (False, [], no_stats())

        await run_handler(gallery, "open_gallery")
        assert (gallery.loaded, gallery.items) == (True, [])  # now "No images yet" is true
        assert gallery.stats.generations == 0


async def test_explore_and_credits_show_a_skeleton_until_loaded(
    app_db: Engine, state_manager: StateManager
) -> None:
    user_id = new_user(app_db, "buyer@example.com")
    async with state_manager.modify_state(_tab()) as root:
        connect_with_cookie(root, signed_in_session(app_db, user_id))
        explore = await root.get_state(ExploreState)
        credits = await root.get_state(CreditsState)
        assert not explore.loaded and not credits.loaded

        await run_handler(explore, "open_explore")
        assert (explore.loaded, explore.items) == (True, [])  # "Nothing featured yet"
        await run_handler(credits, "open_credits")
        assert credits.loaded
        assert [line.kind for line in credits.history] == ["Grant"]  # the free trial
