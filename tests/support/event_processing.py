"""Events through Reflex's own event processing, in this process: the app's handlers as
registered, the payload transformation Reflex applies to their annotations, the state
manager's locking, chained events and the backend exception handler — everything a
websocket frame goes through after it is parsed, without starting a server."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import reflex as rx
from reflex.app import default_backend_exception_handler
from reflex.istate.manager.memory import StateManagerMemory
from reflex.state import BaseState, StateUpdate
from reflex_base.event import Event
from reflex_base.event.processor.base_state_processor import BaseStateEventProcessor
from reflex_base.registry import RegisteredEventHandler, RegistrationContext
from reflex_base.utils.format import format_event_handler

from stylestudio.api.session_cookie import SESSION_COOKIE
from stylestudio.state import socket_sessions

log = logging.getLogger(__name__)


def app_event_handlers() -> dict[str, RegisteredEventHandler]:
    """Every event handler of the app's own states, by the name a page sends."""
    import stylestudio.stylestudio  # noqa: F401  (registers the app, its pages and states)

    return {
        name: registered
        for name, registered in RegistrationContext.get().event_handlers.items()
        if registered.states[0].__module__.startswith("stylestudio.")
    }


def event_name(state: type[BaseState], handler: str) -> str:
    return format_event_handler(state.event_handlers[handler])


@dataclass
class Answer:
    """What the backend sent back for one event (and the events it chained)."""

    updates: list[StateUpdate] = field(default_factory=list)
    exceptions: list[BaseException] = field(default_factory=list)

    @property
    def frontend_events(self) -> list[str]:
        """The frontend events as the page receives them (e.g. a toast's call), as text."""
        return [repr(e.payload) for u in self.updates for e in u.events]

    def toasts(self) -> list[str]:
        return [e for e in self.frontend_events if "__toast" in e]


class _Namespace:
    """Stands in for the socket.io namespace: collects what would be sent to each tab."""

    def __init__(self) -> None:
        self.sent: dict[str, list[StateUpdate]] = {}

    async def emit_update(self, update: StateUpdate, token: str) -> None:
        self.sent.setdefault(token, []).append(update)


class AppEvents:
    """The app's event processor in this process (use `async with`)."""

    def __init__(self, *, timeout: float = 30, app_middleware: bool = False) -> None:
        """`app_middleware`: run the app's own middleware before each handler, as the
        running app does (stylestudio.py adds it)."""
        app_event_handlers()
        self.timeout = timeout
        # mypy takes its overloaded methods for abstract ones; Reflex's tests build it so.
        self.manager = StateManagerMemory()  # type: ignore[abstract]
        self._namespace = _Namespace()
        self._raised: dict[str, list[BaseException]] = {}
        middleware = None
        if app_middleware:
            from stylestudio.stylestudio import app

            middleware = app
        self.processor = BaseStateEventProcessor(
            backend_exception_handler=self._on_exception, middleware=middleware
        ).configure(state_manager=self.manager, event_namespace=self._namespace)  # type: ignore[arg-type]
        self._current: str = ""

    def _on_exception(self, exc: Exception) -> Any:
        self._raised.setdefault(self._current, []).append(exc)
        return default_backend_exception_handler(exc)  # what the page would get

    async def __aenter__(self) -> AppEvents:
        await self.processor.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.processor.stop(graceful_shutdown_timeout=5)

    async def send(
        self,
        token: str,
        name: str,
        payload: dict[str, Any],
        *,
        session: str | None = None,
        path: str = "/",
    ) -> Answer:
        """One event from the tab `token`, whose websocket carried the session cookie
        `session` (None: no cookie); waits for it and every event it chained."""
        self._current = token
        sent_before = len(self._namespace.sent.get(token, []))
        raised_before = len(self._raised.get(token, []))
        # As the app's websocket namespace does: the cookie goes to this process's socket
        # map (state/socket_sessions.py), never into router data.
        sid = f"fuzz-{token}-{session or 'anonymous'}"
        socket_sessions.connect(sid, f"{SESSION_COOKIE}={session}" if session else None)
        router = {"pathname": path, "asPath": path, "headers": {}, "sid": sid, "token": token}
        event = Event(name=name, payload=payload, router_data=router)
        future = await self.processor.enqueue(token, event)
        try:
            await asyncio.wait_for(future.wait_all(), timeout=self.timeout)
        except TimeoutError as exc:
            raise AssertionError(f"{name} did not finish in {self.timeout} s") from exc
        except Exception:  # an exception of the handler: the backend exception handler has it
            log.debug("%s raised", name)
        await self.processor.join(timeout=self.timeout)
        # The exception handler runs as a task of its own after the event's future fails.
        for _ in range(50):
            if not self.processor._tasks:
                break
            await asyncio.sleep(0.01)
        return Answer(
            updates=list(self._namespace.sent.get(token, [])[sent_before:]),
            exceptions=list(self._raised.get(token, [])[raised_before:]),
        )

    async def state_of(self, token: str, state: type[BaseState]) -> dict[str, Any]:
        """The tab's vars of `state` as they stand (a copy)."""
        root = await self.manager.get_state(rx.BaseStateToken(ident=token, cls=state))
        substate = await root.get_state(state)
        values = substate.dict()[substate.get_full_name()]
        return {name.removesuffix("_rx_state_"): value for name, value in values.items()}


def new_tab() -> str:
    return str(uuid.uuid4())
