"""Prometheus metrics of this process (prometheus-client), and their exposition.

Counters and histograms are updated where things happen (HTTP middleware, the Reflex event
middleware, the Replicate adapter, the webhook routes); figures that live in the database
(generations by status, the job queue) are read when scraped, by a collector the API passes
in (`exposition(extra=...)`).

Several backend processes: each has its own registry, so a scrape sees one process's figures
— unless PROMETHEUS_MULTIPROC_DIR names a folder (empty at deployment start, shared by every
process of the host), in which case prometheus-client writes every process's values there
and a scrape of any process adds them all up (`MultiProcessCollector`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

# Buckets for what a person waits on (an event, a request): 5 ms to 30 s.
_HUMAN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A provider call (create, get, cancel, upload, download): 25 ms to 2 min.
_PROVIDER_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

EVENTS = Counter(
    "stylestudio_events",
    "Reflex events handled, by handler (State.method) and kind (foreground/background).",
    ["handler", "kind"],
)
EVENT_SECONDS = Histogram(
    "stylestudio_event_duration_seconds",
    "Foreground Reflex events: from the tab's state lock being held to the handler's end.",
    ["handler"],
    buckets=_HUMAN_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "stylestudio_http_requests",
    "HTTP requests answered by the backend, by method, route and status code.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "stylestudio_http_request_duration_seconds",
    "HTTP request duration, by method and route.",
    ["method", "route"],
    buckets=_HUMAN_BUCKETS,
)
PROVIDER_SECONDS = Histogram(
    "stylestudio_provider_call_duration_seconds",
    "Calls to the generation provider, by provider, operation and outcome "
    "(ok, busy: 429/5xx/network, error: refused).",
    ["provider", "operation", "outcome"],
    buckets=_PROVIDER_BUCKETS,
)
WEBHOOKS = Counter(
    "stylestudio_webhooks",
    "Webhook deliveries, by provider (stripe, replicate) and outcome "
    "(applied, duplicate, ignored, refused, retry).",
    ["provider", "outcome"],
)

WEBHOOK_OUTCOMES = ("applied", "duplicate", "ignored", "refused", "retry")


def multiprocess_dir() -> str | None:
    """The folder shared by every process's metrics, when multiprocess mode is on."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Collector(Protocol):
    def collect(self) -> Iterable[Metric]: ...


class _ProcessMetrics:
    """This process's registry as one collector (it is not re-registered anywhere)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def exposition(*, extra: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """The text exposition (body, content type): this process's metrics, or every process's
    in multiprocess mode, followed by `extra` collectors (read now)."""
    registry = CollectorRegistry(auto_describe=False)
    path = multiprocess_dir()
    if path is not None:
        MultiProcessCollector(registry, path=path)
    else:
        registry.register(_ProcessMetrics())
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST
