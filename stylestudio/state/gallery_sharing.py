"""The gallery's share links of one image: made with an expiry, listed, revoked. The link
itself is shown once, when it is made (only its hash is kept)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import reflex as rx

from stylestudio.services.errors import DomainError
from stylestudio.services.library import sharing
from stylestudio.services.library.sharing import ShareLinkView
from stylestudio.state.arguments import FLAG, ROW_ID, checked, choice
from stylestudio.state.calls import in_session
from stylestudio.state.session import media_base_url

if TYPE_CHECKING:
    from stylestudio.services.accounts.accounts import CurrentUser


def _share_links() -> list[ShareLinkView]:
    return []


class GallerySharing(rx.State, mixin=True):
    """The share dialog, mixed into GalleryState (which opens it on one of its cards): its
    vars and handlers are the gallery's own, named as before."""

    share_open: rx.Field[bool] = rx.field(False)
    share_image: rx.Field[int] = rx.field(0)
    share_expiry: rx.Field[str] = rx.field("7d")
    share_links: rx.Field[list[ShareLinkView]] = rx.field(default_factory=_share_links)
    share_new_url: rx.Field[str] = rx.field("")
    share_error: rx.Field[str] = rx.field("")

    if TYPE_CHECKING:  # SessionState's, which GalleryState brings

        async def _current_user(self) -> CurrentUser | None: ...

    @rx.event
    @checked(value=FLAG)
    def set_share_open(self, value: bool) -> None:
        self.share_open = bool(value)
        if not value:
            self.share_new_url = ""  # shown once: the link cannot be recovered later

    @rx.event
    @checked(value=choice(*sharing.EXPIRY_CHOICES))
    def set_share_expiry(self, value: str) -> None:
        self.share_expiry = value if value in sharing.EXPIRY_CHOICES else "7d"

    @rx.event
    async def create_share(self):
        image_id, expiry = self.share_image, self.share_expiry
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        try:
            created = await in_session(
                lambda s: sharing.create_share_link(
                    s,
                    user_id=user.id,
                    image_id=image_id,
                    expires_in=expiry,  # type: ignore[arg-type]
                )
            )
        except DomainError as exc:
            self.share_error = exc.message
            return None
        self.share_new_url, self.share_error = (
            sharing.share_url(created.token, base_url=media_base_url()),
            "",
        )
        return await self._load_links()

    @rx.event
    @checked(link_id=ROW_ID)
    async def revoke_share(self, link_id: int):
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        try:
            await in_session(
                lambda s: sharing.revoke_share_link(s, user_id=user.id, link_id=link_id)
            )
        except DomainError as exc:
            self.share_error = exc.message
        self.share_new_url = ""
        return await self._load_links()

    async def _load_links(self):
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        image_id = self.share_image
        try:
            links = await in_session(
                lambda s: sharing.list_share_links(s, user_id=user.id, image_id=image_id),
                write=False,
            )
        except DomainError as exc:
            self.share_error, self.share_links = exc.message, []
            return None
        self.share_links = links
        return None
