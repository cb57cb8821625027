"""/gallery, /explore and /credits."""

from __future__ import annotations

import reflex as rx

from stylestudio.components.generation import generation_card
from stylestudio.components.layout import ACCENT, card, empty_state, page_header, page_shell
from stylestudio.state.pages import ExploreState, GalleryState

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
            GalleryState.message != "",
            rx.callout(GalleryState.message, icon="info", width="100%", id="gallery-message"),
        ),
        rx.cond(
            GalleryState.items.length() > 0,
            rx.vstack(
                rx.grid(
                    rx.foreach(
                        GalleryState.items,
                        lambda item: generation_card(
                            item,
                            on_cancel=GalleryState.cancel(item["id"].to(int)),
                            cancelling=GalleryState.cancelling == item["id"].to(int),
                        ),
                    ),
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
