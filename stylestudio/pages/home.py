"""/: what Style Studio is, and the way in."""

from __future__ import annotations

import reflex as rx

from stylestudio.components.layout import ACCENT, card, page_shell
from stylestudio.components.link_button import link_button
from stylestudio.services.billing import pricing
from stylestudio.state.session import SessionState


def home_page() -> rx.Component:
    return page_shell(
        rx.vstack(
            rx.badge("Self-hosted AI product photography", color_scheme=ACCENT, radius="full"),
            rx.heading(
                "Studio-quality product shots from a single photo",
                size="9",
                text_align="center",
                max_width="780px",
            ),
            rx.text(
                "Upload a product, optionally a model or scene, pick a style — Style Studio "
                "composes, lights and styles the shot for you.",
                size="4",
                color=rx.color("gray", 11),
                text_align="center",
                max_width="640px",
            ),
            rx.cond(
                SessionState.signed_in,
                link_button("Open the studio", href="/upload", size="4", color_scheme=ACCENT),
                rx.hstack(
                    link_button(
                        "Start free — 10 credits", href="/signup", size="4", color_scheme=ACCENT
                    ),
                    link_button(
                        "Sign in", href="/login", size="4", variant="soft", color_scheme="gray"
                    ),
                    spacing="3",
                ),
            ),
            rx.grid(
                *[
                    card(
                        rx.vstack(
                            rx.heading(p.label, size="4"),
                            rx.text(p.description, color=rx.color("gray", 11), size="2"),
                            spacing="1",
                            align="start",
                        )
                    )
                    for p in pricing.STYLE_PRESETS.values()
                ],
                columns=rx.breakpoints(initial="1", sm="2", md="5"),
                spacing="3",
                width="100%",
                margin_top="40px",
            ),
            align="center",
            spacing="5",
            padding_y="48px",
        ),
    )
