"""/signup and /login."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx

from stylestudio.components.layout import ACCENT, brand, card
from stylestudio.components.link_button import link_button
from stylestudio.services.accounts import accounts
from stylestudio.state.auth import AuthState


def _field(label: str, name: str, kind: str, autocomplete: str, max_length: int) -> rx.Component:
    return rx.vstack(
        rx.el.label(label, html_for=name, style={"fontWeight": "500", "fontSize": "14px"}),
        rx.input(
            id=name,
            name=name,
            type=kind,
            required=True,
            size="3",
            width="100%",
            auto_complete=autocomplete,
            max_length=max_length,  # a courtesy; the server enforces the same caps
        ),
        spacing="1",
        width="100%",
        align="start",
    )


def _auth_page(
    *,
    title: str,
    subtitle: str,
    button: str,
    on_submit: Callable[..., Any],
    password_autocomplete: str,
    footer: rx.Component,
    email: bool = True,
    password: bool = True,
    signs_in: bool = False,
) -> rx.Component:
    """`signs_in`: the form ends in a sign-in ticket, so its button waits until this tab's
    connection carries the browser's sign-in nonce (see services/accounts/sign_in_tickets.py)."""
    return rx.center(
        rx.vstack(
            brand(),
            card(
                rx.form(
                    rx.vstack(
                        rx.heading(title, size="6"),
                        rx.text(subtitle, color=rx.color("gray", 11), size="2"),
                        *(
                            [_field("Email", "email", "email", "email", accounts.MAX_EMAIL_LENGTH)]
                            if email
                            else []
                        ),
                        *(
                            [
                                _field(
                                    "Password",
                                    "password",
                                    "password",
                                    password_autocomplete,
                                    accounts.MAX_PASSWORD_LENGTH,
                                )
                            ]
                            if password
                            else []
                        ),
                        rx.cond(
                            AuthState.form_error != "",
                            rx.callout(
                                AuthState.form_error,
                                icon="circle-alert",
                                color_scheme="red",
                                role="alert",
                                width="100%",
                            ),
                        ),
                        rx.cond(
                            AuthState.notice != "",
                            rx.callout(
                                AuthState.notice,
                                icon="circle-check",
                                color_scheme="green",
                                width="100%",
                                id="auth-notice",
                            ),
                        ),
                        rx.button(
                            button,
                            type="submit",
                            size="3",
                            width="100%",
                            color_scheme=ACCENT,
                            disabled=~AuthState.ready if signs_in else False,
                            id="auth-submit",
                        ),
                        spacing="4",
                        width="100%",
                    ),
                    on_submit=on_submit,
                    reset_on_submit=False,
                ),
                _providers(),
                width="100%",
                padding="28px",
            ),
            footer,
            spacing="5",
            align="center",
            width="100%",
            max_width="400px",
        ),
        min_height="100vh",
        padding="24px",
        background=(
            f"radial-gradient(circle at 20% 10%, {rx.color(ACCENT, 3)}, {rx.color('gray', 2)} 60%)"
        ),
    )


def _providers() -> rx.Component:
    """A button per configured sign-in provider (none when none is configured)."""
    return rx.cond(
        AuthState.providers.length() > 0,
        rx.vstack(
            rx.hstack(
                rx.separator(size="4"),
                rx.text("or", size="1", color=rx.color("gray", 11)),
                rx.separator(size="4"),
                align="center",
                width="100%",
                margin_top="16px",
            ),
            rx.foreach(
                AuthState.providers,
                lambda p: link_button(
                    "Continue with ",
                    p.label,
                    href=p.url,
                    # A backend route: a full page load, also where it shares the page's host.
                    link_props={
                        "class_name": "oauth-provider",
                        "data_provider": p.key,
                        "reload_document": True,
                    },
                    variant="outline",
                    color_scheme="gray",
                    size="3",
                    width="100%",
                ),
            ),
            spacing="2",
            width="100%",
        ),
    )


def signup_page() -> rx.Component:
    return _auth_page(
        title="Create your account",
        subtitle="Start with 10 free credits. No card needed.",
        button="Create account",
        on_submit=AuthState.sign_up,
        password_autocomplete="new-password",
        signs_in=True,
        footer=rx.text("Already have an account? ", rx.link("Sign in", href="/login"), size="2"),
    )


def login_page() -> rx.Component:
    return _auth_page(
        title="Welcome back",
        subtitle="Sign in to your studio.",
        button="Sign in",
        on_submit=AuthState.sign_in,
        password_autocomplete="current-password",
        signs_in=True,
        footer=rx.vstack(
            rx.text(
                "New to Style Studio? ", rx.link("Create an account", href="/signup"), size="2"
            ),
            rx.link("Forgot password?", href="/forgot-password", size="2"),
            align="center",
            spacing="2",
        ),
    )


def forgot_password_page() -> rx.Component:
    return _auth_page(
        title="Forgot your password?",
        subtitle="We email you a link to choose a new one.",
        button="Send the link",
        on_submit=AuthState.request_reset,
        password_autocomplete="off",
        password=False,
        footer=rx.link("Back to sign in", href="/login", size="2"),
    )


def reset_password_page() -> rx.Component:
    return _auth_page(
        title="Choose a new password",
        subtitle="At least 8 characters. Every session of your account will end.",
        button="Set password",
        on_submit=AuthState.reset_password,
        password_autocomplete="new-password",
        email=False,
        footer=rx.link("Back to sign in", href="/login", size="2"),
    )


def verify_email_page() -> rx.Component:
    return _auth_page(
        title="Email address",
        subtitle="Confirming the address of your account.",
        button="Continue to the studio",
        on_submit=lambda _form: rx.redirect("/upload"),
        password_autocomplete="off",
        email=False,
        password=False,
        footer=rx.link("Back to sign in", href="/login", size="2"),
    )
