"""The Reflex app: pages, the HTTP API next to them, and the in-process worker."""

from __future__ import annotations

import logging

import reflex as rx

from stylestudio.api.request_context import request_context
from stylestudio.api.routes import build_api
from stylestudio.components.upload_credentials import upload_credentials_script
from stylestudio.log_output import configure_logging
from stylestudio.pages.registry import add_pages
from stylestudio.settings import get_settings
from stylestudio.state import outages, socket_sessions, state_lease
from stylestudio.state.event_observer import EventObserver
from stylestudio.state.session import TabOwnerCheck
from stylestudio.state.upload_guard import upload_guard
from stylestudio.worker import run_in_app, sweep_in_app

# Every log record of this process is redacted (no cookie, token, ticket, key or signature
# in a log line), and our own loggers print like the worker's (STYLESTUDIO_LOG_FORMAT).
configure_logging(serving=True)
# /api/ready reads the migration revision on every call (a proxy or container probe every
# few seconds) and alembic logs its context each time; this process never migrates.
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)

STYLESHEET = "/styles.css"

app = rx.App(
    stylesheets=[STYLESHEET],
    head_components=[upload_credentials_script()],
    # In order: our routes beside Reflex's, the guard in front of its /_upload, then request
    # ids, access lines and HTTP metrics around all of it.
    api_transformer=[build_api(), upload_guard, request_context],
    # While Redis or the database restarts, a plain message instead of "An error occurred".
    backend_exception_handler=outages.backend_exception_handler,
)
# On Redis with the state lease on, each event's changes are written through (state_lease.py).
state_lease.install(app, write_through=get_settings().state_write_through)
# The session cookie stays out of what Reflex persists and logs; a tab token without its
# owner's cookie gets a reset tab.
socket_sessions.install(app)
app.add_middleware(TabOwnerCheck(), index=0)
# First of all: the event's id is on every line logged from here on, the tab check's too.
app.add_middleware(EventObserver(), index=0)

add_pages(app, test_checkout=get_settings().payment_provider == "test")

if get_settings().run_worker_in_app:
    app.register_lifespan_task(run_in_app)
app.register_lifespan_task(sweep_in_app)
