"""/checkout/test/<session>: the offline checkout's page. No money moves here."""

from __future__ import annotations

import reflex as rx

from stylestudio.components.layout import ACCENT, brand, card
from stylestudio.state.test_checkout import TestCheckoutState


def _button(label: str, action: str, variant: str, color: str) -> rx.Component:
    return rx.button(
        rx.cond(TestCheckoutState.acting == action, rx.spinner(size="2")),
        label,
        size="3",
        width="100%",
        variant=variant,
        color_scheme=color,
        disabled=TestCheckoutState.acting != "",
        on_click=TestCheckoutState.press(action),
    )


def _checkout() -> rx.Component:
    return rx.vstack(
        rx.callout(
            "Test mode — no real payment is taken",
            icon="flask-conical",
            color_scheme="amber",
            width="100%",
            id="test-mode-banner",
        ),
        rx.text("You are buying", size="2", color=rx.color("gray", 11)),
        rx.heading(TestCheckoutState.pack_name, " pack", size="6"),
        rx.hstack(
            rx.text(TestCheckoutState.pack_credits.to_string(), " credits", size="4"),
            rx.spacer(),
            rx.text(TestCheckoutState.price, size="6", weight="bold", id="checkout-price"),
            width="100%",
            align="baseline",
        ),
        rx.divider(),
        rx.cond(
            TestCheckoutState.status == "pending",
            rx.vstack(
                _button("Pay", "pay", "solid", ACCENT),
                _button("Pay later", "pay_later", "soft", ACCENT),
                rx.text(
                    "Pay later settles a few seconds after you return, like a bank debit.",
                    size="1",
                    color=rx.color("gray", 11),
                ),
                rx.grid(
                    _button("Decline", "decline", "outline", "red"),
                    _button("Cancel", "cancel", "outline", "gray"),
                    columns="2",
                    spacing="2",
                    width="100%",
                ),
                width="100%",
                spacing="2",
            ),
            rx.vstack(
                rx.text("This checkout is already finished.", weight="medium"),
                rx.link("Back to your credits", href="/credits"),
                spacing="1",
            ),
        ),
        spacing="3",
        width="100%",
        align="start",
    )


def test_checkout_page() -> rx.Component:
    return rx.center(
        rx.vstack(
            brand(),
            card(
                rx.cond(
                    TestCheckoutState.loading,
                    rx.center(rx.spinner(size="3"), padding="40px", width="100%"),
                    rx.cond(
                        TestCheckoutState.found,
                        _checkout(),
                        rx.vstack(
                            rx.heading("Checkout not found", size="5"),
                            rx.text("It may belong to another account, or it has ended."),
                            rx.link("Back to your credits", href="/credits"),
                            spacing="2",
                        ),
                    ),
                ),
                width="100%",
                max_width="420px",
            ),
            spacing="5",
            align="center",
            width="100%",
            max_width="420px",
        ),
        min_height="100vh",
        padding="24px",
        background=rx.color("gray", 2),
    )
