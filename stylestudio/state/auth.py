"""Sign-up and sign-in forms."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import reflex as rx

from stylestudio.api.auth_routes import session_url
from stylestudio.db import get_engine
from stylestudio.services import sign_in_tickets
from stylestudio.services.errors import DomainError
from stylestudio.state.calls import in_session
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

    @rx.event
    async def sign_up(self, form: dict[str, Any]):
        email, password = _field(form, "email"), _field(form, "password")
        address = self.router.session.client_ip
        return await self._sign_in_as(
            lambda: sign_in_tickets.password_sign_up(
                db=get_engine(), email=email, password=password, ip_address=address
            )
        )

    @rx.event
    async def sign_in(self, form: dict[str, Any]):
        email, password = _field(form, "email"), _field(form, "password")
        return await self._sign_in_as(
            lambda: sign_in_tickets.password_sign_in(
                db=get_engine(), email=email, password=password
            )
        )

    async def _sign_in_as(self, check: Callable[[], int]):
        """Run the check (argon2 in a thread), then send the browser to the backend, which
        opens the session and sets its HttpOnly cookie (see api/auth_routes.py)."""
        self.form_error = ""
        try:
            user_id = await asyncio.to_thread(check)
            ticket = await in_session(lambda s: sign_in_tickets.issue_ticket(s, user_id=user_id))
        except DomainError as exc:
            self.form_error = exc.message
            return None
        await self._forget_user_data()
        return rx.redirect(session_url(ticket, "/upload"))
