"""axe-core over every page, signed out, as a user with a generation, and as an admin, at a
desktop width and on a phone (390×844): no serious or critical violation anywhere.

axe-core's JavaScript comes bundled in `axe-playwright-python` (nothing is fetched)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    BASE,
    open_page,
    product_jpeg,
    shot,
    sign_in,
    sign_up,
)

pytestmark = pytest.mark.e2e

VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}
BLOCKING = ("serious", "critical")
PUBLIC_ROUTES = ("/", "/login", "/signup", "/forgot-password", "/explore")
USER_ROUTES = ("/upload", "/gallery", "/explore", "/credits", "/account")
ADMIN_ROUTES = ("/admin", "/admin/moderation")


def _settle(pg: Any) -> None:
    """Wait until the page's data is in: no skeleton (aria-busy) left on it."""
    pg.wait_for_load_state("networkidle")
    pg.wait_for_function("!document.querySelector('[aria-busy=true]')", timeout=30_000)
    pg.wait_for_function("document.title !== ''")  # set by the page once it has hydrated
    pg.wait_for_timeout(300)  # dialogs' and toasts' opening animations


# Labels whose `for` names no element: axe does not report them, the browser ignores them.
_DANGLING_LABELS = """() => [...document.querySelectorAll('label[for]')]
    .filter((l) => !document.getElementById(l.htmlFor))
    .map((l) => `label for="${l.htmlFor}" (${l.textContent.trim()})`)"""


def _violations(pg: Any, where: str) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(pg)
    found = [f"{where}: {label} points at nothing" for label in pg.evaluate(_DANGLING_LABELS)]
    for violation in results.response["violations"]:
        if violation.get("impact") not in BLOCKING:
            continue
        nodes = violation.get("nodes", [])
        targets = "; ".join(
            f"{' '.join(map(str, n.get('target', [])))} {n.get('html', '')[:160]}"
            for n in nodes[:4]
        )
        found.append(
            f"{where}: [{violation['impact']}] {violation['id']}: {violation['help']}"
            f" ({len(nodes)} elements) — {targets}"
        )
    return found


def _check(pg: Any, where: str, found: list[str]) -> None:
    _settle(pg)
    found.extend(_violations(pg, where))


def _check_routes(pg: Any, role: str, size: str, routes: tuple[str, ...], found: list[str]) -> None:
    for route in routes:
        open_page(pg, route)
        _check(pg, f"{role} {size} {route}", found)
        if size == "phone":  # the narrow layouts, to look at
            shot(pg, f"phone-{role}-{route.strip('/').replace('/', '-') or 'home'}")


def _fail_on(found: list[str]) -> None:
    if found:
        print("\n".join(found))
        pytest.fail(f"{len(found)} serious/critical axe violations:\n" + "\n".join(found))


def _new_page(browser: Any, size: str) -> Any:
    width, height = VIEWPORTS[size]
    pg = browser.new_context(viewport={"width": width, "height": height}).new_page()
    pg.set_default_timeout(30_000)
    return pg


def test_signed_out_pages_have_no_serious_violations(browser: Any) -> None:
    found: list[str] = []
    for size in VIEWPORTS:
        pg = _new_page(browser, size)
        _check_routes(pg, "signed-out", size, PUBLIC_ROUTES, found)
        pg.context.close()
    _fail_on(found)


def _make_generation_and_share_link(pg: Any, tmp_path: Path, found: list[str]) -> str:
    open_page(pg, "/upload")
    pg.locator("#product input[type=file]").set_input_files(
        str(product_jpeg(tmp_path / "teapot.jpg", color=(40, 120, 90)))
    )
    pg.get_by_text("teapot.jpg").wait_for()
    pg.get_by_label("Prompt", exact=True).fill("A green teapot on a marble counter")
    pg.get_by_role("button", name="Generate", exact=True).click()
    pg.locator(".generation-status[data-status=completed]").wait_for(timeout=90_000)
    pg.locator(".before-after").wait_for()
    _check(pg, "user desktop /upload with a result", found)
    open_page(pg, "/gallery")
    pg.locator(".generation-card").first.get_by_role("button", name="Share").click()
    pg.get_by_role("button", name="Create link").click()
    pg.locator("#share-url").wait_for()
    url: str = pg.locator("#share-url").input_value()
    pg.keyboard.press("Escape")
    return url


def test_user_pages_have_no_serious_violations(browser: Any, tmp_path: Path) -> None:
    found: list[str] = []
    setup = _new_page(browser, "desktop")
    sign_up(setup, "axe.user.e2e@example.com", "axe-user-password-1")
    share_url = _make_generation_and_share_link(setup, tmp_path, found)
    setup.context.close()

    for size in VIEWPORTS:
        pg = _new_page(browser, size)
        sign_in(pg, "axe.user.e2e@example.com", "axe-user-password-1")
        _check_routes(pg, "user", size, USER_ROUTES, found)

        # The studio with a finished result on it, and the gallery's share dialog.
        open_page(pg, "/gallery")
        pg.locator(".generation-card").first.get_by_role("button", name="Share").click()
        pg.get_by_role("dialog").wait_for()
        _check(pg, f"user {size} /gallery share dialog", found)
        pg.keyboard.press("Escape")

        # The offline test checkout, then the return from it (cancelled).
        open_page(pg, "/credits")
        pg.locator(".buy-pack[data-pack=starter]").click()
        pg.wait_for_url(f"{BASE}/checkout/test/**")
        pg.get_by_text("Test mode — no real payment is taken").wait_for()
        _check(pg, f"user {size} /checkout/test/<id>", found)
        pg.get_by_role("button", name="Cancel").click()
        pg.wait_for_url(f"{BASE}/credits?cancelled=*")
        pg.locator("#checkout-message").wait_for()
        _check(pg, f"user {size} /credits?cancelled=<id>", found)

        pg.goto(share_url)
        pg.get_by_role("img").first.wait_for()
        found.extend(_violations(pg, f"user {size} /s/<token>"))

        # The same public pages while signed in (the header differs).
        _check_routes(pg, "user", size, ("/",), found)
        pg.context.close()
    _fail_on(found)


def test_the_first_tab_skips_to_the_content(page: Any) -> None:
    """One Tab and Enter reach the page's content, past the header's links."""
    sign_up(page, "skip.link.e2e@example.com", "skip-link-password-1")
    open_page(page, "/upload")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    assert skip.evaluate("(el) => el === document.activeElement")
    assert skip.is_visible()  # shown while it has the focus
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement?.id === 'main-content'")
    page.keyboard.press("Tab")  # the next stop is inside the content, not the header
    assert page.evaluate("!!document.activeElement.closest('#main-content')"), page.evaluate(
        "document.activeElement.outerHTML.slice(0, 200)"
    )


def test_admin_pages_have_no_serious_violations(browser: Any) -> None:
    found: list[str] = []
    for size in VIEWPORTS:
        pg = _new_page(browser, size)
        sign_in(pg, ADMIN_EMAIL, ADMIN_PASSWORD)
        _check_routes(pg, "admin", size, ADMIN_ROUTES, found)
        pg.context.close()
    _fail_on(found)
