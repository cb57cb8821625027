"""/account: name, password, sessions, sign-in methods, API keys (state/api_keys.py),
webhooks (state/webhooks.py), export, delete."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import reflex as rx
from sqlmodel import Session

from stylestudio.adapters.mailer import get_mailer
from stylestudio.api.auth_routes import signed_out_url
from stylestudio.db import get_engine
from stylestudio.runtime import get_storage
from stylestudio.services.accounts import (
    account_flows,
    account_self_service,
    accounts,
    sign_in_tickets,
)
from stylestudio.services.accounts.account_self_service import SessionRow, SignInMethod
from stylestudio.services.errors import DomainError, InvalidCredentialsError
from stylestudio.settings import get_settings
from stylestudio.state.api_keys import ApiKeysState
from stylestudio.state.arguments import ROW_ID, checked, form, text
from stylestudio.state.calls import in_session
from stylestudio.state.form_values import clip_text
from stylestudio.state.navigation import load_document
from stylestudio.state.session import SessionState
from stylestudio.state.webhooks import WebhooksState

log = logging.getLogger(__name__)


def _rows() -> list[SessionRow]:
    return []


def _no_methods() -> list[SignInMethod]:
    return []


def _get(form: object, name: str) -> object:
    return form.get(name) if isinstance(form, dict) else None


class AccountState(SessionState):
    loaded: rx.Field[bool] = rx.field(False)
    name: rx.Field[str] = rx.field("")
    sessions: rx.Field[list[SessionRow]] = rx.field(default_factory=_rows)
    methods: rx.Field[list[SignInMethod]] = rx.field(default_factory=_no_methods)
    message: rx.Field[str] = rx.field("")
    failed: rx.Field[bool] = rx.field(False)
    revision: rx.Field[int] = rx.field(0)  # remounts the forms with what was saved
    verified: rx.Field[bool] = rx.field(True)

    def _say(self, text: str, *, failed: bool = False) -> None:
        self.message, self.failed = text, failed

    @rx.event
    async def open_account(self):
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        keys = await self.get_state(ApiKeysState)
        await keys._open_section(user)
        hooks = await self.get_state(WebhooksState)
        waiting = await hooks._open_section(user)
        await self._load(user)
        return WebhooksState.follow_deliveries if waiting else None

    async def _load(self, user: accounts.CurrentUser) -> None:
        def load(s: Session) -> tuple[list[SessionRow], list[SignInMethod], bool]:
            rows = account_self_service.list_sessions(
                s, user_id=user.id, current_session_id=user.session_id
            )
            methods = account_self_service.sign_in_methods(s, user_id=user.id)
            return (
                rows,
                methods,
                account_self_service.is_verified(s, user_id=user.id),
            )

        self.sessions, self.methods, self.verified = await in_session(load, write=False)
        self.name = user.name
        self.revision += 1
        self.loaded = True

    @rx.event
    @checked(form=form(name=200))
    async def save_name(self, form: dict[str, Any]):
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        value = clip_text(_get(form, "name"), 200)
        user_id = user.id
        try:
            await in_session(lambda s: account_self_service.rename(s, user_id=user_id, name=value))
        except DomainError as exc:
            self._say(exc.message, failed=True)
            return None
        fresh = await self._current_user()  # the header shows the new name
        if fresh is not None:
            await self._load(fresh)
        self._say("Name saved.")
        return None

    @rx.event
    @checked(
        form=form(
            current_password=accounts.MAX_PASSWORD_LENGTH + 1,
            new_password=accounts.MAX_PASSWORD_LENGTH + 1,
        )
    )
    async def change_password(self, form: dict[str, Any]):
        """The current password, then the new one; every other session ends."""
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        current = clip_text(_get(form, "current_password"), accounts.MAX_PASSWORD_LENGTH + 1)
        new = clip_text(_get(form, "new_password"), accounts.MAX_PASSWORD_LENGTH + 1)
        try:
            await asyncio.to_thread(
                sign_in_tickets.password_sign_in,
                db=get_engine(),
                email=user.email,
                password=current,
            )
            new_hash = await asyncio.to_thread(accounts.hash_password, new)
            await in_session(
                lambda s: account_self_service.set_password(
                    s, user_id=user.id, password_hash=new_hash, keep_session_id=user.session_id
                )
            )
        except InvalidCredentialsError:
            self._say("Your current password is not right.", failed=True)
            return None
        except DomainError as exc:
            self._say(exc.message, failed=True)
            return None
        await self._load(user)
        self._say("Password changed. Your other sessions have ended.")
        return None

    @rx.event
    async def resend_verification(self):
        """Email the verification link again (limited: a few an hour)."""
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")

        def send() -> bool:
            return account_flows.resend_verification(
                db=get_engine(),
                user_id=user.id,
                mailer=get_mailer(),
                base_url=get_settings().public_url,
            )

        try:
            sent = await asyncio.to_thread(send)
        except DomainError as exc:
            self._say(exc.message, failed=True)
            return None
        self._say(
            f"A verification link is on its way to {user.email}."
            if sent
            else "Your address is already verified."
        )
        return None

    @rx.event
    @checked(session_id=ROW_ID)
    async def revoke(self, session_id: int):
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        try:
            await in_session(
                lambda s: account_self_service.revoke_session(
                    s, user_id=user.id, session_id=session_id
                )
            )
        except DomainError as exc:
            self._say(exc.message, failed=True)
            return None
        if session_id == user.session_id:
            await self._forget_user_data()
            return load_document(signed_out_url())
        await self._load(user)
        self._say("Session ended.")
        return None

    @rx.event
    @checked(key=text(40))
    async def remove_method(self, key: str):
        """`Remove` on a sign-in method (never the last one; the other sessions end)."""
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        method = clip_text(key, 40)
        try:
            removed = await in_session(
                lambda s: account_self_service.remove_sign_in_method(
                    s, user_id=user.id, key=method, keep_session_id=user.session_id
                )
            )
        except DomainError as exc:
            self._say(exc.message, failed=True)
            return None
        await self._load(user)
        self._say(f"Removed: {removed}. Your other sessions have ended.")
        return None

    @rx.event
    @checked(form=form(confirm_email=accounts.MAX_EMAIL_LENGTH + 1))
    async def delete_account(self, form: dict[str, Any]):
        """`Delete account`, confirmed by typing the email: images and their files go."""
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        typed = clip_text(_get(form, "confirm_email"), accounts.MAX_EMAIL_LENGTH + 1)
        try:
            await asyncio.to_thread(
                account_flows.delete_account,
                db=get_engine(),
                storage=get_storage(),
                user_id=user.id,
                confirm_email=typed,
            )
        except DomainError as exc:
            self._say(exc.message, failed=True)
            return None
        await self._forget_user_data()
        return load_document(signed_out_url(account_deleted=True))
