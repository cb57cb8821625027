"""Sign-up and sign-in forms."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import reflex as rx

from stylestudio.db import get_engine
from stylestudio.services import accounts
from stylestudio.services.errors import DomainError
from stylestudio.settings import get_settings
from stylestudio.state.session import SessionState


def _field(form: Any, name: str) -> object:
    """A form field as sent; the services check its type and length before anything else."""
    return form.get(name, "") if isinstance(form, dict) else ""


class AuthState(SessionState):
    form_error: rx.Field[str] = rx.field("")

    @rx.event
    async def open_auth_page(self):
        """on_load of /login and /signup: signed-in users go straight to the studio."""
        self.form_error = ""
        if await self._current_user() is not None:
            return rx.redirect("/upload")
        return None

    def _session_request(self) -> accounts.SessionRequest:
        return accounts.SessionRequest(
            days=get_settings().session_days,
            ip_address=self.router.session.client_ip,
            user_agent=self.router.headers.user_agent,
        )

    @rx.event
    async def sign_up(self, form: dict[str, Any]):
        email, password = _field(form, "email"), _field(form, "password")
        request = self._session_request()
        return await self._open_session(
            lambda: accounts.register(
                db=get_engine(), email=email, password=password, request=request
            )
        )

    @rx.event
    async def sign_in(self, form: dict[str, Any]):
        email, password = _field(form, "email"), _field(form, "password")
        request = self._session_request()
        return await self._open_session(
            lambda: accounts.sign_in(
                db=get_engine(), email=email, password=password, request=request
            )
        )

    async def _open_session(self, action: Callable[[], str]):
        self.form_error = ""
        try:
            token = await asyncio.to_thread(action)
        except DomainError as exc:
            self.form_error = exc.message
            return None
        await self._forget_user_data()
        self.session_token = token
        await self._current_user()
        return rx.redirect("/upload")
