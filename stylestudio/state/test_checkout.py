"""The offline test checkout's hosted page (/checkout/test/<session>)."""

from __future__ import annotations

import asyncio

import reflex as rx

from stylestudio.adapters.test_checkout import ACTIONS
from stylestudio.runtime import get_test_checkout
from stylestudio.services import checkout
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
        provider = get_test_checkout()
        if self.acting or action not in BUTTONS or provider is None or not self.found:
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
            view = await in_session(
                lambda s: checkout.checkout_for_buyer(s, user_id=user.id, session_id=session_id),
                write=False,
            )
        except DomainError:
            self.acting = ""
            yield rx.redirect("/login")
            return
        assert action in ACTIONS
        await asyncio.to_thread(provider.act, session_id, action)
        target = (
            # Where Stripe's Cancel link goes: the cancel URL the checkout was opened with.
            f"/credits?cancelled={view.purchase_id}"
            if action == "cancel"
            else f"/credits?session_id={session_id}"
        )
        yield rx.redirect(target)
