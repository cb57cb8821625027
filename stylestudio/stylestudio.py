"""The Reflex app: pages, the HTTP API next to them, and the in-process worker."""

from __future__ import annotations

import logging

import reflex as rx

from stylestudio.api.request_context import request_context
from stylestudio.api.routes import build_api
from stylestudio.components.upload_credentials import upload_credentials_script
from stylestudio.log_output import configure_logging
from stylestudio.pages.account import account_page
from stylestudio.pages.admin import admin_moderation_page, admin_page
from stylestudio.pages.auth import (
    forgot_password_page,
    login_page,
    reset_password_page,
    signup_page,
    verify_email_page,
)
from stylestudio.pages.credits import credits_page
from stylestudio.pages.home import home_page
from stylestudio.pages.library import explore_page, gallery_page
from stylestudio.pages.studio import studio_page
from stylestudio.pages.test_checkout import test_checkout_page
from stylestudio.settings import get_settings
from stylestudio.state import outages, socket_sessions
from stylestudio.state.account import AccountState
from stylestudio.state.admin import AdminState
from stylestudio.state.auth import AuthState
from stylestudio.state.credits import CreditsState
from stylestudio.state.event_observer import EventObserver
from stylestudio.state.explore import ExploreState
from stylestudio.state.gallery import GalleryState
from stylestudio.state.session import SessionState, TabOwnerCheck
from stylestudio.state.studio import StudioState
from stylestudio.state.test_checkout import TestCheckoutState
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
# The session cookie stays out of what Reflex persists and logs; a tab token without its
# owner's cookie gets a reset tab.
socket_sessions.install(app)
app.add_middleware(TabOwnerCheck(), index=0)
# First of all: the event's id is on every line logged from here on, the tab check's too.
app.add_middleware(EventObserver(), index=0)

app.add_page(home_page, route="/", title="Style Studio", on_load=SessionState.load_public)
app.add_page(
    signup_page,
    route="/signup",
    title="Create account · Style Studio",
    on_load=AuthState.open_auth_page,
)
app.add_page(
    login_page, route="/login", title="Sign in · Style Studio", on_load=AuthState.open_auth_page
)
app.add_page(
    forgot_password_page,
    route="/forgot-password",
    title="Forgot password · Style Studio",
    on_load=AuthState.clear_messages,
)
app.add_page(
    reset_password_page,
    route="/reset-password",
    title="New password · Style Studio",
    on_load=AuthState.clear_messages,
)
app.add_page(
    verify_email_page,
    route="/verify-email",
    title="Verify email · Style Studio",
    on_load=AuthState.verify_email,
)
app.add_page(
    studio_page, route="/upload", title="Studio · Style Studio", on_load=StudioState.open_studio
)
app.add_page(
    gallery_page,
    route="/gallery",
    title="Gallery · Style Studio",
    on_load=GalleryState.open_gallery,
)
app.add_page(
    explore_page,
    route="/explore",
    title="Explore · Style Studio",
    on_load=ExploreState.open_explore,
)
app.add_page(
    credits_page,
    route="/credits",
    title="Credits · Style Studio",
    on_load=CreditsState.open_credits,
)
app.add_page(
    account_page,
    route="/account",
    title="Account · Style Studio",
    on_load=AccountState.open_account,
)
app.add_page(
    admin_page, route="/admin", title="Admin · Style Studio", on_load=AdminState.open_admin
)
app.add_page(
    admin_moderation_page,
    route="/admin/moderation",
    title="Moderation · Admin · Style Studio",
    on_load=AdminState.open_admin,
)

if get_settings().payment_provider == "test":
    # Never served when the test checkout is off (production without Stripe keys).
    app.add_page(
        test_checkout_page,
        route="/checkout/test/[session_id]",
        title="Test checkout · Style Studio",
        on_load=TestCheckoutState.open_test_checkout,
    )

if get_settings().run_worker_in_app:
    app.register_lifespan_task(run_in_app)
app.register_lifespan_task(sweep_in_app)
