"""A browser tab reduced to its websocket: sends Reflex events exactly as a page sends them
(engine.io v4 + socket.io, the same frames), so a test can call any event handler with any
arguments — what a hostile user can do from the console — and read every state update the
backend sends back."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import simple_websocket

HYDRATE = "reflex___state____state.hydrate_and_load"


def _router(path: str) -> dict[str, str]:
    return {"pathname": path, "asPath": path}


class ReflexTab:
    def __init__(
        self, api: str, *, path: str = "/login", cookie: str = "", token: str = ""
    ) -> None:
        """A new tab, or — given another tab's `token` — a socket that claims to be it."""
        self.api = api
        self.token = token or str(uuid.uuid4())
        self.received: list[str] = []
        self._connect(path, cookie)

    def _connect(self, path: str, cookie: str) -> None:
        """Open the tab's websocket as the page does, carrying `cookie` like a browser."""
        self.cookie = cookie
        query = f"token={self.token}&EIO=4&transport=websocket"
        url = self.api.replace("http", "ws", 1) + f"/_event/?{query}"
        self.ws = simple_websocket.Client.connect(
            url,
            max_message_size=8 * 1024 * 1024,
            headers={"Cookie": cookie} if cookie else None,
        )
        opened = self.ws.receive(timeout=30)
        assert opened and opened.startswith("0"), opened
        # As the page connects: the hydrate event rides along with the socket.io connect.
        hydrate = {"event": {"name": HYDRATE, "payload": {}, "router_data": _router(path)}}
        self.ws.send("40/_event," + json.dumps(hydrate))
        self._wait_for(lambda frame: frame.startswith("40/_event"))
        self._drain()  # the hydrate's own updates, so they are not taken for the next event's

    def _wait_for(self, match: Callable[[str], bool], timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.ws.receive(timeout=max(0.01, deadline - time.monotonic()))
            if frame is None:
                continue
            if frame == "2":  # engine.io ping
                self.ws.send("3")
                continue
            self.received.append(frame)
            if match(frame):
                return frame
        raise TimeoutError(f"no answer from the backend; last frames: {self.received[-3:]!r}")

    def _drain(self, quiet: float = 0.6, timeout: float = 30) -> None:
        """Collect frames until the backend has been quiet for `quiet` seconds (Reflex marks
        no end of an event; a handler that changes nothing sends nothing)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.ws.receive(timeout=quiet)
            if frame is None:
                return
            if frame == "2":  # engine.io ping
                self.ws.send("3")
                continue
            self.received.append(frame)
        raise TimeoutError("the backend kept talking")

    def send(
        self,
        handler: str,
        payload: dict[str, Any],
        *,
        path: str = "/gallery",
        until: Callable[[str], bool] | str | None = None,
    ) -> str:
        """Send one event; return every frame the backend sent for it (after one matching
        `until`, if given: a slow handler may be quiet for a while before it answers)."""
        start = len(self.received)
        event = {"name": handler, "payload": payload, "router_data": _router(path)}
        self.ws.send("42/_event," + json.dumps(["event", event]))
        if isinstance(until, str):
            text = until
            self._wait_for(lambda frame: text in frame)
        elif until is not None:
            self._wait_for(until)
        self._drain()
        return "\n".join(self.received[start:])

    def follow_sign_in(self, frames: str, *, path: str = "/upload") -> str:
        """After a sign-in or sign-up event: do what the browser does with its redirect —
        load the backend's session URL (which sets the HttpOnly cookie), then reopen the
        websocket with that cookie. Returns the cookie header it now sends."""
        # The page is sent there by a script (a full page load): the URL is a JSON string
        # inside the frame's JSON, its quotes escaped.
        match = re.search(r'\\?"(https?://[^"\\]+/api/auth/session\?[^"\\]+)\\?"', frames)
        assert match, f"no sign-in redirect in: {frames[-500:]}"
        answer = httpx.get(
            match.group(1).encode().decode("unicode_escape"),
            headers={"Cookie": self.cookie} if self.cookie else None,  # its sign-in nonce
            timeout=10,
        )
        assert answer.status_code == 303, answer.status_code
        cookie = "; ".join(f"{k}={v}" for k, v in answer.cookies.items() if k == "ss_session")
        assert cookie, "the backend set no session cookie"
        self.ws.close()
        self._connect(path, cookie)
        return cookie

    @staticmethod
    def sign_in_nonce(api: str) -> str:
        """The cookie header a browser holds after `GET /api/auth/begin` (its sign-in nonce,
        without which a sign-in form gets no ticket)."""
        answer = httpx.get(f"{api}/api/auth/begin", timeout=10)
        assert answer.status_code == 303, answer.status_code
        return "; ".join(f"{k}={v}" for k, v in answer.cookies.items())

    def close(self) -> None:
        self.ws.close()
