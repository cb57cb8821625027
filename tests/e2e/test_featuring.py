"""The public side in the browser: a creator asks for featuring, an admin approves on /admin,
a visitor who is not signed in sees it on /explore; a rejection shows its reason on the
card; withdrawing takes it off /explore."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    open_page,
    product_jpeg,
    received,
    record_frames,
    shot,
    sign_in,
    sign_up,
)

pytestmark = pytest.mark.e2e


def _generate(pg: Any, tmp_path: Path, name: str, color: tuple[int, int, int]) -> None:
    open_page(pg, "/upload")
    pg.locator("#product input[type=file]").set_input_files(
        str(product_jpeg(tmp_path / name, color=color))
    )
    pg.get_by_text(name).wait_for()
    pg.get_by_role("button", name="Generate", exact=True).click()
    pg.locator(".generation-status[data-status=completed]").wait_for(timeout=90_000)


def _card(pg: Any, index: int) -> Any:
    return pg.locator(".generation-card").nth(index)


def test_request_approve_explore_reject_withdraw(page: Any, browser: Any, tmp_path: Path) -> None:
    creator = page
    sign_up(creator, "creator.e2e@example.com", "creator-password-1")
    _generate(creator, tmp_path, "lamp.jpg", (200, 160, 40))
    _generate(creator, tmp_path, "vase.jpg", (60, 140, 200))

    open_page(creator, "/gallery")
    for index, title in ((0, "Blue vase"), (1, "Brass lamp")):
        _card(creator, index).get_by_role("button", name="Request featuring").click()
        creator.get_by_label("Title (optional)").fill(title)
        creator.get_by_role("button", name="Send for review").click()
        _card(creator, index).locator(".feature-state[data-moderation=pending]").wait_for()
    shot(creator, "gallery-featuring")

    admin = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    admin_errors: list[str] = []
    admin.on("console", lambda m: admin_errors.append(m.text) if m.type == "error" else None)
    sign_in(admin, ADMIN_EMAIL, ADMIN_PASSWORD)
    open_page(admin, "/admin")
    # The overview says how many requests wait, in the admin navigation.
    tabs = admin.locator("#admin-tabs")
    pending = int(tabs.locator("#moderation-pending-count").inner_text())
    assert pending >= 2
    tabs.get_by_role("link", name="Moderation").click()
    admin.wait_for_url("**/admin/moderation")
    # Only this creator's requests: other browser tests of the session may have left theirs.
    queue = admin.locator("#moderation-queue .moderation-item").filter(
        has_text="creator.e2e@example.com"
    )
    queue.first.wait_for()
    assert queue.count() == 2
    lamp = queue.filter(has_text="Brass lamp")
    vase = queue.filter(has_text="Blue vase")
    assert "creator.e2e@example.com" in lamp.inner_text()
    shot(admin, "admin-moderation")
    lamp.get_by_role("button", name="Approve").click()
    admin.locator("#moderation-message").get_by_text("Approved").wait_for()
    vase.get_by_role("button", name="Reject").click()
    admin.get_by_role("dialog").get_by_role("button", name="Reject").click()  # no reason yet
    admin.get_by_text("Give a reason.").wait_for()
    admin.get_by_label("Reason", exact=True).fill("The vase is cut off at the top.")
    admin.get_by_role("dialog").get_by_role("button", name="Reject").click()
    admin.locator("#moderation-message").get_by_text("Rejected.").wait_for()
    assert queue.count() == 0
    badge = tabs.locator("#moderation-pending-count")
    if pending > 2:  # other tests' requests still wait
        expect(badge).to_have_text(str(pending - 2))
    else:
        expect(badge).to_have_count(0)
    open_page(admin, "/admin")
    admin.locator("#audit-log").get_by_text("Featuring rejected: image").first.wait_for()
    admin.context.close()

    visitor = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    record_frames(visitor)
    visitor_errors: list[str] = []
    visitor.on("console", lambda m: visitor_errors.append(m.text) if m.type == "error" else None)
    open_page(visitor, "/explore")
    cards = visitor.locator(".explore-card")
    cards.first.wait_for()
    assert cards.count() == 1 and "Brass lamp" in cards.first.inner_text()
    cards.first.locator("img").click()
    visitor.get_by_role("dialog").get_by_text("Brass lamp").wait_for()
    visitor.wait_for_timeout(500)  # the dialog's opening animation, for the screenshot
    shot(visitor, "explore")

    open_page(creator, "/gallery")
    rejected = creator.locator(".feature-state[data-moderation=rejected]")
    rejected.wait_for()
    assert "The vase is cut off at the top." in rejected.inner_text()
    approved = creator.locator(".generation-card").filter(
        has=creator.locator(".feature-state[data-moderation=approved]")
    )
    approved.get_by_role("button", name="Withdraw").click()
    creator.locator("#gallery-message").get_by_text("Withdrawn").wait_for()

    visitor.context.close()
    # A new visitor: the withdrawn image's data is not even sent, not only not shown.
    newcomer = browser.new_context().new_page()
    record_frames(newcomer)
    newcomer.on("console", lambda m: visitor_errors.append(m.text) if m.type == "error" else None)
    open_page(newcomer, "/explore")
    newcomer.get_by_text("Nothing featured yet").wait_for()
    assert not received(newcomer, "Brass lamp")
    newcomer.context.close()
    assert admin_errors == [] and visitor_errors == []
