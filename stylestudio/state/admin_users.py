"""/admin, Users: find users, adjust credits with a reason, suspend and restore. Every
handler re-checks admin rights on the server, in the transaction that reads or writes."""

from __future__ import annotations

import uuid
from typing import Any

import reflex as rx
from sqlmodel import Session

from stylestudio.services.accounts import accounts, admin_rights
from stylestudio.services.admin import admin_users
from stylestudio.services.admin.admin_users import UserRow
from stylestudio.services.errors import DomainError
from stylestudio.state.admin import AdminState
from stylestudio.state.arguments import checked, form, text
from stylestudio.state.calls import in_session
from stylestudio.state.form_values import clip_text
from stylestudio.state.session import SessionState


def _rows() -> list[UserRow]:
    return []


def _field(form: object, name: str, limit: int) -> str:
    return clip_text(form.get(name) if isinstance(form, dict) else None, limit)


class AdminUsersState(SessionState):
    users: rx.Field[list[UserRow]] = rx.field(default_factory=_rows)
    query: rx.Field[str] = rx.field("")
    message: rx.Field[str] = rx.field("")
    failed: rx.Field[bool] = rx.field(False)
    # Backend only: makes a double-submitted adjustment count once.
    _request_key: str = ""

    @rx.event
    async def load_users(self) -> None:
        self._request_key = uuid.uuid4().hex
        await self._search()

    @rx.event
    @checked(value=text(200))
    async def search(self, value: str) -> None:
        self.query = clip_text(value, 200)
        await self._search()

    async def _search(self) -> None:
        token, query = self.session_token, self.query

        def find(session: Session) -> list[UserRow]:
            admin = admin_rights.require_admin(session, token=token)
            return admin_users.search_users(session, admin=admin, query=query)

        try:
            self.users = await in_session(find, write=False)
        except DomainError:
            self.users = []

    @rx.event
    @checked(
        form=form(email=accounts.MAX_EMAIL_LENGTH + 1, change=12, reason=admin_users.MAX_REASON + 1)
    )
    async def adjust(self, form: dict[str, Any]):
        token, key = self.session_token, self._request_key or uuid.uuid4().hex
        email = _field(form, "email", accounts.MAX_EMAIL_LENGTH + 1)
        change = _field(form, "change", 12)
        reason = _field(form, "reason", admin_users.MAX_REASON + 1)

        def apply(session: Session) -> int:
            admin = admin_rights.require_admin(session, token=token)
            return admin_users.adjust_credits(
                session,
                admin=admin,
                email=email,
                change=change,
                reason=reason,
                request_key=key,
            )

        try:
            balance = await in_session(apply)
        except DomainError as exc:
            self.message, self.failed = exc.message, True
            return None
        self._request_key = uuid.uuid4().hex  # the next submit is a new adjustment
        self.message, self.failed = f"Credits adjusted: {email} now has {balance}.", False
        await self._search()
        await self._current_user()  # an admin adjusting their own balance sees it
        return AdminState.refresh  # the audit log, newest users and totals, at once

    @rx.event
    @checked(form=form(email=accounts.MAX_EMAIL_LENGTH + 1, reason=admin_users.MAX_REASON + 1))
    async def suspend(self, form: dict[str, Any]):
        if await self._set_suspended(form, True):
            return AdminState.refresh
        return None

    @rx.event
    @checked(form=form(email=accounts.MAX_EMAIL_LENGTH + 1, reason=admin_users.MAX_REASON + 1))
    async def restore(self, form: dict[str, Any]):
        if await self._set_suspended(form, False):
            return AdminState.refresh
        return None

    async def _set_suspended(self, form: object, suspended: bool) -> bool:
        token = self.session_token
        email = _field(form, "email", accounts.MAX_EMAIL_LENGTH + 1)
        reason = _field(form, "reason", admin_users.MAX_REASON + 1)

        def apply(session: Session) -> None:
            admin = admin_rights.require_admin(session, token=token)
            admin_users.set_suspended(
                session, admin=admin, email=email, suspended=suspended, reason=reason
            )

        try:
            await in_session(apply)
        except DomainError as exc:
            self.message, self.failed = exc.message, True
            return False
        done = "suspended: their sessions have ended" if suspended else "restored"
        self.message, self.failed = f"{email} {done}.", False
        await self._search()
        return True
