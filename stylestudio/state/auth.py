"""Sign-up and sign-in forms."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import reflex as rx

from stylestudio.adapters.mailer import get_mailer
from stylestudio.api.auth_routes import begin_url, session_url
from stylestudio.db import get_engine
from stylestudio.services.accounts import account_flows, account_links, accounts, sign_in_tickets
from stylestudio.services.accounts.oauth_accounts import (
    OAUTH_ERRORS,
    ProviderButton,
    provider_buttons,
)
from stylestudio.services.errors import DomainError
from stylestudio.settings import get_settings
from stylestudio.state import socket_sessions
from stylestudio.state.arguments import checked, form
from stylestudio.state.calls import in_session
from stylestudio.state.navigation import load_document
from stylestudio.state.session import SessionState

log = logging.getLogger(__name__)
ACCOUNT_DELETED = (
    "Your account is deleted: its images, generations and sessions are gone. "
    "Thank you for using Style Studio."
)
_ERRORS = {**OAUTH_ERRORS, "expired": sign_in_tickets.EXPIRED}
# Added to the page's address by the detour through /api/auth/begin: a browser that comes
# back from it still without the nonce cookie does not keep cookies (no second detour).
_CHECKED = "browser"
NO_COOKIES = (
    "Your browser did not keep our sign-in cookie. Allow cookies for this site, then reload "
    "the page."
)
# One character over the limit: the services say what the limit is.
_EMAIL = accounts.MAX_EMAIL_LENGTH + 1
_PASSWORD = accounts.MAX_PASSWORD_LENGTH + 1


def _field(form: Any, name: str) -> object:
    """A form field as sent; the services check its type and length before anything else."""
    return form.get(name, "") if isinstance(form, dict) else ""


def _providers() -> list[ProviderButton]:
    return []


class AuthState(SessionState):
    form_error: rx.Field[str] = rx.field("")
    notice: rx.Field[str] = rx.field("")
    # The configured sign-in providers, each with where its button goes.
    providers: rx.Field[list[ProviderButton]] = rx.field(default_factory=_providers)
    # This tab's websocket carries a sign-in nonce: the form can sign in (display only; the
    # event checks the nonce itself).
    ready: rx.Field[bool] = rx.field(False)

    @property
    def _sign_in_nonce(self) -> str | None:
        """This browser's sign-in nonce, from the websocket handshake (never stored)."""
        return sign_in_tickets.usable_nonce(
            socket_sessions.sign_in_nonce(self.router.session.session_id)
        )

    @rx.event
    async def open_auth_page(self):
        """on_load of /login and /signup: signed-in users go straight to the studio; a
        refused sign-in (`?error=<code>`) says why."""
        code = self.router.page.params.get("error", "")
        self.form_error = _ERRORS.get(code, "") if isinstance(code, str) else ""
        params = self.router.page.params
        if params.get("reset") == "done":
            self.notice = "Your password is changed. Sign in with the new one."
        elif params.get("account") == "deleted":
            self.notice = ACCOUNT_DELETED
        else:
            self.notice = ""
        self.providers = provider_buttons(api_url=get_settings().api_url, next_path="/upload")
        if await self._current_user() is not None:
            return rx.redirect("/upload")
        self.ready = self._sign_in_nonce is not None
        if self.ready:
            return None
        url = self.router.url
        if url.query_parameters.get(_CHECKED) == "checked":
            self.form_error = NO_COOKIES
            return None
        query = "&".join(q for q in (url.query, urlencode({_CHECKED: "checked"})) if q)
        return load_document(begin_url(f"{url.path or '/login'}?{query}"))

    @rx.event
    def clear_messages(self) -> None:
        """on_load of the password pages."""
        self.form_error, self.notice = "", ""

    @rx.event
    @checked(form=form(email=_EMAIL, password=_PASSWORD))
    async def sign_up(self, form: dict[str, Any]):
        email, password = _field(form, "email"), _field(form, "password")
        address = self.router.session.client_ip

        def create() -> int:
            return account_flows.password_sign_up(
                db=get_engine(),
                email=email,
                password=password,
                ip_address=address,
                mailer=get_mailer(),
                base_url=get_settings().public_url,
            )

        return await self._sign_in_as(create)

    @rx.event
    @checked(form=form(email=_EMAIL, password=_PASSWORD))
    async def sign_in(self, form: dict[str, Any]):
        email, password = _field(form, "email"), _field(form, "password")
        address = self.router.session.client_ip

        def check() -> int:
            return account_flows.password_sign_in(
                db=get_engine(), email=email, password=password, ip_address=address
            )

        return await self._sign_in_as(check)

    @rx.event
    @checked(form=form(email=_EMAIL))
    async def request_reset(self, form: dict[str, Any]):
        """`Forgot password?`: the same answer whether or not the address has an account."""
        email = _field(form, "email")
        address = self.router.session.client_ip
        self.form_error, self.notice = "", ""

        def send() -> None:
            account_flows.request_password_reset(
                db=get_engine(),
                email=email,
                ip_address=address,
                mailer=get_mailer(),
                base_url=get_settings().public_url,
            )

        try:
            await asyncio.to_thread(send)
        except DomainError as exc:
            self.form_error = exc.message
            return
        self.notice = (
            "If an account uses that address, a link to choose a new password is on its way. "
            "It works once, for one hour."
        )

    @rx.event
    @checked(form=form(password=_PASSWORD))
    async def reset_password(self, form: dict[str, Any]):
        """The page the emailed link opens: a new password, then sign in with it."""
        token = self.router.page.params.get("token", "")
        password = _field(form, "password")
        self.form_error, self.notice = "", ""
        try:
            await asyncio.to_thread(
                account_links.reset_password,
                db=get_engine(),
                token=token,
                new_password=password,
            )
        except DomainError as exc:
            self.form_error = exc.message
            return None
        self.notice = "Your password is changed and every session has ended. Sign in with it."
        return rx.redirect("/login?reset=done")

    @rx.event
    async def verify_email(self):
        """on_load of the page the verification link opens."""
        token = self.router.page.params.get("token", "")
        self.form_error, self.notice = "", ""
        try:
            address = await in_session(lambda s: account_links.verify_email(s, token=token))
        except DomainError as exc:
            self.form_error = exc.message
            return
        self.notice = f"Thank you: {address} is verified."

    async def _sign_in_as(self, check: Callable[[], int]):
        """Run the check (argon2 in a thread), then send the browser to the backend, which
        opens the session and sets its HttpOnly cookie (see api/auth_routes.py)."""
        self.form_error = ""
        nonce = self._sign_in_nonce
        if nonce is None:  # before anything is checked or created
            self.form_error = sign_in_tickets.NO_NONCE
            return None
        try:
            user_id = await asyncio.to_thread(check)
            ticket = await in_session(
                lambda s: sign_in_tickets.issue_ticket(s, user_id=user_id, browser_nonce=nonce)
            )
        except DomainError as exc:
            self.form_error = exc.message
            return None
        await self._forget_user_data()
        return load_document(session_url(ticket, "/upload"))
