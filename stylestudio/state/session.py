"""Who is signed in, resolved on the server from the session cookie on every event.

The cookie is HttpOnly: page scripts cannot read it, and it is never part of Reflex state.
Handlers read it from the headers of the websocket handshake (`router.headers.cookie`, which
Reflex does not send back to the page); it is set and cleared only by HTTP responses of ours
(api/auth_routes.py), so signing in or out ends with a page load and a new connection."""

from __future__ import annotations

import reflex as rx
from reflex.state import BaseState, _override_base_method

from stylestudio.api.auth_routes import signed_out_url
from stylestudio.api.session_cookie import session_token_from
from stylestudio.services import accounts, sign_in_tickets
from stylestudio.services.accounts import CurrentUser
from stylestudio.services.errors import UnauthorizedError
from stylestudio.settings import get_settings
from stylestudio.state.arguments import CheckedSetVar
from stylestudio.state.calls import in_session


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
        """The session token the browser sent with this tab's websocket (never stored)."""
        return session_token_from(self.router.headers.cookie)

    async def _current_user(self) -> CurrentUser | None:
        token = self.session_token
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

    def _show(self, user: CurrentUser | None) -> None:
        self._user_id = user.id if user else 0
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
        return rx.redirect(signed_out_url())

    @rx.event
    async def sign_out_everywhere(self):
        """End every session of this account (other browsers too), then this one's cookie."""
        user = await self._current_user()
        if user is not None:
            await in_session(lambda s: sign_in_tickets.end_all_sessions(s, user_id=user.id))
        await self._forget_user_data()
        self._show(None)
        return rx.redirect(signed_out_url())


def media_base_url() -> str:
    return get_settings().api_url
