"""A ~1 MB email sent to a running backend exactly as the page's sign-in event is sent
(issue 5, acceptance 1): the server's answer time and /api/health meanwhile.

Speaks Reflex's websocket protocol (engine.io v4 + socket.io) with `simple-websocket`, so
no browser work is counted. Prints JSON with a baseline in the same run: the same event
with a short malformed email, which gets the same message.

    python bench/bench_hostile_event.py [--api http://localhost:8000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable

import httpx
import simple_websocket

SIGN_IN = (
    "reflex___state____state.stylestudio___state___session____session_state."
    "stylestudio___state___auth____auth_state.sign_in"
)
SIGN_UP = SIGN_IN.removesuffix("sign_in") + "sign_up"
HYDRATE = "reflex___state____state.hydrate_and_load"
MESSAGES = {SIGN_IN: "Email or password is incorrect.", SIGN_UP: "Enter a valid email address"}
HUGE = 990_000  # the websocket accepts events up to 1 000 000 bytes


class Tab:
    """One browser tab's websocket, reduced to what sending an event needs."""

    def __init__(self, api: str) -> None:
        self.token = str(uuid.uuid4())
        query = f"token={self.token}&EIO=4&transport=websocket"
        url = api.replace("http", "ws", 1) + f"/_event/?{query}"
        self.ws = simple_websocket.Client.connect(url, max_message_size=4 * 1024 * 1024)
        opened = self.ws.receive(timeout=10)
        assert opened.startswith("0"), opened
        auth = {"event": {"name": HYDRATE, "payload": {}, "router_data": _router("/login")}}
        self.ws.send("40/_event," + json.dumps(auth))
        self._wait_for(lambda frame: frame.startswith("40/_event"))

    def _wait_for(self, match: Callable[[str], bool], timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.ws.receive(timeout=deadline - time.monotonic())
            if frame is None:
                continue
            if frame == "2":  # engine.io ping
                self.ws.send("3")
                continue
            if match(frame):
                return frame
        raise TimeoutError("no answer")

    def answer_ms(self, handler: str, email: str) -> float:
        event = {
            "name": handler,
            "payload": {"form": {"email": email, "password": "a-fine-password-1"}},
            "router_data": _router("/login"),
        }
        frame = "42/_event," + json.dumps(["event", event])
        started = time.perf_counter()
        self.ws.send(frame)
        self._wait_for(lambda f: MESSAGES[handler] in f)
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        self.ws.close()


def _router(path: str) -> dict[str, str]:
    return {"pathname": path, "asPath": path}


def _health(api: str, stop: threading.Event, out: list[float]) -> None:
    with httpx.Client(timeout=60) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get(f"{api}/api/health").raise_for_status()
            out.append((time.perf_counter() - started) * 1000)
            time.sleep(0.005)


def _summary(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        "median_ms": round(statistics.median(values), 2),
        "p99_ms": round(values[max(0, int(len(values) * 0.99) - 1)], 2),
        "max_ms": round(values[-1], 2),
        "n": len(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", default="http://localhost:8000")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tab = Tab(args.api)
    result: dict[str, object] = {"bench": "hostile_event", "email_chars": HUGE}
    try:
        for label, email in (("short", "a@b"), ("huge", "a@" + "a" * HUGE)):
            health: list[float] = []
            stop = threading.Event()
            probe = threading.Thread(target=_health, args=(args.api, stop, health))
            probe.start()
            try:
                for handler in (SIGN_IN, SIGN_UP):
                    name = "sign_in" if handler == SIGN_IN else "sign_up"
                    answers: list[float] = []
                    until = time.monotonic() + 2  # long enough for the health probe to see
                    while len(answers) < args.rounds or time.monotonic() < until:
                        answers.append(tab.answer_ms(handler, email))
                    result[f"{name}_{label}"] = _summary(answers)
            finally:
                stop.set()
                probe.join()
            result[f"health_during_{label}"] = _summary(health)
    finally:
        tab.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
