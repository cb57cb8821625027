"""Read-mostly pages: the user's gallery, credits, the public gallery and admin."""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from stylestudio.services import accounts, admin, billing, credits, generations, showcase
from stylestudio.services.errors import DomainError
from stylestudio.state.calls import in_session
from stylestudio.state.session import SessionState, media_base_url

GALLERY_PAGE_SIZE = 24


def _rows() -> list[dict[str, Any]]:
    return []


def _record() -> dict[str, Any]:
    return {}


class GalleryState(SessionState):
    items: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=_rows)
    has_more: rx.Field[bool] = rx.field(False)

    @rx.event
    async def open_gallery(self):
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        self.items = await self._page(user.id, before_id=None)
        return None

    @rx.event
    async def load_more(self) -> None:
        user = await self._current_user()
        if user is None or not self.items:
            return
        self.items = self.items + await self._page(user.id, before_id=int(self.items[-1]["id"]))

    async def _page(self, user_id: int, *, before_id: int | None) -> list[dict[str, Any]]:
        base = media_base_url()
        views = await in_session(
            lambda s: generations.list_user_generations(
                s,
                user_id=user_id,
                base_url=base,
                limit=GALLERY_PAGE_SIZE + 1,
                before_id=before_id,
            ),
            write=False,
        )
        self.has_more = len(views) > GALLERY_PAGE_SIZE
        return [v.as_dict() for v in views[:GALLERY_PAGE_SIZE]]


class CreditsState(SessionState):
    packs: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=_rows)
    history: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=_rows)

    @rx.event
    async def open_credits(self):
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")

        def load(session: Session) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            packs = [p.__dict__ for p in billing.list_active_packs(session)]
            history = [h.__dict__ for h in credits.ledger_history(session, user_id=user.id)]
            return packs, history

        self.packs, self.history = await in_session(load, write=False)
        return None


class ExploreState(SessionState):
    items: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=_rows)

    @rx.event
    async def open_explore(self) -> None:
        await self._current_user()
        base = media_base_url()
        items = await in_session(
            lambda s: showcase.list_public_gallery(s, base_url=base), write=False
        )
        self.items = [i.as_dict() for i in items]


class AdminState(SessionState):
    stats: rx.Field[dict[str, Any]] = rx.field(default_factory=_record)
    by_status: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=_rows)
    packs: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=_rows)
    queue: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=_rows)
    recent_users: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=_rows)
    denied: rx.Field[bool] = rx.field(False)

    @rx.event
    async def open_admin(self):
        token = self.session_token
        base = media_base_url()

        def load(session: Session) -> admin.AdminOverview:
            accounts.require_admin(session, token=token)  # checked on the server, every time
            return admin.overview(session, base_url=base)

        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        try:
            data = await in_session(load, write=False)
        except DomainError:
            self.denied = True
            self.stats, self.by_status, self.packs, self.queue = {}, [], [], []
            self.recent_users = []
            return None
        self.denied = False
        self.stats = {
            "users": data.users,
            "generations": data.generations,
            "credits_spent": data.credits_spent,
            "credits_refunded": data.credits_refunded,
            "revenue": data.revenue,
            "free_trial_credits": data.free_trial_credits,
            "refund_on_failure": "On" if data.refund_on_failure else "Off",
        }
        self.by_status = [
            {"status": k.capitalize(), "count": v} for k, v in data.generations_by_status.items()
        ]
        self.packs = data.packs
        self.queue = data.moderation_queue
        self.recent_users = data.recent_users
        return None
