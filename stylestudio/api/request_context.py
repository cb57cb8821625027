"""ASGI middleware around the whole backend: every HTTP request gets a request id (the
proxy's `X-Request-ID` when it is a plain token, else a new one), carried by each log line
written while it is handled and sent back in the response's `X-Request-ID`; it is counted
and timed for the metrics, by route, and leaves one access line (probes excepted).

Websocket traffic (Reflex's events) passes untouched: each event gets its own id in
state/event_observer.py.
"""

from __future__ import annotations

import functools
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stylestudio.log_output import bind, unbind
from stylestudio.metrics import HTTP_REQUESTS, HTTP_SECONDS

log = logging.getLogger("stylestudio.http")

_INCOMING_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")
# Label values come from this set only: a client picks the method, not our metrics' size.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Probes and scrapes would drown the access lines; they are counted all the same.
_QUIET_ROUTES = frozenset({"/api/health", "/api/ready", "/api/metrics"})


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _INCOMING_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


def route_of(scope: Scope) -> str:
    """The route template that answered (`/api/media/{key:path}`), never the raw path, so the
    metrics' label values stay few; `unmatched` for a 404 of the router."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str) and path:
        return path
    endpoint = scope.get("endpoint")
    name = getattr(endpoint, "__name__", None)
    if isinstance(name, str):
        return f"endpoint:{name}"
    return "unmatched"


@functools.lru_cache(maxsize=4096)
def _series(method: str, route: str, status: int) -> tuple[Any, Any]:
    """The labelled children (looking them up costs more than counting)."""
    return (
        HTTP_REQUESTS.labels(method, route, str(status)),
        HTTP_SECONDS.labels(method, route),
    )


def request_context(app: ASGIApp) -> ASGIApp:
    """Wrap `app` (Reflex's api_transformer takes it as a callable)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        token = bind(request_id=request_id)
        started = time.perf_counter()
        status = 500
        header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            method = str(scope.get("method", ""))
            route = route_of(scope)
            counter, timer = _series(method if method in _METHODS else "other", route, status)
            counter.inc()
            timer.observe(elapsed)
            if route not in _QUIET_ROUTES:
                log.info(
                    "%s %s %d %.1f ms",
                    method,
                    scope.get("path", ""),
                    status,
                    elapsed * 1000,
                    extra={"http_status": status, "duration_ms": round(elapsed * 1000, 1)},
                )
            unbind(token)

    return middleware
