"""Calls that start at the same moment, each in its own thread: for claims about concurrency."""

from __future__ import annotations

import threading
from collections.abc import Callable


def race(*calls: Callable[[], object]) -> list[object]:
    """Run `calls` at once (a barrier releases them together); each one's result or exception,
    in order."""
    results: list[object] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(i: int, call: Callable[[], object]) -> None:
        start.wait()
        try:
            results[i] = call()
        except Exception as exc:  # surfaced by the caller's assertions
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
