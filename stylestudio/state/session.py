"""Who is signed in, resolved on the server from the session cookie on every event.

The cookie is HttpOnly: page scripts cannot read it, and it is never part of Reflex state,
which Reflex saves to disk or Redis. The websocket handshake's cookie is taken out of the
router headers before state sees them and kept in this process's memory, keyed by the socket
(state/socket_sessions.py); handlers read it from there. It is set and cleared only by HTTP
responses of ours (api/auth_routes.py), so signing in or out ends with a page load and a new
connection.

The tab token Reflex keeps in the page's sessionStorage is not a credential: before any event
of a socket is handled, `TabOwnerCheck` resets a tab whose state belongs to a user other than
the one the socket's own cookie signs in, so a socket opened with a stolen tab token and no
(or another) cookie is sent defaults only."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import reflex as rx
from reflex.middleware import Middleware
from reflex.state import BaseState, _override_base_method

from stylestudio.api.auth_routes import signed_out_url
from stylestudio.services.accounts import accounts, sign_in_tickets
from stylestudio.services.accounts.accounts import CurrentUser
from stylestudio.services.errors import UnauthorizedError
from stylestudio.settings import get_settings
from stylestudio.state import socket_sessions
from stylestudio.state.arguments import CheckedSetVar
from stylestudio.state.calls import in_session
from stylestudio.state.navigation import load_document

if TYPE_CHECKING:
    from reflex.app import App
    from reflex.state import StateUpdate
    from reflex_base.event import Event

log = logging.getLogger(__name__)


class SessionState(rx.State):
    """The header's view of the user. Display only: every handler re-resolves the token."""

    signed_in: rx.Field[bool] = rx.field(False)
    user_email: rx.Field[str] = rx.field("")
    user_name: rx.Field[str] = rx.field("")
    credits: rx.Field[int] = rx.field(0)
    is_admin: rx.Field[bool] = rx.field(False)
    # Whose data this tab's states hold (backend only; never used as authority).
    _user_id: int = 0

    @classmethod
    @_override_base_method  # Reflex's own marker for a deliberate override
    def _create_setvar(cls) -> None:
        """Reflex's generic `setvar`, for this state and every page's, checked (see there)."""
        cls.setvar = cls.event_handlers["setvar"] = CheckedSetVar(state_cls=cls)

    @property
    def session_token(self) -> str | None:
        """The session token the browser sent with this tab's websocket (or with the upload
        being handled), held in this process's memory only."""
        return self._session_lookup()[1]

    def _session_lookup(self) -> tuple[bool, str | None]:
        session = self.router.session
        return socket_sessions.session_token(session.session_id, session.client_token)

    async def _current_user(self) -> CurrentUser | None:
        known, token = self._session_lookup()
        if not known:
            # The tab's socket closed (or lives in another process) while a background task
            # of it still runs: nobody is there to act for, and nothing to wipe either.
            return None
        user = await in_session(lambda s: accounts.resolve_session(s, token=token), write=False)
        if (user is None and self.signed_in) or (
            user is not None and self._user_id not in (0, user.id)
        ):
            # Signed out elsewhere, expired, revoked, or another account signed in through
            # another tab: nothing of the previous user may stay in this tab.
            await self._forget_user_data()
        if user is not None and not user.seen_recently:
            session_id = user.session_id
            await in_session(lambda s: accounts.touch_session(s, session_id=session_id))
        self._show(user)
        return user

    async def _forget_user_data(self) -> None:
        """Reset every user-scoped var of this tab (all pages' states) to its default.

        Every substate is loaded first, so a page the tab has not opened since sign-in is
        reset as well, then the whole tree below SessionState is reset.
        """
        root = await self.get_state(SessionState)
        pending: list[type[BaseState]] = [SessionState]
        while pending:
            cls = pending.pop()
            await self.get_state(cls)
            pending.extend(cls.get_substates())
        root.reset()

    async def _require_user(self) -> CurrentUser:
        user = await self._current_user()
        if user is None:
            raise UnauthorizedError()
        return user

    async def _check_tab_owner(self) -> None:
        """Reset the tab if its state is another user's than the one this socket's cookie
        signs in (a stolen tab token, a signed-out cookie); checked once per socket."""
        owner = self._user_id
        sid = self.router.session.session_id
        if not owner or socket_sessions.owner_checked(sid) == owner:
            return
        known, token = self._session_lookup()
        if not known:
            return
        user = await in_session(lambda s: accounts.resolve_session(s, token=token), write=False)
        if user is not None and user.id == owner:
            socket_sessions.mark_owner_checked(sid, owner)
            return
        log.info("tab state reset: the connection's session does not own it")
        await self._forget_user_data()
        self._show(None)

    def _show(self, user: CurrentUser | None) -> None:
        self._user_id = user.id if user else 0
        if user is not None:
            socket_sessions.mark_owner_checked(self.router.session.session_id, user.id)
        self.signed_in = user is not None
        self.user_email = user.email if user else ""
        self.user_name = user.name if user else ""
        self.credits = user.credits if user else 0
        self.is_admin = bool(user and user.is_admin)

    @rx.var
    def credits_label(self) -> str:
        return f"{self.credits} credit" if self.credits == 1 else f"{self.credits} credits"

    @rx.event
    async def load_public(self) -> None:
        """on_load of public pages: show the header for whoever is there."""
        await self._current_user()

    @rx.event
    async def require_login(self):
        """on_load of signed-in pages: send visitors to /login."""
        if await self._current_user() is None:
            return rx.redirect("/login")
        return None

    @rx.event
    async def sign_out(self):
        """End this session in the database, then let the backend clear the cookie."""
        token = self.session_token
        await in_session(lambda s: accounts.end_session(s, token=token))
        await self._forget_user_data()
        self._show(None)
        return load_document(signed_out_url())

    @rx.event
    async def sign_out_everywhere(self):
        """End every session of this account (other browsers too), then this one's cookie."""
        user = await self._current_user()
        if user is not None:
            await in_session(lambda s: sign_in_tickets.end_all_sessions(s, user_id=user.id))
        await self._forget_user_data()
        self._show(None)
        return load_document(signed_out_url())


class TabOwnerCheck(Middleware):
    """Runs before every event: a socket whose cookie does not sign in the user a tab's
    state belongs to gets that tab reset before anything of it is sent or changed."""

    async def preprocess(self, app: App, state: BaseState, event: Event) -> StateUpdate | None:
        session_state = await state.get_state(SessionState)
        await session_state._check_tab_owner()
        return None


def media_base_url() -> str:
    return get_settings().api_url
