"""The database's current workload as Prometheus gauges, read at scrape time.

Read from the database rather than counted in each process, so the figures are the same
whichever process is scraped and whatever number of processes there is."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy.engine import Engine

from stylestudio.db import session_scope
from stylestudio.services.generation.workload import read_workload

log = logging.getLogger(__name__)


class WorkloadCollector:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "stylestudio_workload_up",
            "1 when the workload figures below could be read from the database, else 0.",
        )
        try:
            with session_scope(self.engine, write=False) as session:
                workload = read_workload(session)
        except Exception as exc:
            log.warning("metrics: the workload could not be read: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        generations = GaugeMetricFamily(
            "stylestudio_generations", "Generations by status.", labels=["status"]
        )
        for status, count in workload.generations.items():
            generations.add_metric([status.value], count)
        yield generations
        queue = GaugeMetricFamily(
            "stylestudio_job_queue_depth",
            "Queued jobs: due (waiting for a worker now) or scheduled (due later: a "
            "provider's Retry-After).",
            labels=["state"],
        )
        queue.add_metric(["due"], workload.jobs_due)
        queue.add_metric(["scheduled"], workload.jobs_scheduled)
        yield queue
        yield GaugeMetricFamily(
            "stylestudio_job_queue_oldest_age_seconds",
            "How long the oldest due job has waited for a worker (0 when none waits).",
            value=workload.oldest_due_age_s,
        )
        yield GaugeMetricFamily(
            "stylestudio_jobs_running", "Jobs leased to a worker.", value=workload.jobs_running
        )
