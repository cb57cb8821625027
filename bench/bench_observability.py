"""What request ids, metrics and JSON logs cost, each against its baseline in the same run.

Prints JSON:
- events: one Reflex event (a no-database setter) through Reflex's own event processing,
  with the app's middleware minus the EventObserver (baseline) and with it;
- http: GET /api/health through httpx's ASGI transport, our routes bare (baseline) and
  wrapped in request_context (request id, counter and histogram; /api/health writes no
  access line, so the line's cost is the logs figure below);
- logs: formatting one record with two bound ids, text (baseline) and JSON.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N_EVENTS = 400
N_REQUESTS = 600
N_LINES = 20_000
ROUNDS = 3


async def _per_call(fn: Callable[[], Awaitable[object]], n: int) -> float:
    for _ in range(20):  # warm up
        await fn()
    start = time.perf_counter()
    for _ in range(n):
        await fn()
    return (time.perf_counter() - start) / n


async def bench_events() -> dict[str, float]:
    from stylestudio.state.event_observer import EventObserver
    from stylestudio.state.explore import ExploreState
    from stylestudio.stylestudio import app
    from tests.support.event_processing import AppEvents, event_name, new_tab

    name = event_name(ExploreState, "set_viewer_open")
    observers = [m for m in app._middlewares if isinstance(m, EventObserver)]
    results: dict[str, float] = {}
    async with AppEvents(app_middleware=True) as events:
        tab = new_tab()
        flip = [False]

        async def one() -> None:
            flip[0] = not flip[0]
            await events.send(tab, name, {"value": flip[0]}, path="/explore")

        others = [m for m in app._middlewares if not isinstance(m, EventObserver)]
        # Alternated, the best round of each kept: this machine is shared and noisy.
        for _ in range(ROUNDS):
            for label, observed in (("baseline", False), ("observed", True)):
                app._middlewares[:] = [*observers, *others] if observed else others
                took = await _per_call(one, N_EVENTS)
                results[label] = min(results.get(label, took), took)
        app._middlewares[:] = [*observers, *others]
    return {
        "baseline_ms": round(results["baseline"] * 1000, 3),
        "observed_ms": round(results["observed"] * 1000, 3),
        "added_us": round((results["observed"] - results["baseline"]) * 1e6, 1),
    }


async def bench_http() -> dict[str, float]:
    import httpx

    from stylestudio.api.request_context import request_context
    from stylestudio.api.routes import build_api

    results: dict[str, float] = {}
    for _ in range(ROUNDS):
        for label, asgi in (("bare", build_api()), ("wrapped", request_context(build_api()))):
            transport = httpx.ASGITransport(app=asgi)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:

                async def one(client: httpx.AsyncClient = client) -> None:
                    (await client.get("/api/health")).raise_for_status()

                took = await _per_call(one, N_REQUESTS)
                results[label] = min(results.get(label, took), took)
    return {
        "bare_ms": round(results["bare"] * 1000, 3),
        "wrapped_ms": round(results["wrapped"] * 1000, 3),
        "added_us": round((results["wrapped"] - results["bare"]) * 1e6, 1),
    }


def bench_logs() -> dict[str, float]:
    from stylestudio import log_output

    log = logging.getLogger("bench.observability")
    results = {}
    for fmt in ("text", "json"):
        out = io.StringIO()
        log_output.configure_logging(log_format=fmt, stream=out)
        with log_output.bound(request_id="0123456789abcdef", event_id="abcdef012345"):
            start = time.perf_counter()
            for i in range(N_LINES):
                log.info("job %s claimed by %s", i, "worker-1", extra={"attempt": 1})
            results[fmt] = (time.perf_counter() - start) / N_LINES
        log_output.remove_handler()
    return {
        "text_us": round(results["text"] * 1e6, 2),
        "json_us": round(results["json"] * 1e6, 2),
        "json_vs_text": round(results["json"] / results["text"], 2),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("STYLESTUDIO_DATA_DIR", tmp)
        events = asyncio.run(bench_events())
        from stylestudio import log_output

        # The access lines are written (JSON, as in production), to memory, not the terminal.
        log_output.configure_logging(log_format="json", stream=io.StringIO())
        http = asyncio.run(bench_http())
        logs = bench_logs()
    print(json.dumps({"events": events, "http": http, "logs": logs}, indent=2))


if __name__ == "__main__":
    main()
