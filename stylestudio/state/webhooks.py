"""/account's Webhooks section: the user's endpoints (add, reveal or rotate the signing
secret, delete) and each endpoint's latest deliveries (replay).

An endpoint's signing secret must never rest in this tab's state, which Reflex saves to
Redis or disk: adding, revealing and rotating send it to the browser as a client-side event
(`rx.set_value` into the read-only field the page keeps mounted) and keep only which
endpoint it belongs to here. `Done`, and opening the page again, empty the field."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import reflex as rx

from stylestudio.services.accounts import accounts
from stylestudio.services.errors import DomainError
from stylestudio.services.integrations import (
    webhook_delivery,
    webhook_endpoints,
    webhook_log,
    webhook_targets,
)
from stylestudio.services.integrations.webhook_log import WebhookEndpointLog
from stylestudio.state.arguments import CHECKBOX, FLAG, ROW_ID, checked, form
from stylestudio.state.calls import in_session
from stylestudio.state.form_values import clip_text, is_checked
from stylestudio.state.session import SessionState

# The read-only field an endpoint's signing secret is written into (by the browser only).
SECRET_FIELD_ID = "webhook-secret"
SECRET_PANEL_ID = "webhook-secret-panel"
# While a listed delivery waits, the section looks again this often, for this long.
FOLLOW_EVERY_SECONDS = 2.0
FOLLOW_SECONDS = 120.0


def event_field(event_type: str) -> str:
    """The add form's checkbox for `event_type` (`generation.completed` ->
    `event_generation_completed`)."""
    return "event_" + event_type.replace(".", "_")


def _no_endpoints() -> list[WebhookEndpointLog]:
    return []


def _waiting(logs: list[WebhookEndpointLog]) -> bool:
    return any(d.status == "pending" for e in logs for d in e.deliveries)


class WebhooksState(SessionState):
    endpoints: rx.Field[list[WebhookEndpointLog]] = rx.field(default_factory=_no_endpoints)
    message: rx.Field[str] = rx.field("")
    failed: rx.Field[bool] = rx.field(False)
    # A message about one endpoint (replay, reveal, rotate), shown in its row.
    row_endpoint_id: rx.Field[int] = rx.field(0)
    row_message: rx.Field[str] = rx.field("")
    row_failed: rx.Field[bool] = rx.field(False)
    # Whose secret the field shows (never the secret): while set, the page shows the field.
    secret_url: rx.Field[str] = rx.field("")
    secret_note: rx.Field[str] = rx.field("")
    revision: rx.Field[int] = rx.field(0)  # remounts the add form empty
    _follower: int = 0

    def _say(self, text: str, *, failed: bool = False) -> None:
        self.message, self.failed = text, failed
        self.row_endpoint_id, self.row_message, self.row_failed = 0, "", False

    def _say_in_row(self, endpoint_id: int, text: str, *, failed: bool = False) -> None:
        self.message, self.failed = "", False
        self.row_endpoint_id, self.row_message, self.row_failed = endpoint_id, text, failed

    async def _open_section(self, user: accounts.CurrentUser) -> bool:
        """The account page's load: the user's endpoints and their deliveries; a secret
        shown before is gone (the page's field was emptied when the page was left). True
        when a delivery waits, so the page should follow it."""
        self.secret_url = self.secret_note = ""
        self._say("")
        await self._load(user)
        return _waiting(self.endpoints)

    async def _load(self, user: accounts.CurrentUser) -> None:
        user_id = user.id
        self.endpoints = await in_session(
            lambda s: webhook_log.endpoint_logs(s, user_id=user_id), write=False
        )

    def _show_secret(self, url: str, note: str, secret: str) -> Any:
        self.secret_url, self.secret_note = url, note
        return [rx.set_value(SECRET_FIELD_ID, secret), rx.scroll_to(SECRET_PANEL_ID)]

    @rx.event
    @checked(
        form=form(
            url=webhook_targets.URL_MAX + 1,
            **{event_field(e): CHECKBOX for e in webhook_endpoints.EVENT_TYPES},
        )
    )
    async def add_endpoint(self, form: dict[str, Any]):
        """`Add endpoint`: the signing secret goes to the browser, never into this state."""
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        url = clip_text(form.get("url"), webhook_targets.URL_MAX + 1)
        events = [e for e in webhook_endpoints.EVENT_TYPES if is_checked(form.get(event_field(e)))]
        user_id = user.id
        try:
            created = await in_session(
                lambda s: webhook_endpoints.create_endpoint(
                    s, user_id=user_id, url=url, events=events
                )
            )
        except DomainError as exc:
            self._say(exc.message, failed=True)
            return None
        await self._load(user)
        self._say("")
        self.revision += 1
        return self._show_secret(
            created.endpoint.url,
            "Copy this signing secret into your receiver now: it verifies that deliveries "
            "come from Style Studio.",
            created.secret,
        )

    @rx.event
    async def dismiss_secret(self):
        """`Done` under the secret: the field is emptied, the panel goes."""
        self.secret_url = self.secret_note = ""
        return rx.set_value(SECRET_FIELD_ID, "")

    @rx.event
    @checked(endpoint_id=ROW_ID)
    async def reveal_secret(self, endpoint_id: int):
        """`Reveal secret`: the endpoint's current secret, into the browser's field only."""
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        user_id = user.id
        try:
            secret = await in_session(
                lambda s: webhook_endpoints.endpoint_secret(
                    s, user_id=user_id, endpoint_id=endpoint_id
                ),
                write=False,
            )
        except DomainError as exc:
            self._say(exc.message, failed=True)
            return None
        self._say("")
        return self._show_secret(
            self._url_of(endpoint_id), "The endpoint's signing secret.", secret
        )

    @rx.event
    @checked(endpoint_id=ROW_ID)
    async def rotate_secret(self, endpoint_id: int):
        """`Rotate secret` (confirmed in a dialog): deliveries from now on are signed with a
        new secret; the old one stops verifying."""
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        user_id = user.id
        try:
            secret = await in_session(
                lambda s: webhook_endpoints.rotate_secret(
                    s, user_id=user_id, endpoint_id=endpoint_id
                )
            )
        except DomainError as exc:
            self._say(exc.message, failed=True)
            return None
        self._say("")
        return self._show_secret(
            self._url_of(endpoint_id),
            "The new signing secret: deliveries from now on are signed with it, and the old "
            "one no longer verifies. Put it in your receiver.",
            secret,
        )

    def _url_of(self, endpoint_id: int) -> str:
        return next((e.url for e in self.endpoints if e.id == endpoint_id), "")

    @rx.event
    @checked(endpoint_id=ROW_ID)
    async def delete_endpoint(self, endpoint_id: int):
        """`Delete` (confirmed in a dialog): nothing more is sent to the endpoint."""
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        user_id = user.id
        try:
            await in_session(
                lambda s: webhook_endpoints.delete_endpoint(
                    s, user_id=user_id, endpoint_id=endpoint_id
                )
            )
        except DomainError as exc:
            self._say(exc.message, failed=True)
            return None
        await self._load(user)
        self._say("Endpoint deleted: nothing more is sent to it.")
        return None

    @rx.event
    @checked(endpoint_id=ROW_ID, paused=FLAG)
    async def set_paused(self, endpoint_id: int, paused: bool):
        """`Pause` / `Resume`: a paused endpoint gets no new events; what is waiting waits."""
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        user_id = user.id
        try:
            await in_session(
                lambda s: webhook_endpoints.set_endpoint_disabled(
                    s, user_id=user_id, endpoint_id=endpoint_id, disabled=paused
                )
            )
        except DomainError as exc:
            self._say(exc.message, failed=True)
            return None
        await self._load(user)
        self._say_in_row(
            endpoint_id,
            "Paused: no new events are sent to it until you resume it."
            if paused
            else "Resumed: new events are sent to it again, and what was waiting goes out.",
        )
        return None

    @rx.event
    @checked(delivery_id=ROW_ID)
    async def replay_delivery(self, delivery_id: int):
        """`Replay`: the same event (same `webhook-id`) is sent again within seconds."""
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        user_id = user.id
        try:
            view = await in_session(
                lambda s: webhook_delivery.replay(s, user_id=user_id, delivery_id=delivery_id)
            )
        except DomainError as exc:
            self._say(exc.message, failed=True)
            return None
        await self._load(user)
        self._say_in_row(
            view.endpoint_id,
            f"{view.event_type} queued again: it is sent within a few seconds, with the same "
            "webhook-id.",
        )
        return WebhooksState.follow_deliveries

    @rx.event
    async def refresh(self):
        """`Refresh`: the deliveries as they are now."""
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        await self._load(user)
        return WebhooksState.follow_deliveries if _waiting(self.endpoints) else None

    @rx.event(background=True)
    async def follow_deliveries(self) -> None:
        """While a listed delivery waits, look again every few seconds (for a while), so
        it turns `delivered` or `failed` without a reload. A newer follower replaces this."""
        async with self:
            self._follower += 1
            follower = self._follower
        deadline = asyncio.get_running_loop().time() + FOLLOW_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(FOLLOW_EVERY_SECONDS)
            async with self:
                if self._follower != follower:
                    return
                user = await self._current_user()
            if user is None:
                return
            logs = await in_session(
                functools.partial(webhook_log.endpoint_logs, user_id=user.id), write=False
            )
            async with self:
                if self._follower != follower:
                    return
                self.endpoints = logs
            if not _waiting(logs):
                return
