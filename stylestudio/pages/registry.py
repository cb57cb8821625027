"""Every page of the app in one table: route, component, title and the event its load runs.
`stylestudio.py` adds them all; a new page is one row here (and its state and page modules,
paired by name: `state/gallery.py` ↔ `pages/gallery.py`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import reflex as rx
from reflex.event import EventHandler

from stylestudio.pages.account import account_page
from stylestudio.pages.admin import admin_moderation_page, admin_page
from stylestudio.pages.auth import (
    forgot_password_page,
    login_page,
    reset_password_page,
    signup_page,
    verify_email_page,
)
from stylestudio.pages.credits import credits_page
from stylestudio.pages.explore import explore_page
from stylestudio.pages.gallery import gallery_page
from stylestudio.pages.home import home_page
from stylestudio.pages.studio import studio_page
from stylestudio.pages.test_checkout import test_checkout_page
from stylestudio.state.account import AccountState
from stylestudio.state.admin import AdminState
from stylestudio.state.auth import AuthState
from stylestudio.state.credits import CreditsState
from stylestudio.state.explore import ExploreState
from stylestudio.state.gallery import GalleryState
from stylestudio.state.session import SessionState
from stylestudio.state.studio import StudioState
from stylestudio.state.test_checkout import TestCheckoutState

APP_NAME = "Style Studio"


@dataclass(frozen=True)
class Page:
    route: str
    component: Callable[[], rx.Component]
    # What the tab's title says before " · Style Studio" (empty: the app's name alone).
    name: str
    on_load: EventHandler

    @property
    def title(self) -> str:
        return f"{self.name} · {APP_NAME}" if self.name else APP_NAME


PAGES: tuple[Page, ...] = (
    Page("/", home_page, "", SessionState.load_public),
    Page("/signup", signup_page, "Create account", AuthState.open_auth_page),
    Page("/login", login_page, "Sign in", AuthState.open_auth_page),
    Page("/forgot-password", forgot_password_page, "Forgot password", AuthState.clear_messages),
    Page("/reset-password", reset_password_page, "New password", AuthState.clear_messages),
    Page("/verify-email", verify_email_page, "Verify email", AuthState.verify_email),
    Page("/upload", studio_page, "Studio", StudioState.open_studio),
    Page("/gallery", gallery_page, "Gallery", GalleryState.open_gallery),
    Page("/explore", explore_page, "Explore", ExploreState.open_explore),
    Page("/credits", credits_page, "Credits", CreditsState.open_credits),
    Page("/account", account_page, "Account", AccountState.open_account),
    Page("/admin", admin_page, "Admin", AdminState.open_admin),
    Page("/admin/moderation", admin_moderation_page, "Moderation · Admin", AdminState.open_admin),
)

# Served only while the offline test checkout is the payment provider: never in production
# without Stripe keys.
TEST_CHECKOUT = Page(
    "/checkout/test/[session_id]",
    test_checkout_page,
    "Test checkout",
    TestCheckoutState.open_test_checkout,
)


def pages(*, test_checkout: bool) -> tuple[Page, ...]:
    return (*PAGES, TEST_CHECKOUT) if test_checkout else PAGES


def add_pages(app: rx.App, *, test_checkout: bool) -> None:
    for page in pages(test_checkout=test_checkout):
        app.add_page(page.component, route=page.route, title=page.title, on_load=page.on_load)
