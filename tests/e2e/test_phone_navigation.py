"""On a phone (390 × 844): every page is reachable from the header's menu — signed out, as a
user and as an admin — and no page scrolls sideways. At desktop width the links are in the
header and the menu button is gone."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    BASE,
    SHOTS,
    open_page,
    record_measurement,
    shot,
    sign_in,
    sign_out,
    sign_up,
)

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


def _page_width(pg: Any) -> int:
    """The page's width once its data is in (no placeholder left), tables included."""
    pg.wait_for_load_state("networkidle")
    pg.wait_for_function("document.querySelectorAll('[data-testid=skeleton]').length === 0")
    return int(pg.evaluate("document.documentElement.scrollWidth"))


def _follow_menu(pg: Any, label: str, path: str) -> None:
    """Open the header's menu and follow one of its links. A browser's first visit to a
    sign-in page goes by the backend for its sign-in nonce and comes back marked
    `?browser=checked`; the form works once its button is enabled."""
    button = pg.get_by_role("button", name="Menu", exact=True)
    assert button.is_visible()
    button.click()
    pg.get_by_role("menuitem", name=label, exact=True).click()
    pg.wait_for_url(re.compile(rf"^{re.escape(BASE + path)}(\?browser=checked)?$"))
    if path in ("/login", "/signup"):
        pg.locator("#auth-submit:enabled").wait_for()


def _menu_items(pg: Any) -> list[str]:
    pg.get_by_role("button", name="Menu", exact=True).click()
    items = pg.get_by_role("menuitem")
    items.first.wait_for()
    names = [items.nth(i).inner_text().strip() for i in range(items.count())]
    pg.keyboard.press("Escape")
    pg.get_by_role("menu").wait_for(state="detached")
    return names


def test_every_page_from_the_phone_menu_without_sideways_scrolling(page: Any) -> None:
    pg = page
    pg.set_viewport_size(PHONE)
    widths: dict[str, int] = {}

    def check(name: str) -> None:
        widths[name] = _page_width(pg)
        shot(pg, f"phone-{name}")
        assert widths[name] <= PHONE["width"], (name, widths[name])

    # Signed out: the landing page, then each link of the menu.
    open_page(pg, "/")
    assert _menu_items(pg) == ["Explore", "Sign in", "Create account"]
    check("home")
    _follow_menu(pg, "Explore", "/explore")
    check("explore-signed-out")
    _follow_menu(pg, "Create account", "/signup")
    check("signup")
    open_page(pg, "/")
    _follow_menu(pg, "Sign in", "/login")
    check("login")
    # The sign-in pages are a card without the header: their own links lead on.
    pg.get_by_role("link", name="Create an account").click()
    pg.wait_for_url(re.compile(rf"^{re.escape(BASE)}/signup(\?browser=checked)?$"))

    # A user: every page of the app from the menu, each from the one before.
    sign_up(pg, "phone.nav.e2e@example.com", "phone-nav-pass-1")
    check("studio")
    assert _menu_items(pg) == ["Studio", "Gallery", "Explore", "Credits", "Account"]
    for label, path in (
        ("Gallery", "/gallery"),
        ("Explore", "/explore"),
        ("Credits", "/credits"),
        ("Account", "/account"),
        ("Studio", "/upload"),
    ):
        _follow_menu(pg, label, path)
        check(label.lower() if label != "Studio" else "studio-again")
    # The menu open, as a phone shows it.
    pg.get_by_role("button", name="Menu", exact=True).click()
    pg.get_by_role("menuitem").first.wait_for()
    pg.screenshot(path=str(SHOTS / "phone-menu-open.png"))
    pg.keyboard.press("Escape")
    sign_out(pg)

    # An admin also finds Admin there (its width: test_the_admin_page_fits_a_phone).
    sign_in(pg, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert _menu_items(pg) == ["Studio", "Gallery", "Explore", "Credits", "Admin", "Account"]
    _follow_menu(pg, "Admin", "/admin")
    pg.locator("#audit-log").wait_for()
    record_measurement("phone_page_widths", widths)


def _wider_than_the_screen(pg: Any) -> list[str]:
    """The innermost elements that reach past the screen's right edge (what to fix)."""
    return list(
        pg.evaluate(
            """() => [...document.querySelectorAll('body *')]
              .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                && ![...e.children].some(c => c.getBoundingClientRect().right
                                              > window.innerWidth + 1))
              .slice(0, 8)
              .map(e => `${e.tagName.toLowerCase()}.${[...e.classList].join('.')}`
                        + ` right=${Math.round(e.getBoundingClientRect().right)}`
                        + ` "${(e.innerText || '').slice(0, 40)}"`)"""
        )
    )


def test_the_admin_page_fits_a_phone(page: Any) -> None:
    pg = page
    pg.set_viewport_size(PHONE)
    sign_in(pg, ADMIN_EMAIL, ADMIN_PASSWORD)
    _follow_menu(pg, "Admin", "/admin")
    pg.locator("#audit-log").wait_for()
    width = _page_width(pg)
    shot(pg, "phone-admin")
    record_measurement("phone_admin_width", {"admin": width})
    assert width <= PHONE["width"], (width, _wider_than_the_screen(pg))


def test_desktop_keeps_the_links_in_the_header(page: Any) -> None:
    pg = page
    open_page(pg, "/")
    pg.get_by_role("link", name="Explore", exact=True).wait_for()  # visible, once hydrated
    assert not pg.get_by_role("button", name="Menu", exact=True).is_visible()
    shot(pg, "desktop-header-signed-out")
    sign_up(pg, "desk.nav.e2e@example.com", "desk-nav-pass-1")
    for label in ("Studio", "Gallery", "Explore", "Credits"):
        pg.get_by_role("link", name=label, exact=True).wait_for()
    assert not pg.get_by_role("button", name="Menu", exact=True).is_visible()
    pg.get_by_role("link", name="Credits", exact=True).click()
    pg.wait_for_url(f"{BASE}/credits")
    shot(pg, "desktop-header-credits")
