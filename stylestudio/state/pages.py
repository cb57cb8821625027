"""Read-mostly pages: the user's gallery, the public gallery and admin."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import reflex as rx
from sqlmodel import Session

from stylestudio import runtime
from stylestudio.adapters.payments import PaymentProviderError
from stylestudio.db import get_engine
from stylestudio.services import (
    accounts,
    admin,
    billing_admin,
    checkout,
    collections,
    featuring,
    generations,
    pricing,
    sharing,
    showcase,
)
from stylestudio.services.billing_admin import AuditRow, EditablePack, PurchaseRow
from stylestudio.services.errors import DomainError, ForbiddenError, UnauthorizedError
from stylestudio.services.ids import is_row_id
from stylestudio.state.calls import in_session
from stylestudio.state.session import SessionState, media_base_url
from stylestudio.state.studio import cancel_for_user, tab_is_connected

log = logging.getLogger(__name__)

GALLERY_PAGE_SIZE = 24
EXPLORE_PAGE_SIZE = 24
# Infinite scroll: a "Load more" button presses itself when it scrolls into view (and stays
# a plain button for keyboards). Installed once per page load by the pages' on_load.
INFINITE_SCROLL_JS = """
(() => {
  if (window.__styleStudioInfinite) return;
  window.__styleStudioInfinite = true;
  const seen = new IntersectionObserver((entries) => entries.forEach((e) => {
    if (e.isIntersecting && !e.target.disabled) e.target.click();
  }), { rootMargin: "300px" });
  const watch = () => document.querySelectorAll(".load-more").forEach((b) => {
    if (!b.dataset.watched) { b.dataset.watched = "1"; seen.observe(b); }
  });
  new MutationObserver(watch).observe(document.body, { childList: true, subtree: true });
  watch();
})();
"""
_STATUSES = {"pending", "processing", "completed", "failed", "cancelled"}


def _rows() -> list[dict[str, Any]]:
    return []


def _record() -> dict[str, Any]:
    return {}


FOLLOW_SECONDS = 0.25
FOLLOW_FOR_SECONDS = 15 * 60


class GalleryState(SessionState):
    items: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=_rows)
    has_more: rx.Field[bool] = rx.field(False)
    cancelling: rx.Field[int] = rx.field(0)
    message: rx.Field[str] = rx.field("")
    message_failed: rx.Field[bool] = rx.field(False)
    acting: rx.Field[int] = rx.field(0)
    feature_open: rx.Field[bool] = rx.field(False)
    feature_image: rx.Field[int] = rx.field(0)
    feature_title: rx.Field[str] = rx.field("")
    feature_error: rx.Field[str] = rx.field("")
    share_open: rx.Field[bool] = rx.field(False)
    share_image: rx.Field[int] = rx.field(0)
    share_expiry: rx.Field[str] = rx.field("7d")
    share_links: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=_rows)
    share_new_url: rx.Field[str] = rx.field("")
    share_error: rx.Field[str] = rx.field("")
    # Filters and collections.
    filter_status: rx.Field[str] = rx.field("")
    filter_style: rx.Field[str] = rx.field("")
    filter_collection: rx.Field[int] = rx.field(0)
    query: rx.Field[str] = rx.field("")
    collections: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=_rows)
    new_collection: rx.Field[str] = rx.field("")
    rename_to: rx.Field[str] = rx.field("")
    confirm_delete: rx.Field[int] = rx.field(0)
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
        self.items = await self._page(user_id, before_id=None)
        self.collections = [
            c.as_dict()
            for c in await in_session(
                lambda s: collections.list_collections(s, user_id=user_id), write=False
            )
        ]
        if self.filter_collection and not any(
            c["id"] == self.filter_collection for c in self.collections
        ):
            self.filter_collection = 0

    async def _refilter(self):
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        await self._reload(user.id)
        return self._follow_if_open()

    @rx.event
    async def set_filter_status(self, value: str):
        self.filter_status = value if value in _STATUSES else ""
        return await self._refilter()

    @rx.event
    async def set_filter_style(self, value: str):
        self.filter_style = value if value in pricing.STYLE_PRESETS else ""
        return await self._refilter()

    @rx.event
    async def select_collection(self, collection_id: int):
        self.filter_collection = collection_id if is_row_id(collection_id) else 0
        self.rename_to = ""
        return await self._refilter()

    @rx.event
    async def search(self, value: str):
        self.query = _text(value, 200)
        return await self._refilter()

    @rx.event
    def set_new_collection(self, value: str) -> None:
        self.new_collection = _text(value, 200)

    @rx.event
    def set_rename_to(self, value: str) -> None:
        self.rename_to = _text(value, 200)

    @rx.event
    async def create_collection(self):
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
    async def toggle_collection(self, image_id: int, collection_id: int):
        item = next((i for i in self.items if i.get("image_id") == image_id), None)
        inside = item is not None and collection_id in item.get("in_collections", [])

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
        self.items = self.items + await self._page(user.id, before_id=int(self.items[-1]["id"]))
        return self._follow_if_open()

    @rx.event
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
    def ask_delete(self, generation_id: int) -> None:
        self.confirm_delete = generation_id if is_row_id(generation_id) else 0

    @rx.event
    async def delete(self, generation_id: int):
        if not is_row_id(generation_id) or self.confirm_delete != generation_id:
            return
        self.confirm_delete = 0
        user = await self._current_user()
        if user is None:
            yield rx.redirect("/login")
            return
        try:
            keys = await in_session(
                lambda s: generations.delete_generation(
                    s, user_id=user.id, generation_id=generation_id
                )
            )
        except DomainError as exc:
            self._say(exc.message, failed=True)
            return
        storage = runtime.get_storage()
        for key in keys:  # after the commit; a crash here leaves what `media sweep` finds
            try:
                await asyncio.to_thread(storage.delete, key)
            except Exception:
                log.warning("could not delete %s", key, exc_info=True)
        self.items = [i for i in self.items if int(i["id"]) != generation_id]
        self._say("Deleted. The credits it used stay spent.")

    # -- featuring -------------------------------------------------------------------------

    @rx.event
    def ask_featuring(self, image_id: int) -> None:
        if not isinstance(image_id, int) or not any(
            i.get("image_id") == image_id for i in self.items
        ):
            return
        self.feature_image, self.feature_title, self.feature_error = image_id, "", ""
        self.feature_open = True

    @rx.event
    def set_feature_title(self, value: str) -> None:
        self.feature_title = _text(value, featuring.MAX_TITLE * 2)

    @rx.event
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
    async def open_share(self, image_id: int):
        if not isinstance(image_id, int) or not any(
            i.get("image_id") == image_id for i in self.items
        ):
            return None
        self.share_image, self.share_expiry = image_id, "7d"
        self.share_new_url = self.share_error = ""
        self.share_open = True
        return await self._load_links()

    @rx.event
    def set_share_open(self, value: bool) -> None:
        self.share_open = bool(value)
        if not value:
            self.share_new_url = ""  # shown once: the link cannot be recovered later

    @rx.event
    def set_share_expiry(self, value: str) -> None:
        self.share_expiry = value if value in sharing.EXPIRY_CHOICES else "7d"

    @rx.event
    async def create_share(self):
        image_id, expiry = self.share_image, self.share_expiry
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        try:
            created = await in_session(
                lambda s: sharing.create_share_link(
                    s,
                    user_id=user.id,
                    image_id=image_id,
                    expires_in=expiry,  # type: ignore[arg-type]
                )
            )
        except DomainError as exc:
            self.share_error = exc.message
            return None
        self.share_new_url, self.share_error = (
            sharing.share_url(created.token, base_url=media_base_url()),
            "",
        )
        return await self._load_links()

    @rx.event
    async def revoke_share(self, link_id: int):
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        try:
            await in_session(
                lambda s: sharing.revoke_share_link(s, user_id=user.id, link_id=link_id)
            )
        except DomainError as exc:
            self.share_error = exc.message
        self.share_new_url = ""
        return await self._load_links()

    async def _load_links(self):
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        image_id = self.share_image
        try:
            links = await in_session(
                lambda s: sharing.list_share_links(s, user_id=user.id, image_id=image_id),
                write=False,
            )
        except DomainError as exc:
            self.share_error, self.share_links = exc.message, []
            return None
        self.share_links = [link.as_dict() for link in links]
        return None

    def _say(self, text: str, *, failed: bool = False) -> None:
        self.message, self.message_failed = text, failed

    async def _refresh_image(self, user_id: int, image_id: int) -> None:
        ids = [int(i["id"]) for i in self.items if i.get("image_id") == image_id]
        await self._refresh(user_id, ids)

    def _open_ids(self) -> list[int]:
        return [int(item["id"]) for item in self.items if not item.get("is_terminal")]

    def _follow_if_open(self):
        if self._open_ids() and not self._follow_id:
            return GalleryState.follow_open
        return None

    async def _refresh_open(self, user_id: int) -> None:
        await self._refresh(user_id, self._open_ids())

    async def _refresh(self, user_id: int, ids: list[int]) -> None:
        base = media_base_url()
        held_by = {int(i["id"]): i.get("in_collections", []) for i in self.items}
        if not ids:
            return
        views = await in_session(
            lambda s: generations.get_generation_views(
                s, user_id=user_id, generation_ids=ids, base_url=base
            ),
            write=False,
        )
        fresh = {v.id: {**v.as_dict(), "in_collections": held_by.get(v.id, [])} for v in views}
        self.items = [fresh.get(int(item["id"]), item) for item in self.items]

    @rx.event(background=True)
    async def follow_open(self) -> None:
        """Keep queued and running cards live (status within a second) until they end."""
        follow_id = uuid.uuid4().hex
        async with self:
            if self._follow_id:
                return
            self._follow_id = follow_id
            client_token = self.router.session.client_token
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FOLLOW_FOR_SECONDS
        try:
            while loop.time() < deadline and tab_is_connected(client_token):
                await asyncio.sleep(FOLLOW_SECONDS)
                async with self:
                    if self._follow_id != follow_id:
                        return
                    user = await self._current_user()
                    if user is None or not self._open_ids():
                        return
                    await self._refresh_open(user.id)
        finally:
            async with self:
                if self._follow_id == follow_id:
                    self._follow_id = ""

    async def _page(self, user_id: int, *, before_id: int | None) -> list[dict[str, Any]]:
        base = media_base_url()
        filters = generations.GalleryFilter(
            status=self.filter_status,
            style=self.filter_style,
            collection_id=self.filter_collection,
            query=self.query,
        )

        def load(s: Session) -> tuple[list[generations.GenerationView], dict[int, list[int]]]:
            views = generations.list_user_generations(
                s,
                user_id=user_id,
                base_url=base,
                limit=GALLERY_PAGE_SIZE + 1,
                before_id=before_id,
                filters=filters,
            )
            held = collections.collections_of_images(
                s, user_id=user_id, image_ids=[v.image_id for v in views if v.image_id]
            )
            return views, held

        views, held = await in_session(load, write=False)
        self.has_more = len(views) > GALLERY_PAGE_SIZE
        return [
            {**v.as_dict(), "in_collections": held.get(v.image_id, [])}
            for v in views[:GALLERY_PAGE_SIZE]
        ]


class ExploreState(SessionState):
    """/explore is public: no sign-in needed, only approved images are ever listed."""

    items: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=_rows)
    style: rx.Field[str] = rx.field("")
    has_more: rx.Field[bool] = rx.field(False)
    opened: rx.Field[dict[str, Any]] = rx.field(default_factory=_record)
    viewer_open: rx.Field[bool] = rx.field(False)

    @rx.event
    async def open_explore(self):
        await self._current_user()  # the header, when someone is signed in
        self.viewer_open = False
        self.items = await self._page(before=None)
        return rx.call_script(INFINITE_SCROLL_JS)

    @rx.event
    async def filter_style(self, style: str) -> None:
        self.style = style if isinstance(style, str) and style in pricing.STYLE_PRESETS else ""
        self.items = await self._page(before=None)

    @rx.event
    async def load_more(self) -> None:
        if not self.items:
            return
        self.items = self.items + await self._page(before=str(self.items[-1]["cursor"]))

    @rx.event
    async def open_image(self, image_id: int) -> None:
        base = media_base_url()
        try:
            item = await in_session(
                lambda s: showcase.get_public_image(s, image_id=image_id, base_url=base),
                write=False,
            )
        except DomainError:
            self.viewer_open = False
            self.items = await self._page(before=None)  # it left Explore meanwhile
            return
        self.opened, self.viewer_open = item.as_dict(), True

    @rx.event
    def set_viewer_open(self, value: bool) -> None:
        self.viewer_open = bool(value)

    async def _page(self, *, before: str | None) -> list[dict[str, Any]]:
        base, style = media_base_url(), self.style or None
        items = await in_session(
            lambda s: showcase.list_public_gallery(
                s, base_url=base, limit=EXPLORE_PAGE_SIZE + 1, style=style, before=before
            ),
            write=False,
        )
        self.has_more = len(items) > EXPLORE_PAGE_SIZE
        return [i.as_dict() for i in items[:EXPLORE_PAGE_SIZE]]


@dataclass(frozen=True)
class _AdminScreen:
    overview: admin.AdminOverview
    queue: list[dict[str, Any]]
    featured: list[dict[str, Any]]
    packs: list[EditablePack]
    settings: billing_admin.EditableBillingSettings
    purchases: list[PurchaseRow]
    revenue: str
    audit_log: list[AuditRow]


# What the admin is told after asking the provider about a purchase, by its new status.
_CHECK_OUTCOMES = {
    "pending": "the checkout is still open at the provider.",
    "processing": "payment processing — credits arrive when it clears.",
    "completed": "paid.",
    "failed": "the payment failed.",
    "expired": "the checkout expired or was cancelled.",
    "refunded": "refunded.",
}


def _pack_rows() -> list[EditablePack]:
    return []


def _purchase_rows() -> list[PurchaseRow]:
    return []


def _audit_rows() -> list[AuditRow]:
    return []


def _checked(value: object) -> bool:
    """A checkbox in a submitted form: present ("on") when ticked, absent otherwise."""
    return value in ("on", "true", True)


def _text(value: object, limit: int | None = None) -> str:
    """A text field as sent; anything but a string counts as empty. `limit` cuts it before
    it is kept (the services check the real length and say so)."""
    return (value if isinstance(value, str) else "")[:limit]


class AdminState(SessionState):
    """/admin. Every handler re-checks admin rights on the server, in the transaction that
    reads or writes; nothing the browser sends or holds is taken as authority."""

    stats: rx.Field[dict[str, Any]] = rx.field(default_factory=_record)
    by_status: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=_rows)
    queue: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=_rows)
    recent_users: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=_rows)
    flagged_users: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=_rows)
    denied: rx.Field[bool] = rx.field(False)
    loaded: rx.Field[bool] = rx.field(False)
    # Billing: the editable packs and settings, purchases, revenue and the audit log.
    pack_forms: rx.Field[list[EditablePack]] = rx.field(default_factory=_pack_rows)
    free_trial_credits: rx.Field[int] = rx.field(0)
    refund_on_failure: rx.Field[bool] = rx.field(True)
    purchases: rx.Field[list[PurchaseRow]] = rx.field(default_factory=_purchase_rows)
    revenue: rx.Field[str] = rx.field("")
    audit_log: rx.Field[list[AuditRow]] = rx.field(default_factory=_audit_rows)
    # Bumped on every load: the billing forms remount with the values just saved.
    revision: rx.Field[int] = rx.field(0)
    billing_message: rx.Field[str] = rx.field("")
    billing_failed: rx.Field[bool] = rx.field(False)
    purchase_message: rx.Field[str] = rx.field("")
    purchase_failed: rx.Field[bool] = rx.field(False)
    checking_purchase: rx.Field[int] = rx.field(0)
    # Moderation: the queue, what is featured now, a decision that needs a reason.
    featured: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=_rows)
    decide_open: rx.Field[bool] = rx.field(False)
    decide_action: rx.Field[str] = rx.field("")  # reject | take_down
    decide_image: rx.Field[int] = rx.field(0)
    decide_reason: rx.Field[str] = rx.field("")
    moderation_message: rx.Field[str] = rx.field("")
    moderation_failed: rx.Field[bool] = rx.field(False)
    moderating: rx.Field[int] = rx.field(0)
    publish_email: rx.Field[str] = rx.field("")
    publish_reason: rx.Field[str] = rx.field("")

    @rx.event
    async def approve(self, image_id: int):
        token = self.session_token
        await self._moderate(
            image_id,
            lambda s: featuring.approve(
                s,
                actor_user_id=accounts.require_admin(s, token=token).id,
                image_id=image_id,
            ),
            done="Approved: it is on Explore now.",
        )

    @rx.event
    def ask_reason(self, action: str, image_id: int) -> None:
        if action not in ("reject", "take_down") or not isinstance(image_id, int):
            return
        self.decide_action, self.decide_image, self.decide_reason = action, image_id, ""
        self.moderation_message = ""
        self.decide_open = True

    @rx.event
    def set_decide_reason(self, value: str) -> None:
        self.decide_reason = _text(value, featuring.MAX_REASON * 2)

    @rx.event
    def set_decide_open(self, value: bool) -> None:
        self.decide_open = bool(value)

    @rx.event
    async def confirm_decision(self):
        token, image_id, reason = self.session_token, self.decide_image, self.decide_reason
        decide = featuring.reject if self.decide_action == "reject" else featuring.take_down
        done = "Rejected." if self.decide_action == "reject" else "Taken down from Explore."
        ok = await self._moderate(
            image_id,
            lambda s: decide(
                s,
                actor_user_id=accounts.require_admin(s, token=token).id,
                image_id=image_id,
                reason=reason,
            ),
            done=done,
        )
        if ok:
            self.decide_open = False

    @rx.event
    def set_publish_email(self, value: str) -> None:
        self.publish_email = _text(value, 320)

    @rx.event
    def set_publish_reason(self, value: str) -> None:
        self.publish_reason = _text(value, featuring.MAX_REASON * 2)

    @rx.event
    async def set_publishing(self, suspended: bool):
        token, email, reason = self.session_token, self.publish_email, self.publish_reason
        done = "Publishing suspended." if suspended else "Publishing restored."
        ok = await self._moderate(
            0,
            lambda s: featuring.set_publishing(
                s,
                actor_user_id=accounts.require_admin(s, token=token).id,
                email=email,
                suspended=bool(suspended),
                reason=reason,
            ),
            done=f"{done} ({email.strip()})",
        )
        if ok:
            self.publish_email = self.publish_reason = ""

    async def _moderate(self, image_id: int, act: Callable[[Session], None], *, done: str) -> bool:
        self.moderating = image_id if isinstance(image_id, int) else 0
        try:
            await in_session(act)  # the admin check and the decision: one transaction
        except UnauthorizedError:
            self._deny()
            return False
        except ForbiddenError:
            self._deny()
            return False
        except DomainError as exc:
            self.moderation_message, self.moderation_failed = exc.message, True
            if self.decide_open:
                return False
            await self._load()
            return False
        finally:
            self.moderating = 0
        await self._load()
        self.moderation_message, self.moderation_failed = done, False
        return True

    @rx.event
    async def open_admin(self):
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        self.billing_message = self.purchase_message = ""
        await self._load()
        return None

    @rx.event
    async def save_pack(self, form: dict[str, Any]):
        """One pack's row of the Billing card: name, credits, price in dollars, on sale."""
        fields = form if isinstance(form, dict) else {}
        token = self.session_token

        def save(session: Session) -> None:
            actor = accounts.require_admin(session, token=token)
            billing_admin.update_pack(
                session,
                actor_user_id=actor.id,
                code=_text(fields.get("code")),
                display_name=_text(fields.get("display_name")),
                credits=billing_admin.parse_whole_number(fields.get("credits"), label="Credits"),
                price_cents=billing_admin.parse_dollars(fields.get("price")),
                is_active=_checked(fields.get("is_active")),
            )

        return await self._save(save, done="Pack saved.")

    @rx.event
    async def save_billing(self, form: dict[str, Any]):
        """The Billing card's settings: free-trial credits and refund on failure."""
        fields = form if isinstance(form, dict) else {}
        token = self.session_token

        def save(session: Session) -> None:
            actor = accounts.require_admin(session, token=token)
            billing_admin.update_billing_settings(
                session,
                actor_user_id=actor.id,
                free_trial_credits=billing_admin.parse_whole_number(
                    fields.get("free_trial_credits"), label="Free-trial credits"
                ),
                refund_on_failure=_checked(fields.get("refund_on_failure")),
            )

        return await self._save(save, done="Settings saved.")

    @rx.event
    async def check_purchase(self, purchase_id: int):
        """Ask the payment provider about one purchase and bring it up to date (credits are
        granted at most once, whoever asks)."""
        valid_id = isinstance(purchase_id, int) and not isinstance(purchase_id, bool)
        token = self.session_token

        def find(session: Session) -> str:
            accounts.require_admin(session, token=token)
            return billing_admin.checkout_session_of(session, purchase_id=purchase_id)

        self.checking_purchase = purchase_id if valid_id else 0
        self.purchase_message = ""
        yield
        try:
            session_id = await in_session(find, write=False)
            provider = runtime.get_checkout_provider()
            if provider is None:
                self._say_purchase("Payments are not configured: there is no provider to ask.")
                return
            outcome = await asyncio.to_thread(
                checkout.fulfil_checkout,
                db=get_engine(),
                provider=provider,
                session_id=session_id,
            )
        except UnauthorizedError:
            self._deny()
            yield rx.redirect("/login")
            return
        except ForbiddenError:
            self._deny()
            return
        except DomainError as exc:
            self._say_purchase(exc.message)
            return
        except PaymentProviderError as exc:
            self._say_purchase(f"The provider could not be asked: {exc}")
            return
        finally:
            self.checking_purchase = 0
        text = (
            f"Purchase {outcome.purchase_id}: {_CHECK_OUTCOMES.get(outcome.status, outcome.status)}"
        )
        if outcome.credited_now:
            text += f" {outcome.credits} credits added now."
        await self._load()
        self._say_purchase(text, failed=False)

    async def _save(self, save: Callable[[Session], None], *, done: str):
        try:
            await in_session(save)  # the admin check and the change: one transaction
        except UnauthorizedError:
            self._deny()
            return rx.redirect("/login")
        except ForbiddenError:
            self._deny()
            return None
        except DomainError as exc:
            self.billing_message, self.billing_failed = exc.message, True
            return None
        await self._load()
        self.billing_message, self.billing_failed = done, False
        return None

    async def _load(self) -> None:
        token = self.session_token
        base = media_base_url()

        def load(session: Session) -> _AdminScreen:
            accounts.require_admin(session, token=token)  # checked on the server, every time
            return _AdminScreen(
                overview=admin.overview(session),
                queue=[q.as_dict() for q in featuring.moderation_queue(session, base_url=base)],
                featured=[
                    f.as_dict() for f in showcase.list_public_gallery(session, base_url=base)
                ],
                packs=billing_admin.list_packs(session),
                settings=billing_admin.billing_settings_form(session),
                purchases=billing_admin.list_purchases(session),
                revenue=billing_admin.revenue_summary(session),
                audit_log=billing_admin.list_audit_log(session),
            )

        try:
            data = await in_session(load, write=False)
        except DomainError:
            self._deny()
            return
        self.denied = False
        overview = data.overview
        self.stats = {
            "users": overview.users,
            "generations": overview.generations,
            "credits_spent": overview.credits_spent,
            "credits_refunded": overview.credits_refunded,
        }
        self.by_status = [
            {"status": k.capitalize(), "count": v}
            for k, v in overview.generations_by_status.items()
        ]
        self.queue = data.queue
        self.featured = data.featured
        self.recent_users = overview.recent_users
        self.flagged_users = overview.flagged_users
        self.pack_forms = data.packs
        self.free_trial_credits = data.settings.free_trial_credits
        self.refund_on_failure = data.settings.refund_on_failure
        self.purchases = data.purchases
        self.revenue = data.revenue
        self.audit_log = data.audit_log
        self.revision += 1
        self.loaded = True

    def _deny(self) -> None:
        """Not (or no longer) an admin: show the refusal and drop every piece of data."""
        self.reset()
        self.denied = True
        self.loaded = True

    def _say_purchase(self, text: str, *, failed: bool = True) -> None:
        self.purchase_message, self.purchase_failed = text, failed
