"""The offline test checkout's hosted page (/checkout/test/<session>)."""

from __future__ import annotations

import asyncio

import reflex as rx

from stylestudio.db import get_engine
from stylestudio.runtime import get_test_checkout, offers_test_checkout
from stylestudio.services.billing import checkout, checkout_flows
from stylestudio.services.errors import DomainError
from stylestudio.state.arguments import checked, choice
from stylestudio.state.calls import in_session
from stylestudio.state.session import SessionState

BUTTONS = ("pay", "pay_later", "decline", "cancel")  # "settle" is the provider's own


class TestCheckoutState(SessionState):
    __test__ = False

    found: rx.Field[bool] = rx.field(False)
    loading: rx.Field[bool] = rx.field(True)
    pack_name: rx.Field[str] = rx.field("")
    pack_credits: rx.Field[int] = rx.field(0)
    price: rx.Field[str] = rx.field("")
    status: rx.Field[str] = rx.field("")
    acting: rx.Field[str] = rx.field("")
    _session_id: str = ""

    def forget_session(self) -> None:
        """Show the spinner, not the last session, until the next one has loaded."""
        self.loading, self.found, self.acting = True, False, ""
        self.pack_name, self.price, self.status, self._session_id = "", "", "", ""

    @rx.event
    async def open_test_checkout(self):
        self.forget_session()
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        session_id = self.router.page.params.get("session_id", "")
        try:
            view = await in_session(
                lambda s: checkout.checkout_for_buyer(s, user_id=user.id, session_id=session_id),
                write=False,
            )
        except DomainError:
            self.loading = False
            return None
        self._session_id = view.session_id
        self.found, self.loading = True, False
        self.pack_name, self.pack_credits = view.pack_name, view.credits
        self.price, self.status = view.price, view.status
        return None

    @rx.event
    @checked(action=choice(*BUTTONS))
    async def press(self, action: str):
        """One of the four buttons: the provider changes the session and delivers the
        event, then the browser returns to /credits as it would from Stripe."""
        if self.acting or action not in BUTTONS or not offers_test_checkout() or not self.found:
            return
        if self.router.page.params.get("session_id", "") != self._session_id:
            return  # a click on a page whose session has not loaded yet
        self.acting = action
        yield
        user = await self._current_user()
        session_id = self._session_id
        try:
            if user is None:
                raise DomainError("Sign in again to finish this checkout.")
            target = await asyncio.to_thread(
                checkout_flows.press_test_checkout,
                db=get_engine(),
                provider=get_test_checkout(),
                user_id=user.id,
                session_id=session_id,
                action=action,
            )
        except DomainError:
            self.acting = ""
            yield rx.redirect("/login")
            return
        yield rx.redirect(target)
