"""/admin: usage, billing (packs, settings, purchases, audit log) and moderation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import reflex as rx
from sqlmodel import Session

from stylestudio import runtime
from stylestudio.db import get_engine
from stylestudio.runtime import available_models
from stylestudio.services.accounts import admin_rights
from stylestudio.services.admin import admin as admin_service
from stylestudio.services.admin import admin_audit_log, admin_purchases, billing_admin
from stylestudio.services.admin.admin_audit_log import AuditRow
from stylestudio.services.admin.admin_purchases import PurchaseRow
from stylestudio.services.admin.billing_admin import EditableModelPrice, EditablePack
from stylestudio.services.billing import checkout_flows
from stylestudio.services.errors import DomainError, ForbiddenError, UnauthorizedError
from stylestudio.services.moderation import featuring, showcase
from stylestudio.services.moderation.featuring import QueueItem
from stylestudio.services.moderation.showcase import ShowcaseItem
from stylestudio.state.arguments import CHECKBOX, FLAG, ROW_ID, checked, choice, form, text
from stylestudio.state.calls import in_session
from stylestudio.state.form_values import clip_text as _text
from stylestudio.state.form_values import is_checked as _checked
from stylestudio.state.session import SessionState, media_base_url


def _totals() -> admin_service.Totals:
    return admin_service.Totals()


def _status_rows() -> list[admin_service.StatusCount]:
    return []


def _queue_rows() -> list[QueueItem]:
    return []


def _new_user_rows() -> list[admin_service.NewUser]:
    return []


def _flagged_rows() -> list[admin_service.FlaggedUser]:
    return []


def _featured_rows() -> list[ShowcaseItem]:
    return []


@dataclass(frozen=True)
class _AdminScreen:
    overview: admin_service.AdminOverview
    queue: list[QueueItem]
    pending_reviews: int
    featured: list[ShowcaseItem]
    packs: list[EditablePack]
    settings: billing_admin.EditableBillingSettings
    model_prices: list[billing_admin.EditableModelPrice]
    purchases: list[PurchaseRow]
    revenue: str
    audit_log: list[AuditRow]


# What the admin is told after asking the provider about a purchase, by its new status.
_CHECK_OUTCOMES = {
    "pending": "the checkout is still open at the provider.",
    "processing": "payment processing — credits arrive when it clears.",
    "completed": "paid.",
    "failed": "the payment failed.",
    "expired": "the checkout expired.",
    "cancelled": "the buyer cancelled the checkout.",
    "refunded": "refunded.",
}


def _pack_rows() -> list[EditablePack]:
    return []


def _model_price_rows() -> list[EditableModelPrice]:
    return []


def _purchase_rows() -> list[PurchaseRow]:
    return []


def _audit_rows() -> list[AuditRow]:
    return []


class AdminState(SessionState):
    """/admin. Every handler re-checks admin rights on the server, in the transaction that
    reads or writes; nothing the browser sends or holds is taken as authority."""

    stats: rx.Field[admin_service.Totals] = rx.field(default_factory=_totals)
    by_status: rx.Field[list[admin_service.StatusCount]] = rx.field(default_factory=_status_rows)
    queue: rx.Field[list[QueueItem]] = rx.field(default_factory=_queue_rows)
    recent_users: rx.Field[list[admin_service.NewUser]] = rx.field(default_factory=_new_user_rows)
    flagged_users: rx.Field[list[admin_service.FlaggedUser]] = rx.field(
        default_factory=_flagged_rows
    )
    denied: rx.Field[bool] = rx.field(False)
    loaded: rx.Field[bool] = rx.field(False)
    # Billing: the editable packs and settings, purchases, revenue and the audit log.
    pack_forms: rx.Field[list[EditablePack]] = rx.field(default_factory=_pack_rows)
    free_trial_credits: rx.Field[int] = rx.field(0)
    refund_on_failure: rx.Field[bool] = rx.field(True)
    model_prices: rx.Field[list[EditableModelPrice]] = rx.field(default_factory=_model_price_rows)
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
    featured: rx.Field[list[ShowcaseItem]] = rx.field(default_factory=_featured_rows)
    pending_reviews: rx.Field[int] = rx.field(0)  # in the admin navigation, on every tab
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
    @checked(image_id=ROW_ID)
    async def approve(self, image_id: int):
        token = self.session_token
        await self._moderate(
            image_id,
            lambda s: featuring.approve(
                s,
                admin=admin_rights.require_admin(s, token=token),
                image_id=image_id,
            ),
            done="Approved: it is on Explore now.",
        )

    @rx.event
    @checked(action=choice("reject", "take_down"), image_id=ROW_ID)
    def ask_reason(self, action: str, image_id: int) -> None:
        if action not in ("reject", "take_down") or not isinstance(image_id, int):
            return
        self.decide_action, self.decide_image, self.decide_reason = action, image_id, ""
        self.moderation_message = ""
        self.decide_open = True

    @rx.event
    @checked(value=text(featuring.MAX_REASON * 2))
    def set_decide_reason(self, value: str) -> None:
        self.decide_reason = _text(value, featuring.MAX_REASON * 2)

    @rx.event
    @checked(value=FLAG)
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
                admin=admin_rights.require_admin(s, token=token),
                image_id=image_id,
                reason=reason,
            ),
            done=done,
        )
        if ok:
            self.decide_open = False

    @rx.event
    @checked(value=text(320))
    def set_publish_email(self, value: str) -> None:
        self.publish_email = _text(value, 320)

    @rx.event
    @checked(value=text(featuring.MAX_REASON * 2))
    def set_publish_reason(self, value: str) -> None:
        self.publish_reason = _text(value, featuring.MAX_REASON * 2)

    @rx.event
    @checked(suspended=FLAG)
    async def set_publishing(self, suspended: bool):
        token, email, reason = self.session_token, self.publish_email, self.publish_reason
        done = "Publishing suspended." if suspended else "Publishing restored."
        ok = await self._moderate(
            0,
            lambda s: featuring.set_publishing(
                s,
                admin=admin_rights.require_admin(s, token=token),
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
    async def refresh(self) -> None:
        """Reload what the page shows (after a change made from another card)."""
        await self._load()

    @rx.event
    async def open_admin(self):
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        self.billing_message = self.purchase_message = ""
        await self._load()
        return None

    @rx.event
    @checked(form=form(code=200, display_name=200, credits=200, price=200, is_active=CHECKBOX))
    async def save_pack(self, form: dict[str, Any]):
        """One pack's row of the Billing card: name, credits, price in dollars, on sale."""
        fields = form if isinstance(form, dict) else {}
        token = self.session_token

        def save(session: Session) -> None:
            admin = admin_rights.require_admin(session, token=token)
            billing_admin.update_pack(
                session,
                admin=admin,
                code=_text(fields.get("code")),
                display_name=_text(fields.get("display_name")),
                credits=billing_admin.parse_whole_number(fields.get("credits"), label="Credits"),
                price_cents=billing_admin.parse_dollars(fields.get("price")),
                is_active=_checked(fields.get("is_active")),
            )

        return await self._save(save, done="Pack saved.")

    @rx.event
    @checked(form=form(free_trial_credits=200, refund_on_failure=CHECKBOX))
    async def save_billing(self, form: dict[str, Any]):
        """The Billing card's settings: free-trial credits and refund on failure."""
        fields = form if isinstance(form, dict) else {}
        token = self.session_token

        def save(session: Session) -> None:
            admin = admin_rights.require_admin(session, token=token)
            billing_admin.update_billing_settings(
                session,
                admin=admin,
                free_trial_credits=billing_admin.parse_whole_number(
                    fields.get("free_trial_credits"), label="Free-trial credits"
                ),
                refund_on_failure=_checked(fields.get("refund_on_failure")),
            )

        return await self._save(save, done="Settings saved.")

    @rx.event
    @checked(form=form(model=200, multiplier=200))
    async def save_model_price(self, form: dict[str, Any]):
        """One row of Model prices: a model of the configured engine and its multiplier."""
        fields = form if isinstance(form, dict) else {}
        token = self.session_token
        models = available_models()

        def save(session: Session) -> None:
            admin = admin_rights.require_admin(session, token=token)
            billing_admin.update_model_multiplier(
                session,
                admin=admin,
                model=fields.get("model"),  # type: ignore[arg-type]  # checked there
                multiplier=fields.get("multiplier"),
                models=models,
            )

        return await self._save(save, done="Model price saved.")

    @rx.event
    @checked(purchase_id=ROW_ID)
    async def check_purchase(self, purchase_id: int):
        """Ask the payment provider about one purchase and bring it up to date (credits are
        granted at most once, whoever asks)."""
        valid_id = isinstance(purchase_id, int) and not isinstance(purchase_id, bool)
        token = self.session_token
        self.checking_purchase = purchase_id if valid_id else 0
        self.purchase_message = ""
        yield
        try:
            outcome = await asyncio.to_thread(
                checkout_flows.check_purchase,
                db=get_engine(),
                provider=runtime.get_checkout_provider(),
                token=token,
                purchase_id=purchase_id,
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
        models = available_models()

        def load(session: Session) -> _AdminScreen:
            admin = admin_rights.require_admin(session, token=token)  # on the server, every time
            return _AdminScreen(
                overview=admin_service.overview(session, admin=admin),
                queue=featuring.moderation_queue(session, admin=admin, base_url=base),
                pending_reviews=featuring.pending_count(session, admin=admin),
                featured=showcase.list_public_gallery(session, base_url=base),
                packs=billing_admin.list_packs(session, admin=admin),
                settings=billing_admin.billing_settings_form(session, admin=admin),
                model_prices=billing_admin.model_prices_form(session, admin=admin, models=models),
                purchases=admin_purchases.list_purchases(session, admin=admin),
                revenue=admin_purchases.revenue_summary(session, admin=admin),
                audit_log=admin_audit_log.list_audit_log(session, admin=admin),
            )

        try:
            data = await in_session(load, write=False)
        except DomainError:
            self._deny()
            return
        self.denied = False
        overview = data.overview
        self.stats = overview.totals
        self.by_status = overview.status_counts
        self.queue = data.queue
        self.pending_reviews = data.pending_reviews
        self.featured = data.featured
        self.recent_users = overview.recent_users
        self.flagged_users = overview.flagged_users
        self.pack_forms = data.packs
        self.free_trial_credits = data.settings.free_trial_credits
        self.refund_on_failure = data.settings.refund_on_failure
        self.model_prices = data.model_prices
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
