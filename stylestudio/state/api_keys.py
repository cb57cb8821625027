"""/account's Developers section: the user's REST API keys (create, list, revoke).

A new key's secret is shown once and must never rest in this tab's state, which Reflex
saves to Redis or disk: `create_key` sends it to the browser as a client-side event
(`rx.set_value` into the read-only field the page keeps mounted) and keeps only the key's
name and prefix here. `Done`, and opening the page again, empty the field."""

from __future__ import annotations

from typing import Any

import reflex as rx

from stylestudio.services.accounts import accounts, api_keys
from stylestudio.services.accounts.api_keys import ApiKeyView
from stylestudio.services.errors import DomainError
from stylestudio.settings import get_settings
from stylestudio.state.arguments import CHECKBOX, ROW_ID, checked, form
from stylestudio.state.calls import in_session
from stylestudio.state.form_values import clip_text, is_checked
from stylestudio.state.session import SessionState

# The read-only field the new key's secret is written into (by the browser only).
SECRET_FIELD_ID = "api-key-secret"


def scope_field(scope: str) -> str:
    """The create form's checkbox for `scope` (`library:write` -> `scope_library_write`)."""
    return "scope_" + scope.replace(":", "_")


def api_reference_url() -> str:
    """The REST API's reference page, served by the backend beside the pages."""
    return f"{get_settings().api_url.rstrip('/')}/api/v1/docs"


def _no_keys() -> list[ApiKeyView]:
    return []


class ApiKeysState(SessionState):
    keys: rx.Field[list[ApiKeyView]] = rx.field(default_factory=_no_keys)
    message: rx.Field[str] = rx.field("")
    failed: rx.Field[bool] = rx.field(False)
    # The key just created (never its secret): while set, the page shows the secret's field.
    created_name: rx.Field[str] = rx.field("")
    created_prefix: rx.Field[str] = rx.field("")
    revision: rx.Field[int] = rx.field(0)  # remounts the create form empty

    def _say(self, text: str, *, failed: bool = False) -> None:
        self.message, self.failed = text, failed

    async def _open_section(self, user: accounts.CurrentUser) -> None:
        """The account page's load: the user's keys; a secret shown before is gone (the
        page's field was emptied when the page was left)."""
        self.created_name = self.created_prefix = ""
        self._say("")
        await self._load(user)

    async def _load(self, user: accounts.CurrentUser) -> None:
        user_id = user.id
        self.keys = await in_session(
            lambda s: api_keys.list_api_keys(s, user_id=user_id), write=False
        )

    @rx.event
    @checked(
        form=form(name=api_keys.NAME_MAX + 1, **{scope_field(s): CHECKBOX for s in api_keys.SCOPES})
    )
    async def create_key(self, form: dict[str, Any]):
        """`Create key`: the secret goes to the browser once, never into this state."""
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        name = clip_text(form.get("name"), api_keys.NAME_MAX + 1)
        scopes = [s for s in api_keys.SCOPES if is_checked(form.get(scope_field(s)))]
        user_id, address = user.id, self.router.session.client_ip or None
        try:
            created = await in_session(
                lambda s: api_keys.create_api_key(
                    s, user_id=user_id, name=name, scopes=scopes, address=address
                )
            )
        except DomainError as exc:
            self._say(exc.message, failed=True)
            return None
        await self._load(user)
        self._say("")
        self.created_name, self.created_prefix = created.name, created.prefix
        self.revision += 1
        return rx.set_value(SECRET_FIELD_ID, created.secret)

    @rx.event
    async def dismiss_secret(self):
        """`Done` under the new key's secret: the field is emptied, the panel goes."""
        self.created_name = self.created_prefix = ""
        return rx.set_value(SECRET_FIELD_ID, "")

    @rx.event
    @checked(key_id=ROW_ID)
    async def revoke_key(self, key_id: int):
        """`Revoke` (confirmed in a dialog): the key fails from the next request on."""
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        user_id, address = user.id, self.router.session.client_ip or None
        try:
            await in_session(
                lambda s: api_keys.revoke_api_key(
                    s, user_id=user_id, key_id=key_id, address=address
                )
            )
        except DomainError as exc:
            self._say(exc.message, failed=True)
            return None
        await self._load(user)
        self._say("Key revoked: it no longer works.")
        return None
