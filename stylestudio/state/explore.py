"""/explore: the public gallery of featured images."""

from __future__ import annotations

import reflex as rx

from stylestudio.services.billing import pricing
from stylestudio.services.errors import DomainError
from stylestudio.services.moderation import showcase
from stylestudio.services.moderation.showcase import ShowcaseItem
from stylestudio.state.arguments import FLAG, ROW_ID, checked, choice
from stylestudio.state.calls import in_session
from stylestudio.state.infinite_scroll import INFINITE_SCROLL_JS
from stylestudio.state.session import SessionState, media_base_url

EXPLORE_PAGE_SIZE = 24


def _rows() -> list[ShowcaseItem]:
    return []


def _nothing_opened() -> ShowcaseItem:
    return ShowcaseItem(id=0, image_url="", thumb_url="", style="", author="", featured_at="")


class ExploreState(SessionState):
    """/explore is public: no sign-in needed, only approved images are ever listed."""

    items: rx.Field[list[ShowcaseItem]] = rx.field(default_factory=_rows)
    style: rx.Field[str] = rx.field("")
    has_more: rx.Field[bool] = rx.field(False)
    opened: rx.Field[ShowcaseItem] = rx.field(default_factory=_nothing_opened)
    viewer_open: rx.Field[bool] = rx.field(False)
    # False until the first page is in: the page shows a skeleton, not "Nothing featured".
    loaded: rx.Field[bool] = rx.field(False)

    @rx.event
    async def open_explore(self):
        await self._current_user()  # the header, when someone is signed in
        self.viewer_open = False
        await self._first_page()
        return rx.call_script(INFINITE_SCROLL_JS)

    @rx.event
    @checked(style=choice("", *pricing.STYLE_PRESETS))
    async def filter_style(self, style: str) -> None:
        self.style = style if isinstance(style, str) and style in pricing.STYLE_PRESETS else ""
        await self._first_page()  # the old cards stay until the new ones replace them

    @rx.event
    async def load_more(self) -> None:
        if not self.items:
            return
        self.items = self.items + await self._page(before=self.items[-1].cursor)

    @rx.event
    @checked(image_id=ROW_ID)
    async def open_image(self, image_id: int) -> None:
        base = media_base_url()
        try:
            item = await in_session(
                lambda s: showcase.get_public_image(s, image_id=image_id, base_url=base),
                write=False,
            )
        except DomainError:
            self.viewer_open = False
            await self._first_page()  # it left Explore meanwhile
            return
        self.opened, self.viewer_open = item, True

    @rx.event
    @checked(value=FLAG)
    def set_viewer_open(self, value: bool) -> None:
        self.viewer_open = bool(value)

    async def _first_page(self) -> None:
        self.items = await self._page(before=None)
        self.loaded = True

    async def _page(self, *, before: str | None) -> list[ShowcaseItem]:
        base, style = media_base_url(), self.style or None
        items = await in_session(
            lambda s: showcase.list_public_gallery(
                s, base_url=base, limit=EXPLORE_PAGE_SIZE + 1, style=style, before=before
            ),
            write=False,
        )
        self.has_more = len(items) > EXPLORE_PAGE_SIZE
        return items[:EXPLORE_PAGE_SIZE]
