"""Grey, pulsing placeholders shaped like content that is on its way.

A page shows these until its data has arrived, so an empty state ("No images yet") only ever
means there is nothing. Each placeholder region carries data-testid="skeleton"."""

from __future__ import annotations

import reflex as rx

from stylestudio.components.layout import card

TEST_ID = "skeleton"


def skeleton_block(height: str, width: str = "100%", **props: object) -> rx.Component:
    """One placeholder: a figure, a chart, a card of known height."""
    return rx.skeleton(height=height, width=width, data_testid=TEST_ID, **props)


def skeleton_cards(
    count: int,
    *,
    columns: object,
    image_height: str = "240px",
    lines: int = 2,
) -> rx.Component:
    """A grid of cards like the gallery's and Explore's: an image, then lines of text."""
    widths = ("70%", "45%", "85%", "55%")

    def one() -> rx.Component:
        return card(
            rx.vstack(
                rx.skeleton(height=image_height, width="100%"),
                *[rx.skeleton(height="14px", width=widths[i % len(widths)]) for i in range(lines)],
                spacing="3",
                width="100%",
            ),
            padding="12px",
        )

    return rx.grid(
        *[one() for _ in range(count)],
        columns=columns,
        spacing="4",
        width="100%",
        aria_busy="true",
        data_testid=TEST_ID,
    )


def skeleton_rows(count: int, *, height: str = "32px") -> rx.Component:
    """Rows of a table or a list."""
    return rx.vstack(
        *[rx.skeleton(height=height, width="100%") for _ in range(count)],
        spacing="2",
        width="100%",
        aria_busy="true",
        data_testid=TEST_ID,
    )
