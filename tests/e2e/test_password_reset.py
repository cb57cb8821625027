"""Forgot password, in Chromium: the link arrives (the development outbox: no SMTP_URL), the
reset page sets a new password, every session ends, the link works once; and ten wrong
passwords get the sign-in limit's message."""

from __future__ import annotations

import email
import re
import time
from email import policy
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import (
    BASE,
    RunningApp,
    next_frame_with,
    open_page,
    sign_in,
    sign_out,
    sign_up,
)

pytestmark = pytest.mark.e2e


def _link_in_outbox(outbox: Path, to: str, page: str, after: float) -> str:
    """The newest `page` link mailed to `to` since `after` (seconds since the epoch)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
            if path.stat().st_mtime < after:
                continue
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            if to not in str(message["To"]):
                continue
            body = message.get_body(preferencelist=("plain",))
            text = body.get_content() if body is not None else ""
            found = re.search(rf"{re.escape(BASE)}/{page}\?token=[A-Za-z0-9_-]+", text)
            if found:
                return found.group(0)
        time.sleep(0.2)
    raise AssertionError(f"no {page} mail to {to} in {outbox}")


def test_forgot_password_through_the_emailed_link(page: Any, app_server: RunningApp) -> None:
    pg = page
    address, old, new = "forgetful.e2e@example.com", "old-password-123", "new-password-456"
    sign_up(pg, address, old)
    sign_out(pg)

    open_page(pg, "/login")
    pg.get_by_role("link", name="Forgot password?").click()
    pg.wait_for_url(f"{BASE}/forgot-password")
    asked = time.time() - 1
    pg.get_by_label("Email").fill(address)
    pg.get_by_role("button", name="Send the link").click()
    pg.locator("#auth-notice").wait_for()
    link = _link_in_outbox(app_server.data_dir / "outbox", address, "reset-password", asked)

    open_page(pg, link.removeprefix(BASE))
    pg.get_by_label("Password").fill(new)
    pg.get_by_role("button", name="Set password").click()
    pg.wait_for_url(f"{BASE}/login?reset=done")
    pg.locator("#auth-notice").wait_for()

    # The old password no longer works; the new one does.
    pg.get_by_label("Email").fill(address)
    pg.get_by_label("Password").fill(old)
    pg.get_by_role("button", name="Sign in").click()
    pg.get_by_role("alert").wait_for()
    sign_in(pg, address, new)
    sign_out(pg)

    # The same link again: refused, with a message.
    open_page(pg, link.removeprefix(BASE))
    pg.get_by_label("Password").fill("third-password-789")
    pg.get_by_role("button", name="Set password").click()
    alert = pg.get_by_role("alert")
    alert.wait_for()
    assert "link" in alert.inner_text().lower()


def test_too_many_wrong_passwords_are_limited_with_a_clear_message(page: Any) -> None:
    pg = page
    address, password = "guessed.e2e@example.com", "guessed-password-1"
    sign_up(pg, address, password)
    sign_out(pg)
    open_page(pg, "/login")
    wrong, limited = "Email or password is incorrect.", "Too many sign-in attempts. Try again in"
    answers = []
    for n in range(11):
        pg.get_by_label("Email").fill(address)
        pg.get_by_label("Password").fill(f"wrong-guess-{n}")
        sent = len(pg.frames_received)
        pg.get_by_role("button", name="Sign in").click()
        # Each attempt's own answer, not the same words still on screen from the one before.
        answer = next_frame_with(pg, sent, (wrong, limited))
        answers.append(limited if limited in answer else wrong)
        expect(pg.get_by_role("alert")).to_contain_text(answers[-1])
    assert answers == [wrong] * 10 + [limited]
    # While limited, even the right password is refused.
    pg.get_by_label("Password").fill(password)
    sent = len(pg.frames_received)
    pg.get_by_role("button", name="Sign in").click()
    assert limited in next_frame_with(pg, sent, (wrong, limited, "/upload"))
    assert "/login" in pg.url
    expect(pg.get_by_role("alert")).to_contain_text(limited)
