"""/signup and /login."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx

from stylestudio.components.layout import ACCENT, brand, card
from stylestudio.services import accounts
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
) -> rx.Component:
    return rx.center(
        rx.vstack(
            brand(),
            card(
                rx.form(
                    rx.vstack(
                        rx.heading(title, size="6"),
                        rx.text(subtitle, color=rx.color("gray", 11), size="2"),
                        _field("Email", "email", "email", "email", accounts.MAX_EMAIL_LENGTH),
                        _field(
                            "Password",
                            "password",
                            "password",
                            password_autocomplete,
                            accounts.MAX_PASSWORD_LENGTH,
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
                        rx.button(
                            button, type="submit", size="3", width="100%", color_scheme=ACCENT
                        ),
                        spacing="4",
                        width="100%",
                    ),
                    on_submit=on_submit,
                    reset_on_submit=False,
                ),
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


def signup_page() -> rx.Component:
    return _auth_page(
        title="Create your account",
        subtitle="Start with 10 free credits. No card needed.",
        button="Create account",
        on_submit=AuthState.sign_up,
        password_autocomplete="new-password",
        footer=rx.text("Already have an account? ", rx.link("Sign in", href="/login"), size="2"),
    )


def login_page() -> rx.Component:
    return _auth_page(
        title="Welcome back",
        subtitle="Sign in to your studio.",
        button="Sign in",
        on_submit=AuthState.sign_in,
        password_autocomplete="current-password",
        footer=rx.text(
            "New to Style Studio? ", rx.link("Create an account", href="/signup"), size="2"
        ),
    )
