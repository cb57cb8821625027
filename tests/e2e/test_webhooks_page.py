"""/account's Webhooks section in a real browser: an endpoint pointing at a local receiver
shows its signing secret once; a generation's event reaches the receiver signed with that
secret (the app's in-process worker sends it) and is listed as delivered; Replay sends it
again; the secret rotates and the endpoint is deleted behind confirm dialogs; the section
fits a phone."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from tests.e2e.conftest import open_page, product_jpeg, shot, sign_up
from tests.e2e.test_accessibility import _violations

pytestmark = pytest.mark.e2e

SECRET_FIELD = "#webhook-secret"
PORTS = range(9350, 9400)


class Receiver(ThreadingHTTPServer):
    """The customer's endpoint: keeps every POST (body and headers) and answers 204."""

    def __init__(self, port: int) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Hook)

    def got(self) -> list[tuple[bytes, dict[str, str]]]:
        with self.lock:
            return list(self.received)


class _Hook(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.received.append((body, {k.lower(): v for k, v in self.headers.items()}))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    for port in PORTS:
        try:
            server = Receiver(port)
        except OSError:
            continue
        break
    else:
        raise RuntimeError("no free port in 9350-9399 for the receiver")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _url(server: Receiver) -> str:
    host, port = server.server_address[:2]
    assert isinstance(host, str) and socket.inet_aton(host)
    return f"http://{host}:{port}/hooks/style-studio?source=e2e-test-with-a-long-query-string"


def _page_width(pg: Any) -> int:
    return int(pg.evaluate("document.documentElement.scrollWidth"))


def _wait_received(pg: Any, server: Receiver, count: int) -> None:
    for _ in range(120):
        if len(server.got()) >= count:
            return
        pg.wait_for_timeout(500)
    raise AssertionError(f"the receiver got {len(server.got())} deliveries, not {count}")


def test_add_an_endpoint_receive_a_signed_event_and_replay_it(
    page: Any, receiver: Receiver, tmp_path: Path
) -> None:
    pg = page
    sign_up(pg, "webhooks.e2e@example.com", "webhooks-password-1")
    open_page(pg, "/account")
    section = pg.locator("#webhooks")
    section.get_by_text("No endpoints yet.").wait_for()
    assert section.locator(SECRET_FIELD).is_hidden()

    # A URL the service refuses: said in the section, nothing added.
    pg.get_by_label("Endpoint URL").fill("ftp://example.com/hook")
    pg.get_by_role("button", name="Add endpoint").click()
    pg.locator("#webhooks-message").get_by_text("http").wait_for()
    assert pg.locator(".webhook-endpoint").count() == 0

    # generation.completed and generation.failed are ticked by default.
    url = _url(receiver)
    pg.get_by_label("Endpoint URL").fill(url)
    pg.get_by_role("button", name="Add endpoint").click()
    pg.wait_for_function(f"document.querySelector('{SECRET_FIELD}').value.startsWith('whsec_')")
    secret = pg.locator(SECRET_FIELD).input_value()
    assert pg.locator(SECRET_FIELD).get_attribute("readonly") is not None
    panel = pg.locator("#webhook-secret-panel")
    for header in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        panel.get_by_text(header, exact=True).wait_for()
    assert (panel.locator("#webhooks-api-reference").get_attribute("href") or "").endswith(
        "/api/v1/docs"
    )
    assert pg.locator("#webhooks-message").count() == 0  # the earlier error went
    endpoint = pg.locator(".webhook-endpoint").first
    endpoint.get_by_text(url).wait_for()
    badges = endpoint.locator(".rt-Badge").all_inner_texts()
    assert "generation.completed" in badges and "credits.purchased" not in badges
    assert pg.get_by_label("Endpoint URL").input_value() == ""
    shot(pg, "account-webhook-added")
    assert _violations(pg, "/account with a new webhook endpoint") == []
    pg.get_by_role("button", name="Done with the signing secret").click()
    panel.wait_for(state="hidden")
    assert pg.locator(SECRET_FIELD).input_value() == ""

    # A generation: its `generation.completed` reaches the receiver, signed.
    open_page(pg, "/upload")
    pg.locator("#product input[type=file]").set_input_files(
        str(product_jpeg(tmp_path / "hook.jpg"))
    )
    pg.get_by_text("hook.jpg").wait_for()
    pg.get_by_role("button", name="Generate", exact=True).click()
    pg.locator(".generation-status[data-status=completed]").wait_for(timeout=90_000)
    _wait_received(pg, receiver, 1)
    [(body, headers)] = receiver.got()
    event = Webhook(secret).verify(body, headers)
    assert event["type"] == "generation.completed"
    assert headers["webhook-id"] == json.loads(body)["id"]

    open_page(pg, "/account")
    delivered = pg.locator(".webhook-delivery[data-status=delivered]")
    delivered.first.wait_for(timeout=30_000)
    row = delivered.first
    assert row.get_attribute("data-event-id") == headers["webhook-id"]
    row.get_by_text("generation.completed").wait_for()
    assert "1 attempt · HTTP 204 ·" in row.inner_text()

    # Replay: a second delivery of the same event arrives, and the row says delivered again.
    row.get_by_role("button", name="Replay generation.completed delivery").click()
    endpoint.locator(".webhook-row-message").get_by_text("queued again").wait_for()
    _wait_received(pg, receiver, 2)
    (_, first), (body2, second) = receiver.got()
    assert second["webhook-id"] == first["webhook-id"]
    assert Webhook(secret).verify(body2, second)["type"] == "generation.completed"
    pg.locator(".webhook-delivery[data-status=delivered]").first.wait_for(timeout=30_000)
    shot(pg, "account-webhooks")

    # On a phone: nothing scrolls sideways, with a long URL and the secret shown.
    pg.set_viewport_size({"width": 390, "height": 844})
    endpoint.get_by_role("button", name="Reveal the signing secret").click()
    pg.wait_for_function(f"document.querySelector('{SECRET_FIELD}').value === '{secret}'")
    pg.locator("#webhooks").scroll_into_view_if_needed()
    assert _page_width(pg) <= 390, _page_width(pg)
    shot(pg, "phone-account-webhooks")
    pg.get_by_role("button", name="Done with the signing secret").click()
    pg.set_viewport_size({"width": 1280, "height": 900})

    # Rotate, confirmed: a new secret, shown once; the old one no longer verifies.
    endpoint.get_by_role("button", name="Rotate the signing secret").click()
    dialog = pg.get_by_role("alertdialog")
    dialog.get_by_text("stops verifying").wait_for()
    pg.wait_for_timeout(300)  # the dialog's opening animation
    assert _violations(pg, "/account rotate webhook secret dialog") == []
    dialog.get_by_role("button", name="Rotate secret").click()
    pg.wait_for_function(
        f"(v => v.startsWith('whsec_') && v !== '{secret}')"
        f"(document.querySelector('{SECRET_FIELD}').value)"
    )
    rotated = pg.locator(SECRET_FIELD).input_value()
    assert rotated != secret
    pg.get_by_role("button", name="Done with the signing secret").click()

    # Delete, confirmed: the endpoint and its log go.
    endpoint.get_by_role("button", name="Delete endpoint").click()
    dialog = pg.get_by_role("alertdialog")
    dialog.get_by_text("This cannot be undone").wait_for()
    dialog.get_by_role("button", name="Delete endpoint").click()
    pg.locator("#webhooks-message").get_by_text("Endpoint deleted").wait_for()
    assert pg.locator(".webhook-endpoint").count() == 0
    section.get_by_text("No endpoints yet.").wait_for()
