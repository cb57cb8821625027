"""Sign-up and sign-in forms."""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from stylestudio.services import accounts
from stylestudio.services.errors import DomainError
from stylestudio.settings import get_settings
from stylestudio.state.calls import in_session
from stylestudio.state.session import SessionState


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
        email, password = str(form.get("email", "")), str(form.get("password", ""))
        settings = get_settings()
        ip = self.router.session.client_ip

        def create(session: Session) -> str:
            user = accounts.sign_up(
                session,
                email=email,
                password=password,
                admin_emails=settings.admin_email_set,
                ip_address=ip,
            )
            assert user.id is not None
            return accounts.start_session(
                session,
                user_id=user.id,
                days=settings.session_days,
                ip_address=ip,
                user_agent=self.router.headers.user_agent,
            )

        return await self._open_session(create)

    @rx.event
    async def sign_in(self, form: dict[str, Any]):
        email, password = str(form.get("email", "")), str(form.get("password", ""))
        settings = get_settings()
        ip = self.router.session.client_ip

        def login(session: Session) -> str:
            user = accounts.authenticate(session, email=email, password=password)
            assert user.id is not None
            return accounts.start_session(
                session,
                user_id=user.id,
                days=settings.session_days,
                ip_address=ip,
                user_agent=self.router.headers.user_agent,
            )

        return await self._open_session(login)

    async def _open_session(self, action: Any):
        self.form_error = ""
        try:
            token = await in_session(action)
        except DomainError as exc:
            self.form_error = exc.message
            return None
        self.session_token = token
        await self._current_user()
        return rx.redirect("/upload")
