"""Read-mostly pages: the user's gallery, the public gallery and admin."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import reflex as rx
from sqlmodel import Session

from stylestudio import runtime
from stylestudio.adapters.payments import PaymentProviderError
from stylestudio.db import get_engine
from stylestudio.services import accounts, admin, billing_admin, checkout, generations, showcase
from stylestudio.services.billing_admin import AuditRow, EditablePack, PurchaseRow
from stylestudio.services.errors import DomainError, ForbiddenError, UnauthorizedError
from stylestudio.state.calls import in_session
from stylestudio.state.session import SessionState, media_base_url
from stylestudio.state.studio import cancel_for_user, tab_is_connected

GALLERY_PAGE_SIZE = 24


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
    _follow_id: str = ""

    @rx.event
    async def open_gallery(self):
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        self.message = ""
        self.items = await self._page(user.id, before_id=None)
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

    def _open_ids(self) -> list[int]:
        return [int(item["id"]) for item in self.items if not item.get("is_terminal")]

    def _follow_if_open(self):
        if self._open_ids() and not self._follow_id:
            return GalleryState.follow_open
        return None

    async def _refresh_open(self, user_id: int) -> None:
        ids, base = self._open_ids(), media_base_url()
        if not ids:
            return
        views = await in_session(
            lambda s: generations.get_generation_views(
                s, user_id=user_id, generation_ids=ids, base_url=base
            ),
            write=False,
        )
        fresh = {v.id: v.as_dict() for v in views}
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
        views = await in_session(
            lambda s: generations.list_user_generations(
                s,
                user_id=user_id,
                base_url=base,
                limit=GALLERY_PAGE_SIZE + 1,
                before_id=before_id,
            ),
            write=False,
        )
        self.has_more = len(views) > GALLERY_PAGE_SIZE
        return [v.as_dict() for v in views[:GALLERY_PAGE_SIZE]]


class ExploreState(SessionState):
    items: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=_rows)

    @rx.event
    async def open_explore(self) -> None:
        await self._current_user()
        base = media_base_url()
        items = await in_session(
            lambda s: showcase.list_public_gallery(s, base_url=base), write=False
        )
        self.items = [i.as_dict() for i in items]


@dataclass(frozen=True)
class _AdminScreen:
    overview: admin.AdminOverview
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


def _text(value: object) -> str:
    """A text field of a submitted form; anything but a string counts as empty."""
    return value if isinstance(value, str) else ""


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
                overview=admin.overview(session, base_url=base),
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
        self.queue = overview.moderation_queue
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
