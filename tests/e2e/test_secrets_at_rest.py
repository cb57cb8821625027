"""Secrets never rest and never print; the tab token is no login.

A full run — sign-up, an upload and a generation, an API key created on /account (its
secret shown once), a webhook endpoint added (its signing secret shown, then revealed),
sign-out, sign-in, the admin on /admin, sign-outs, and an event naming a handler that does
not exist (which Reflex logs with the whole event) — collects every session token, sign-in
ticket, API key, webhook secret and tab token the browsers held, then looks for each in every
value Redis holds for the app, every file in the data directory (state files, outbox, logs of
the frontend and the backend). A socket reopened with another tab's token and no cookie gets
none of that tab's private fields; an upload naming another tab without its owner's cookie is
refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from stylestudio.state.session import SessionState
from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    API,
    BASE,
    ROOT,
    WEB_DIR,
    RunningApp,
    open_page,
    product_jpeg,
    record_measurement,
    sign_in,
    sign_out,
    sign_up,
)
from tests.support.reflex_tab import ReflexTab

pytestmark = pytest.mark.e2e

SESSION = "ss_session"
PROMPT = "quokka-velvet private prompt"


class Secrets:
    """Every credential a browser of the run held: what must be found nowhere at rest."""

    def __init__(self) -> None:
        self.found: dict[str, str] = {}

    def watch(self, context: Any) -> None:
        """Collect tickets from the sign-in redirects and tab tokens from the websockets."""
        context.on("request", lambda request: self._from_url(request.url))
        context.on("websocket", lambda ws: self._from_url(ws.url))

    def _from_url(self, url: str) -> None:
        query = parse_qs(urlsplit(url).query)
        for name, kind in (("ticket", "ticket"), ("token", "tab token")):
            for value in query.get(name, []):
                self.found.setdefault(value, kind)

    def take(self, pg: Any) -> None:
        """The session cookie and the tab token this page holds now."""
        for cookie in pg.context.cookies():
            if cookie["name"] == SESSION:
                self.found.setdefault(cookie["value"], "session token")
        tab = pg.evaluate("window.sessionStorage.getItem('token')")
        if tab:
            self.found.setdefault(tab, "tab token")

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for kind in self.found.values():
            counts[kind] = counts.get(kind, 0) + 1
        return counts


def _session_cookie(pg: Any) -> str:
    [value] = [c["value"] for c in pg.context.cookies() if c["name"] == SESSION]
    return str(value)


def _tab_token(pg: Any) -> str:
    token = pg.evaluate("window.sessionStorage.getItem('token')")
    assert token, "the page holds no Reflex tab token"
    return str(token)


def _upload(tab_token: str, *, cookie: str | None, image: Path) -> httpx.Response:
    """`POST /_upload` for the studio's product input, as the page's upload XHR sends it."""
    headers = {
        "Reflex-Client-Token": tab_token,
        "Reflex-Event-Handler": _studio_upload_handler(),
        "Origin": BASE,
    }
    if cookie is not None:
        headers["Cookie"] = f"{SESSION}={cookie}"
    return httpx.post(
        f"{API}/_upload",
        headers=headers,
        files={"files": (image.name, image.read_bytes(), "image/jpeg")},
        timeout=30,
    )


def _studio_upload_handler() -> str:
    from stylestudio.state.studio_inputs import StudioInputsState

    return f"{StudioInputsState.get_full_name()}.upload_product"


def _where(secret: str, kind: str, app: RunningApp) -> list[str]:
    """Every place at rest that holds `secret`.

    A tab token is the name Reflex files the tab's state under (its Redis key, its record of
    the tab's socket): it is looked for in the logs only. Session tokens, tickets and API
    keys are looked for in every Redis value, every state file and every log."""
    needle = secret.encode()
    places: list[str] = []
    if kind == "tab token":
        files = [p for p in app.logs if p.exists()]
    else:
        places += [f"redis value #{i}" for i, v in enumerate(app.stored_states()) if needle in v]
        dirs = [app.data_dir, ROOT / ".states", WEB_DIR / "backend"]
        files = [p for d in dirs if d.exists() for p in d.rglob("*") if p.is_file()]
    for path in files:
        data = path.read_bytes()
        if needle in data:
            at = data.index(needle)
            places.append(f"{path.name}: …{data[max(0, at - 200) : at].decode(errors='replace')}")
    return places


def test_no_session_token_ticket_or_tab_token_rests_in_state_or_logs(
    page: Any, browser: Any, app_server: RunningApp, tmp_path: Path
) -> None:
    secrets = Secrets()
    pg = page
    secrets.watch(pg.context)
    email, password = "at.rest.e2e@example.com", "at-rest-password-1"

    sign_up(pg, email, password)
    secrets.take(pg)
    # An upload (the XHR carries the cookie) and a generation.
    open_page(pg, "/upload")
    pg.locator("#product input[type=file]").set_input_files(
        str(product_jpeg(tmp_path / "rest.jpg"))
    )
    pg.get_by_text("rest.jpg").wait_for()
    pg.get_by_label("Prompt", exact=True).fill(PROMPT)
    pg.get_by_role("button", name="Generate", exact=True).click()
    pg.locator(".generation-status[data-status=completed]").wait_for(timeout=90_000)
    secrets.take(pg)
    open_page(pg, "/gallery")
    pg.locator(".generation-card").first.wait_for()
    secrets.take(pg)
    # An API key: its secret reaches the page once, and must rest nowhere.
    open_page(pg, "/account")
    pg.get_by_label("Key name").fill("At-rest script")
    pg.get_by_role("button", name="Create key").click()
    pg.wait_for_function("document.querySelector('#api-key-secret').value.startsWith('ss_live_')")
    secrets.found.setdefault(pg.locator("#api-key-secret").input_value(), "API key")
    # A webhook endpoint: its signing secret reaches the page on adding and on revealing.
    pg.get_by_label("Endpoint URL").fill("http://127.0.0.1:9/at-rest")
    pg.get_by_role("button", name="Add endpoint").click()
    pg.wait_for_function("document.querySelector('#webhook-secret').value.startsWith('whsec_')")
    secrets.found.setdefault(pg.locator("#webhook-secret").input_value(), "webhook secret")
    pg.get_by_role("button", name="Done with the signing secret").click()
    pg.get_by_role("button", name="Reveal the signing secret").click()
    pg.wait_for_function("document.querySelector('#webhook-secret').value.startsWith('whsec_')")

    # An event naming a handler that is not registered: Reflex logs it, router data and all.
    tab = ReflexTab(API, path="/upload", cookie=f"{SESSION}={_session_cookie(pg)}")
    try:
        secrets.found.setdefault(tab.token, "tab token")
        tab.send(f"{SessionState.get_full_name()}.reset", {}, path="/upload")
        tab.send(f"{SessionState.get_full_name()}._forget_user_data", {}, path="/upload")
    finally:
        tab.close()

    sign_out(pg)
    sign_in(pg, email, password)
    secrets.take(pg)
    sign_out(pg)

    admin = browser.new_context()
    secrets.watch(admin)
    admin_pg = admin.new_page()
    sign_in(admin_pg, ADMIN_EMAIL, ADMIN_PASSWORD)
    open_page(admin_pg, "/admin")
    admin_pg.get_by_text(email).first.wait_for()
    secrets.take(admin_pg)
    sign_out(admin_pg)
    admin.close()

    kinds = secrets.kinds()
    assert kinds.get("session token", 0) >= 3 and kinds.get("ticket", 0) >= 3, kinds
    assert kinds.get("tab token", 0) >= 2, kinds
    assert kinds.get("API key", 0) == 1, kinds
    assert kinds.get("webhook secret", 0) == 1, kinds
    logs = [p for p in app_server.logs if p.exists()]
    assert logs and any("No registered handler" in p.read_text() for p in logs)

    found = {
        f"{kind} {secret[:6]}…": _where(secret, kind, app_server)
        for secret, kind in secrets.found.items()
    }
    leaks = {name: places for name, places in found.items() if places}
    record_measurement(
        "secrets_at_rest",
        {
            "secrets_checked": kinds,
            "redis_values": len(app_server.stored_states()),
            "log_files": len(logs),
            "leaks": len(leaks),
        },
    )
    assert leaks == {}


def test_another_tabs_token_without_its_cookie_reveals_and_uploads_nothing(
    page: Any, browser: Any, app_server: RunningApp, tmp_path: Path
) -> None:
    pg = page
    email, password = "tab.owner.e2e@example.com", "tab-owner-password-1"
    sign_up(pg, email, password)
    open_page(pg, "/upload")
    pg.locator("#product input[type=file]").set_input_files(
        str(product_jpeg(tmp_path / "owner.jpg", color=(20, 120, 60)))
    )
    pg.get_by_text("owner.jpg").wait_for()
    pg.get_by_label("Prompt", exact=True).fill(PROMPT)
    pg.get_by_role("button", name="Generate", exact=True).click()
    pg.locator(".generation-status[data-status=completed]").wait_for(timeout=90_000)
    open_page(pg, "/gallery")
    pg.locator(".generation-card").first.wait_for()
    victim_tab, victim_cookie = _tab_token(pg), _session_cookie(pg)
    # The victim's tab holds its private fields (so their absence below means something).
    pg.wait_for_timeout(300)
    image = product_jpeg(tmp_path / "intruder.jpg", color=(200, 30, 30))

    # While the tab is open, and after it closed: the tab token alone uploads nothing.
    assert _upload(victim_tab, cookie=None, image=image).status_code == 401
    pg.close()
    assert _upload(victim_tab, cookie=None, image=image).status_code == 401

    # Another signed-in user's own cookie does not make the victim's tab theirs.
    other = browser.new_context()
    other_pg = other.new_page()
    sign_up(other_pg, "tab.thief.e2e@example.com", "tab-thief-password-1")
    thief_cookie = _session_cookie(other_pg)
    other.close()
    assert _upload(victim_tab, cookie=thief_cookie, image=image).status_code == 401
    # The owner's own cookie, on the owner's tab, still uploads (the guard is not a wall).
    accepted = _upload(victim_tab, cookie=victim_cookie, image=image)
    assert accepted.status_code == 200, accepted.text

    # A socket claiming the victim's tab, with no cookie, then with the thief's.
    received: list[str] = []
    for cookie in ("", f"{SESSION}={thief_cookie}"):
        for path in ("/gallery", "/upload", "/account"):
            thief = ReflexTab(API, path=path, cookie=cookie, token=victim_tab)
            try:
                assert thief.token == victim_tab
                received.extend(thief.received)
            finally:
                thief.close()
    everything = "\n".join(received)
    assert everything, "the backend sent nothing at all"
    for private in (email, PROMPT, "sig=", victim_cookie):
        assert private not in everything, private

    record_measurement(
        "tab_token_alone",
        {
            "upload_without_cookie": 401,
            "upload_with_another_users_cookie": 401,
            "frames_received_by_the_thief": len(received),
            "private_fields_in_them": 0,
        },
    )


def test_uploads_from_the_studio_send_the_session_cookie(page: Any, tmp_path: Path) -> None:
    """The upload XHR is cross-origin (frontend -> backend): it must carry the cookie, and
    CORS must allow credentials for the app's origin and no other."""
    sign_up(page, "xhr.cookie.e2e@example.com", "xhr-cookie-password-1")
    preflight = httpx.options(
        f"{API}/_upload",
        headers={
            "Origin": BASE,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "reflex-client-token,reflex-event-handler",
        },
    )
    assert preflight.headers.get("access-control-allow-origin") == BASE
    assert preflight.headers.get("access-control-allow-credentials") == "true"
    foreign = httpx.options(
        f"{API}/_upload",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert foreign.headers.get("access-control-allow-origin") not in ("*", "https://evil.example")
    with page.expect_request(re.compile(r".*/_upload$")) as upload:
        page.locator("#product input[type=file]").set_input_files(
            str(product_jpeg(tmp_path / "xhr.jpg"))
        )
    assert f"{SESSION}=" in (upload.value.all_headers().get("cookie") or "")
    page.get_by_text("xhr.jpg").wait_for()
