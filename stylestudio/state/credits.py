"""The credits page (/credits): balance, packs, activity, and buying a pack."""

from __future__ import annotations

import asyncio

import reflex as rx
from sqlmodel import Session

from stylestudio.db import get_engine
from stylestudio.runtime import get_checkout_provider, payments_configured
from stylestudio.services.billing import billing, checkout, checkout_flows, credits
from stylestudio.services.billing.billing import PackView
from stylestudio.services.billing.credits import LedgerLine
from stylestudio.services.errors import DomainError
from stylestudio.settings import get_settings
from stylestudio.state.arguments import checked, text
from stylestudio.state.calls import in_session
from stylestudio.state.session import SessionState
from stylestudio.state.test_checkout import TestCheckoutState

# How long the page follows a checkout after the buyer returns (a `Pay later` payment
# settles within seconds here; real bank debits take days and arrive by webhook).
FOLLOW_SECONDS = 120
FOLLOW_EVERY_SECONDS = 1.0
NOT_CONFIGURED = checkout_flows.NOT_CONFIGURED

# What the buyer is told for each state of their purchase, and how it looks.
OUTCOMES = {
    "pending": ("Confirming your payment…", "blue"),
    "processing": ("Payment processing — credits arrive when it clears", "amber"),
    "completed": ("{credits} credits added", "green"),
    "failed": (
        "Payment declined — nothing was charged. Buy the pack again to try another card.",
        "red",
    ),
    "expired": ("This checkout expired — buy the pack again to start a new one", "gray"),
    "cancelled": ("Checkout cancelled — nothing was charged", "gray"),
    "refunded": ("This purchase was refunded", "gray"),
}


def _packs() -> list[PackView]:
    return []


def _history() -> list[LedgerLine]:
    return []


class CreditsState(SessionState):
    packs: rx.Field[list[PackView]] = rx.field(default_factory=_packs)
    history: rx.Field[list[LedgerLine]] = rx.field(default_factory=_history)
    can_buy: rx.Field[bool] = rx.field(False)
    buying: rx.Field[str] = rx.field("")  # the pack being sent to checkout
    checkout_message: rx.Field[str] = rx.field("")
    checkout_tone: rx.Field[str] = rx.field("gray")
    # False until the packs and activity are in (again after a change of user, when
    # SessionState resets every page's state): the page shows a skeleton meanwhile.
    loaded: rx.Field[bool] = rx.field(False)
    # Backend only: the checkout this tab follows, and which follower is current.
    _checkout_id: str = ""
    _follower: int = 0

    @rx.event
    async def open_credits(self):
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        self.buying = ""
        self.can_buy = payments_configured()
        await self._load(user.id)
        params = self.router.page.params
        returned = params.get("session_id")
        if isinstance(returned, str) and returned:
            self._checkout_id = returned[:255]
            self._show_outcome("pending", 0)
            return CreditsState.follow_checkout
        cancelled = params.get("cancelled")
        if isinstance(cancelled, str) and cancelled:
            await self._record_cancel(user.id, cancelled)
            self._show_outcome("cancelled", 0)
        else:
            self.checkout_message = ""
        return None

    async def _load(self, user_id: int) -> None:
        def load(session: Session) -> tuple[list[PackView], list[LedgerLine]]:
            packs = billing.list_active_packs(session)
            history = credits.ledger_history(session, user_id=user_id)
            return packs, history

        self.packs, self.history = await in_session(load, write=False)
        self.loaded = True

    async def _record_cancel(self, user_id: int, purchase: str) -> None:
        purchase_id = int(purchase) if purchase.isdigit() and len(purchase) < 12 else 0
        await in_session(
            lambda s: checkout.cancel_by_buyer(s, user_id=user_id, purchase_id=purchase_id)
        )

    def _show_outcome(self, status: str, credits_added: int) -> None:
        message, tone = OUTCOMES.get(status, OUTCOMES["pending"])
        self.checkout_message = message.format(credits=credits_added)
        self.checkout_tone = tone

    @rx.event
    @checked(pack_code=text(100))
    async def buy(self, pack_code: str):
        """Send the browser to checkout for one pack."""
        if self.buying:
            return
        self.checkout_message = ""
        if not payments_configured():
            self._show_outcome("failed", 0)
            self.checkout_message = NOT_CONFIGURED
            return
        self.buying = pack_code if isinstance(pack_code, str) else ""
        yield  # the button shows it is working before the provider answers
        user = await self._current_user()
        if user is None:
            self.buying = ""
            yield rx.redirect("/login")
            return
        try:
            url = await asyncio.to_thread(
                checkout_flows.buy_pack,
                db=get_engine(),
                provider=get_checkout_provider(),
                user_id=user.id,
                pack_code=pack_code,
                public_url=get_settings().public_url,
            )
        except DomainError as exc:
            self.buying = ""
            self.checkout_message, self.checkout_tone = exc.message, "red"
            return
        # The offline checkout is a page of this app, reached without a page load: its
        # previous session must not show (or be paid) while the new one loads.
        (await self.get_state(TestCheckoutState)).forget_session()
        yield rx.redirect(url)  # another host (Stripe) is a full page load

    @rx.event(background=True)
    async def follow_checkout(self) -> None:
        """After the return from checkout: confirm with the provider (never the URL), then
        follow the purchase until it settles, updating the message and the header."""
        async with self:
            self._follower += 1
            follower, session_id = self._follower, self._checkout_id
            token = self.session_token
        deadline = asyncio.get_running_loop().time() + FOLLOW_SECONDS
        first = True
        while asyncio.get_running_loop().time() < deadline:
            try:
                view = await asyncio.to_thread(
                    checkout_flows.returned_checkout,
                    db=get_engine(),
                    provider=get_checkout_provider(),
                    token=token,
                    session_id=session_id,
                    confirm=first,
                )
            except DomainError as exc:
                async with self:
                    if self._follower == follower:
                        self.checkout_message, self.checkout_tone = exc.message, "red"
                return
            first = False
            async with self:
                if self._follower != follower:
                    return
                self._show_outcome(view.status, view.credits)
                if view.status not in ("pending", "processing"):
                    user = await self._current_user()  # the header shows the new balance
                    if user is not None:
                        await self._load(user.id)
                    return
            await asyncio.sleep(FOLLOW_EVERY_SECONDS)
