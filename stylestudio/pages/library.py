"""/gallery, /explore and /credits."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from stylestudio.components.generation import generation_card
from stylestudio.components.layout import ACCENT, card, empty_state, page_header, page_shell
from stylestudio.state.pages import CreditsState, ExploreState, GalleryState
from stylestudio.state.session import SessionState

GRID = rx.breakpoints(initial="1", sm="2", md="3", lg="4")


def gallery_page() -> rx.Component:
    return page_shell(
        page_header(
            "Your gallery",
            "Every image you have generated, newest first.",
            rx.link(
                rx.button(rx.icon("plus"), "New generation", color_scheme=ACCENT), href="/upload"
            ),
        ),
        rx.cond(
            GalleryState.items.length() > 0,
            rx.vstack(
                rx.grid(
                    rx.foreach(GalleryState.items, generation_card),
                    columns=GRID,
                    spacing="4",
                    width="100%",
                    id="gallery-grid",
                ),
                rx.cond(
                    GalleryState.has_more,
                    rx.button("Load more", variant="soft", on_click=GalleryState.load_more),
                ),
                align="center",
                spacing="5",
                width="100%",
            ),
            empty_state(
                "images",
                "No images yet",
                "Your generated product shots will collect here.",
                rx.link(rx.button("Open the studio", color_scheme=ACCENT), href="/upload"),
            ),
        ),
    )


def explore_page() -> rx.Component:
    return page_shell(
        page_header("Explore", "Featured shots from the Style Studio community."),
        rx.cond(
            ExploreState.items.length() > 0,
            rx.grid(
                rx.foreach(
                    ExploreState.items,
                    lambda item: card(
                        rx.vstack(
                            rx.image(
                                src=item["thumb_url"],
                                width="100%",
                                height="260px",
                                object_fit="cover",
                                border_radius="10px",
                                loading="lazy",
                            ),
                            rx.hstack(
                                rx.text(item["author"], size="2", weight="medium"),
                                rx.spacer(),
                                rx.badge(item["style"], variant="soft"),
                                width="100%",
                            ),
                            spacing="2",
                        ),
                        padding="10px",
                    ),
                ),
                columns=GRID,
                spacing="4",
                width="100%",
            ),
            empty_state(
                "sparkles",
                "Nothing featured yet",
                "When creators ask for their best results to be featured and an admin "
                "approves them, they appear here.",
            ),
        ),
    )


def _pack_card(pack: ObjectVar[dict[str, Any]]) -> rx.Component:
    return card(
        rx.vstack(
            rx.text(pack["name"], weight="bold", size="4"),
            rx.hstack(
                rx.text(pack["credits"].to_string(), size="8", weight="bold"),
                rx.text("credits", color=rx.color("gray", 11)),
                align="baseline",
            ),
            rx.text(pack["price"], size="5", weight="medium"),
            rx.text(pack["per_credit"], " per credit", size="1", color=rx.color("gray", 10)),
            rx.tooltip(
                rx.button("Buy", width="100%", color_scheme=ACCENT, disabled=True),
                content="Checkout opens in the next release",
            ),
            spacing="2",
            align="start",
            width="100%",
        ),
    )


def credits_page() -> rx.Component:
    return page_shell(
        page_header("Credits", "Every generation costs credits; packs top you up."),
        rx.grid(
            card(
                rx.vstack(
                    rx.text("Balance", size="2", color=rx.color("gray", 11)),
                    rx.text(
                        SessionState.credits_label,
                        size="8",
                        weight="bold",
                        id="credits-page-balance",
                    ),
                    rx.text(
                        "Draft 1:1 costs 1 credit; high quality and wide formats cost more.",
                        size="2",
                        color=rx.color("gray", 10),
                    ),
                    spacing="1",
                    align="start",
                ),
                background=f"linear-gradient(135deg, {rx.color(ACCENT, 2)}, white)",
            ),
            columns="1",
            width="100%",
            margin_bottom="20px",
        ),
        rx.heading("Credit packs", size="5", margin_bottom="12px"),
        rx.grid(
            rx.foreach(CreditsState.packs, _pack_card),
            columns=rx.breakpoints(initial="1", sm="2", md="4"),
            spacing="4",
            width="100%",
        ),
        rx.heading("Activity", size="5", margin_top="32px", margin_bottom="12px"),
        card(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("When", "What", "Change", "Balance after")
                        ]
                    )
                ),
                rx.table.body(
                    rx.foreach(
                        CreditsState.history,
                        lambda h: rx.table.row(
                            rx.table.cell(h["when"]),
                            rx.table.cell(
                                rx.vstack(
                                    rx.text(h["kind"], weight="medium"),
                                    rx.text(h["description"], size="1", color=rx.color("gray", 10)),
                                    spacing="0",
                                )
                            ),
                            rx.table.cell(h["amount"]),
                            rx.table.cell(h["balance_after"]),
                        ),
                    )
                ),
                width="100%",
            ),
            padding="8px",
        ),
    )
