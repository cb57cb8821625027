"""Reflex middleware that gives every event an id on its log lines and counts it.

Reflex runs each event in a task of its own and calls middleware `preprocess` inside it,
with the tab's state lock held, just before the handler (this Reflex never calls
`postprocess`). So the ids bound here (`event_id`: Reflex's transaction id, `event`: the
handler) reach every line the handler logs, and the task's end is the handler's end: a
done-callback observes the duration. A background event's task outlives the lock and runs
for as long as it watches something: it is counted, not timed.
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import TYPE_CHECKING, Any

from reflex.middleware import Middleware
from reflex_base.event.context import EventContext
from reflex_base.registry import RegistrationContext

from stylestudio.log_output import bind
from stylestudio.metrics import EVENT_SECONDS, EVENTS

if TYPE_CHECKING:
    from reflex.app import App
    from reflex.state import BaseState, StateUpdate
    from reflex_base.event import Event


@functools.lru_cache(maxsize=2048)
def handler_label(event_name: str) -> tuple[str, bool]:
    """(`ClassName.method`, is_background) of a registered handler; only names Reflex has
    registered get here (an unknown name is refused before any middleware runs), so the
    metrics' label values are the app's handlers and nothing a browser makes up."""
    registered = RegistrationContext.get().event_handlers.get(event_name)
    state_path, _, method = event_name.rpartition(".")
    if registered is None:
        return "unregistered", False
    states = registered.states
    owner = states[0].__name__ if states else state_path.rpartition(".")[2]
    return f"{owner}.{method}", bool(registered.handler.is_background)


class EventObserver(Middleware):
    async def preprocess(self, app: App, state: BaseState, event: Event) -> StateUpdate | None:
        label, background = handler_label(event.name)
        try:
            event_id = EventContext.get().txid
        except LookupError:
            event_id = ""
        bind(event_id=event_id, event=label)
        counter, timer = _series(label, background)
        counter.inc()
        task = asyncio.current_task()
        if task is not None and timer is not None:
            started = time.perf_counter()

            def observe(_task: asyncio.Task[object]) -> None:
                timer.observe(time.perf_counter() - started)

            task.add_done_callback(observe)
        return None


@functools.lru_cache(maxsize=2048)
def _series(label: str, background: bool) -> tuple[Any, Any]:
    counter = EVENTS.labels(label, "background" if background else "foreground")
    return counter, None if background else EVENT_SECONDS.labels(label)
