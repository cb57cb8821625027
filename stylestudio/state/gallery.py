"""/gallery: the user's own generations, their collections, sharing and featuring."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import reflex as rx
from sqlmodel import Session

from stylestudio.db import get_engine
from stylestudio.runtime import get_storage
from stylestudio.services.accounts.accounts import CurrentUser
from stylestudio.services.billing import pricing
from stylestudio.services.errors import DomainError
from stylestudio.services.generation import generation_flows, generation_views
from stylestudio.services.generation.generation_views import GenerationView
from stylestudio.services.ids import is_row_id
from stylestudio.services.library import collections
from stylestudio.services.library.collections import CollectionView
from stylestudio.services.library.stats import UserStats, no_stats, user_stats
from stylestudio.services.moderation import featuring
from stylestudio.state import generation_watch as watch
from stylestudio.state.arguments import FLAG, ROW_ID, ROW_ID_OR_ZERO, checked, choice, form, text
from stylestudio.state.calls import in_session
from stylestudio.state.form_values import clip_text as _text
from stylestudio.state.gallery_sharing import GallerySharing
from stylestudio.state.generation_watch import cancel_for_user
from stylestudio.state.infinite_scroll import INFINITE_SCROLL_JS
from stylestudio.state.session import SessionState, media_base_url

GALLERY_PAGE_SIZE = 24
_STATUSES = {"pending", "processing", "completed", "failed", "cancelled"}
FOLLOW_FOR_SECONDS = 15 * 60
# What the follower reads on a change: the user, the cards, the header's numbers if one ended.
_Followed = tuple[CurrentUser, list[GenerationView], UserStats | None]


def _cards() -> list[GenerationView]:
    return []


def _collections() -> list[CollectionView]:
    return []


class GalleryState(SessionState, GallerySharing):
    items: rx.Field[list[GenerationView]] = rx.field(default_factory=_cards)
    has_more: rx.Field[bool] = rx.field(False)
    cancelling: rx.Field[int] = rx.field(0)
    message: rx.Field[str] = rx.field("")
    message_failed: rx.Field[bool] = rx.field(False)
    acting: rx.Field[int] = rx.field(0)
    feature_open: rx.Field[bool] = rx.field(False)
    feature_image: rx.Field[int] = rx.field(0)
    feature_title: rx.Field[str] = rx.field("")
    feature_error: rx.Field[str] = rx.field("")
    # Filters and collections.
    filter_status: rx.Field[str] = rx.field("")
    filter_style: rx.Field[str] = rx.field("")
    filter_collection: rx.Field[int] = rx.field(0)
    query: rx.Field[str] = rx.field("")
    collections: rx.Field[list[CollectionView]] = rx.field(default_factory=_collections)
    new_collection: rx.Field[str] = rx.field("")
    rename_to: rx.Field[str] = rx.field("")
    confirm_delete: rx.Field[int] = rx.field(0)
    # The header's numbers, loaded with the first page.
    stats: rx.Field[UserStats] = rx.field(default_factory=no_stats)
    # False until this tab holds the user's first page (again after a change of user, when
    # SessionState resets every page's state): the page shows a skeleton, not "No images".
    loaded: rx.Field[bool] = rx.field(False)
    _follow_id: str = ""

    @rx.event
    async def open_gallery(self):
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        self.message = ""
        await self._reload(user.id)
        follow = self._follow_if_open()
        return [rx.call_script(INFINITE_SCROLL_JS), *([follow] if follow else [])]

    async def _reload(self, user_id: int) -> None:
        """The first page, the collections and the header's numbers. Until they arrive the
        page keeps what it shows (the previous cards, or the skeleton)."""
        self.items = await self._page(user_id, before_id=None)

        def load(s: Session) -> tuple[list[CollectionView], UserStats]:
            return (
                collections.list_collections(s, user_id=user_id),
                user_stats(s, user_id=user_id),
            )

        self.collections, self.stats = await in_session(load, write=False)
        if self.filter_collection and not any(
            c.id == self.filter_collection for c in self.collections
        ):
            self.filter_collection = 0
        self.loaded = True

    async def _reload_stats(self, user_id: int) -> None:
        self.stats = await in_session(lambda s: user_stats(s, user_id=user_id), write=False)

    async def _refilter(self):
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        await self._reload(user.id)
        return self._follow_if_open()

    @rx.event
    @checked(value=choice("all", "", *sorted(_STATUSES)))
    async def set_filter_status(self, value: str):
        self.filter_status = value if value in _STATUSES else ""
        return await self._refilter()

    @rx.event
    @checked(value=choice("all", "", *pricing.STYLE_PRESETS))
    async def set_filter_style(self, value: str):
        self.filter_style = value if value in pricing.STYLE_PRESETS else ""
        return await self._refilter()

    @rx.event
    @checked(collection_id=ROW_ID_OR_ZERO)
    async def select_collection(self, collection_id: int):
        self.filter_collection = collection_id if is_row_id(collection_id) else 0
        self.rename_to = ""
        return await self._refilter()

    @rx.event
    @checked(value=text(200))
    async def search(self, value: str):
        self.query = _text(value, 200)
        return await self._refilter()

    @rx.event
    @checked(value=text(200))
    def set_new_collection(self, value: str) -> None:
        self.new_collection = _text(value, 200)

    @rx.event
    @checked(value=text(200))
    def set_rename_to(self, value: str) -> None:
        self.rename_to = _text(value, 200)

    @rx.event
    async def create_collection(self):
        return await self._create_collection()

    @rx.event
    @checked(_form=form(name=200))
    async def submit_new_collection(self, _form: dict[str, Any]):
        """Enter in the name field (the form's submit): the name is the state's, as typed."""
        return await self._create_collection()

    async def _create_collection(self):
        name = self.new_collection
        return await self._collections_change(
            lambda s, uid: collections.create_collection(s, user_id=uid, name=name),
            done="Collection created.",
            clear_new=True,
        )

    @rx.event
    async def rename_collection(self):
        cid, name = self.filter_collection, self.rename_to
        return await self._collections_change(
            lambda s, uid: collections.rename_collection(
                s, user_id=uid, collection_id=cid, name=name
            ),
            done="Renamed.",
        )

    @rx.event
    async def delete_collection(self):
        cid = self.filter_collection
        self.filter_collection = 0
        return await self._collections_change(
            lambda s, uid: collections.delete_collection(s, user_id=uid, collection_id=cid),
            done="Collection deleted; its images stay in your gallery.",
        )

    @rx.event
    @checked(image_id=ROW_ID, collection_id=ROW_ID)
    async def toggle_collection(self, image_id: int, collection_id: int):
        item = next((i for i in self.items if i.image_id == image_id), None)
        inside = item is not None and collection_id in item.in_collections

        def change(s: Session, uid: int) -> object:
            if inside:
                collections.remove_image(
                    s, user_id=uid, collection_id=collection_id, image_id=image_id
                )
                return None
            return collections.add_image(
                s, user_id=uid, collection_id=collection_id, image_id=image_id
            )

        return await self._collections_change(
            change, done="Removed from the collection." if inside else "Added to the collection."
        )

    async def _collections_change(
        self, change: Callable[[Session, int], object], *, done: str, clear_new: bool = False
    ):
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        try:
            await in_session(lambda s: change(s, user.id))
        except DomainError as exc:
            self._say(exc.message, failed=True)
            return None
        if clear_new:
            self.new_collection = ""
        self.rename_to = ""
        await self._reload(user.id)
        self._say(done)
        return self._follow_if_open()

    @rx.event
    async def load_more(self):
        user = await self._current_user()
        if user is None or not self.items:
            return None
        self.items = self.items + await self._page(user.id, before_id=self.items[-1].id)
        return self._follow_if_open()

    @rx.event
    @checked(generation_id=ROW_ID)
    async def cancel(self, generation_id: int):
        """`Cancel` on a queued or running card."""
        if self.cancelling or not isinstance(generation_id, int):
            return
        self.cancelling, self.message = generation_id, ""
        yield
        try:
            user = await self._current_user()
            if user is None:
                yield rx.redirect("/login")
                return
            await cancel_for_user(user.id, generation_id)
            await self._refresh_open(user.id)
            await self._current_user()  # the refund shows in the header
        except DomainError as exc:
            self.message = exc.message
        finally:
            self.cancelling = 0

    # -- delete ----------------------------------------------------------------------------

    @rx.event
    @checked(generation_id=ROW_ID)
    def ask_delete(self, generation_id: int) -> None:
        self.confirm_delete = generation_id if is_row_id(generation_id) else 0

    @rx.event
    @checked(generation_id=ROW_ID)
    async def delete(self, generation_id: int):
        if not is_row_id(generation_id) or self.confirm_delete != generation_id:
            return
        self.confirm_delete = 0
        user = await self._current_user()
        if user is None:
            yield rx.redirect("/login")
            return
        try:
            await asyncio.to_thread(
                generation_flows.delete_generation,
                db=get_engine(),
                storage=get_storage(),
                user_id=user.id,
                generation_id=generation_id,
            )
        except DomainError as exc:
            self._say(exc.message, failed=True)
            return
        self.items = [i for i in self.items if i.id != generation_id]
        await self._reload_stats(user.id)
        self._say("Deleted. The credits it used stay spent.")

    # -- featuring -------------------------------------------------------------------------

    @rx.event
    @checked(image_id=ROW_ID)
    def ask_featuring(self, image_id: int) -> None:
        if not isinstance(image_id, int) or not any(i.image_id == image_id for i in self.items):
            return
        self.feature_image, self.feature_title, self.feature_error = image_id, "", ""
        self.feature_open = True

    @rx.event
    @checked(value=text(featuring.MAX_TITLE * 2))
    def set_feature_title(self, value: str) -> None:
        self.feature_title = _text(value, featuring.MAX_TITLE * 2)

    @rx.event
    @checked(value=FLAG)
    def set_feature_open(self, value: bool) -> None:
        self.feature_open = bool(value)

    @rx.event
    async def submit_featuring(self):
        image_id, title = self.feature_image, self.feature_title
        if not image_id or self.acting:
            return
        self.acting = image_id
        yield
        try:
            user = await self._current_user()
            if user is None:
                yield rx.redirect("/login")
                return
            await in_session(
                lambda s: featuring.request_featuring(
                    s, user_id=user.id, image_id=image_id, title=title
                )
            )
            self.feature_open = False
            await self._refresh_image(user.id, image_id)
            self._say("Sent for review. You will see the decision on the card.")
        except DomainError as exc:
            self.feature_error = exc.message
        finally:
            self.acting = 0

    @rx.event
    @checked(image_id=ROW_ID)
    async def withdraw(self, image_id: int):
        if not isinstance(image_id, int) or self.acting:
            return
        self.acting = image_id
        yield
        try:
            user = await self._current_user()
            if user is None:
                yield rx.redirect("/login")
                return
            await in_session(lambda s: featuring.withdraw(s, user_id=user.id, image_id=image_id))
            await self._refresh_image(user.id, image_id)
            self._say("Withdrawn: it is no longer on Explore.")
        except DomainError as exc:
            self._say(exc.message, failed=True)
        finally:
            self.acting = 0

    # -- share links -----------------------------------------------------------------------

    @rx.event
    @checked(image_id=ROW_ID)
    async def open_share(self, image_id: int):
        if not isinstance(image_id, int) or not any(i.image_id == image_id for i in self.items):
            return None
        self.share_image, self.share_expiry = image_id, "7d"
        self.share_new_url = self.share_error = ""
        self.share_open = True
        return await self._load_links()

    def _say(self, text: str, *, failed: bool = False) -> None:
        self.message, self.message_failed = text, failed

    async def _refresh_image(self, user_id: int, image_id: int) -> None:
        ids = [i.id for i in self.items if i.image_id == image_id]
        await self._refresh(user_id, ids)

    def _open_ids(self) -> list[int]:
        return [item.id for item in self.items if not item.is_terminal]

    def _follow_if_open(self):
        """Start following the open cards, or point the running follower at them."""
        statuses = watch.open_statuses(self.items)
        if statuses and not watch.follow(self._follow_id, statuses):
            return GalleryState.follow_open
        return None

    async def _refresh_open(self, user_id: int) -> None:
        await self._refresh(user_id, self._open_ids())

    async def _refresh(self, user_id: int, ids: list[int]) -> None:
        base = media_base_url()
        if not ids:
            return
        views = await in_session(
            lambda s: generation_views.gallery_cards(
                s, user_id=user_id, generation_ids=ids, base_url=base
            ),
            write=False,
        )
        self.items, ended = watch.merge_views(self.items, views)
        if ended:  # a followed (or cancelled) generation ended: the header's numbers moved
            await self._reload_stats(user_id)

    @rx.event(background=True)
    async def follow_open(self) -> None:
        """Keep queued and running cards live until they end: woken by each pushed status
        change of one of them (idle, it costs no query and holds no lock)."""
        base = media_base_url()

        def load(s: Session, token: str | None, ids: list[int]) -> _Followed:
            user, views = watch.views_for_token(
                s, token=token, ids=ids, base=base, cards=generation_views.gallery_cards
            )
            ended = any(v.is_terminal for v in views)
            return user, views, user_stats(s, user_id=user.id) if ended else None

        def apply(loaded: _Followed) -> watch.Statuses | None:
            user, views, stats = loaded
            if user.id != self._user_id:
                return None
            self.items, _ended = watch.merge_views(self.items, views)
            if stats is not None:  # a followed generation ended: the numbers moved
                self.stats = stats
                self._show(user)  # and a refund shows in the header
            return watch.open_statuses(self.items)

        await watch.watch_cards(
            self,
            slot="_follow_id",
            cards=lambda: self.items,
            load=load,
            apply=apply,
            what="following the gallery",
            keep_live=True,
            timeout_s=FOLLOW_FOR_SECONDS,
        )

    async def _page(self, user_id: int, *, before_id: int | None) -> list[GenerationView]:
        base = media_base_url()
        filters = generation_views.GalleryFilter(
            status=self.filter_status,
            style=self.filter_style,
            collection_id=self.filter_collection,
            query=self.query,
        )

        views = await in_session(
            lambda s: generation_views.gallery_page(
                s,
                user_id=user_id,
                base_url=base,
                limit=GALLERY_PAGE_SIZE + 1,
                before_id=before_id,
                filters=filters,
            ),
            write=False,
        )
        self.has_more = len(views) > GALLERY_PAGE_SIZE
        return views[:GALLERY_PAGE_SIZE]
