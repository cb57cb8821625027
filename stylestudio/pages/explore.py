"""/explore: the public showcase of approved images (state: state/explore.py)."""

from __future__ import annotations

from typing import cast

import reflex as rx
from reflex.vars import ObjectVar

from stylestudio.components.layout import (
    ACCENT,
    CARD_GRID,
    card,
    empty_state,
    page_header,
    page_shell,
    paged_grid,
)
from stylestudio.components.skeleton import skeleton_cards
from stylestudio.services.billing.pricing import STYLE_PRESETS
from stylestudio.services.moderation.showcase import ShowcaseItem
from stylestudio.state.explore import ExploreState


def _explore_card(item: ObjectVar[ShowcaseItem]) -> rx.Component:
    return card(
        rx.vstack(
            rx.image(
                src=item.thumb_url,
                alt=rx.cond(item.title != "", item.title, "Featured product shot"),
                width="100%",
                height="260px",
                object_fit="cover",
                border_radius="10px",
                loading="lazy",
                cursor="zoom-in",
                on_click=ExploreState.open_image(item.id),
            ),
            rx.cond(item.title != "", rx.text(item.title, size="2", weight="bold")),
            rx.hstack(
                rx.text(item.author, size="2", color=rx.color("gray", 11)),
                rx.spacer(),
                rx.cond(item.style != "", rx.badge(item.style, variant="soft")),
                width="100%",
            ),
            spacing="2",
        ),
        padding="10px",
        class_name="explore-card",
        data_image=item.id,
    )


def _explore_viewer() -> rx.Component:
    # Reflex's typing reads a dataclass field on the class as ArrayVar; it is an ObjectVar.
    opened = cast(ObjectVar[ShowcaseItem], ExploreState.opened)
    return rx.dialog.root(
        rx.dialog.content(
            rx.vstack(
                rx.image(
                    src=opened.image_url,
                    alt="Featured product shot",
                    width="100%",
                    max_height="70vh",
                    object_fit="contain",
                    border_radius="10px",
                    background=rx.color("gray", 3),
                ),
                rx.hstack(
                    rx.dialog.title(
                        rx.cond(opened.title != "", opened.title, "Product shot"),
                        size="5",
                        margin="0",
                    ),
                    rx.spacer(),
                    rx.cond(opened.style != "", rx.badge(opened.style, size="2")),
                    width="100%",
                    align="center",
                ),
                rx.cond(
                    opened.prompt != "",
                    rx.text(opened.prompt, size="2", color=rx.color("gray", 11)),
                ),
                rx.hstack(
                    rx.text("By ", opened.author, size="1", color=rx.color("gray", 11)),
                    rx.spacer(),
                    rx.dialog.close(rx.button("Close", variant="soft", color_scheme="gray")),
                    width="100%",
                    align="center",
                ),
                spacing="3",
                width="100%",
            ),
            max_width="880px",
        ),
        open=ExploreState.viewer_open,
        on_open_change=ExploreState.set_viewer_open,
    )


def _style_filter() -> rx.Component:
    options = [("", "All styles")] + [(p.key, p.label) for p in STYLE_PRESETS.values()]
    return rx.hstack(
        *[
            rx.button(
                label,
                size="1",
                radius="full",
                variant=rx.cond(ExploreState.style == key, "solid", "soft"),
                color_scheme=rx.cond(ExploreState.style == key, ACCENT, "gray"),
                on_click=ExploreState.filter_style(key),
            )
            for key, label in options
        ],
        spacing="2",
        wrap="wrap",
        id="explore-styles",
    )


def explore_page() -> rx.Component:
    return page_shell(
        page_header("Explore", "Featured shots from the Style Studio community."),
        _style_filter(),
        _explore_viewer(),
        rx.cond(
            ~ExploreState.loaded,
            skeleton_cards(8, columns=CARD_GRID, image_height="260px", lines=1),
            _explore_grid_or_empty(),
        ),
    )


def _explore_grid_or_empty() -> rx.Component:
    return rx.cond(
        ExploreState.items.length() > 0,
        paged_grid(
            rx.grid(
                rx.foreach(ExploreState.items, _explore_card),
                columns=CARD_GRID,
                spacing="4",
                width="100%",
                id="explore-grid",
            ),
            ExploreState.has_more,
            ExploreState.load_more,
        ),
        empty_state(
            "sparkles",
            "Nothing featured yet",
            "When creators ask for their best results to be featured and an admin "
            "approves them, they appear here.",
        ),
    )
