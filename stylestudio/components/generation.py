"""How a generation looks: status badge and gallery card."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from stylestudio.components.layout import card
from stylestudio.components.local_time import local_time
from stylestudio.services.generation.generation_views import GenerationView

STATUS_COLORS = {
    "pending": "gray",
    "uploading": "gray",
    "processing": "amber",
    "completed": "green",
    "failed": "red",
    "cancelled": "gray",
}


def status_badge(status: rx.Var, label: rx.Var) -> rx.Component:
    return rx.badge(
        rx.cond(
            (status == "processing") | (status == "pending"),
            rx.spinner(size="1"),
            rx.fragment(),
        ),
        label,
        color_scheme=rx.match(status, *STATUS_COLORS.items(), "gray"),
        variant="soft",
        radius="full",
        class_name="generation-status",
        data_status=status,
    )


def result_alt(item: ObjectVar[GenerationView]) -> rx.Var:
    """What a result shows, for screen readers: its style and the prompt it was made with."""
    style = item.style.to(str)
    return rx.cond(
        item.prompt != "",
        style + " style: " + item.prompt.to(str),
        style + " style product photo",
    )


def _open_button(item: ObjectVar[GenerationView], height: str, on_open: Any) -> rx.Component:
    """The card's picture: opens the viewer (every variation, full size)."""
    return rx.el.button(
        rx.image(
            src=item.result_thumb_url,
            alt=result_alt(item),
            width="100%",
            height=height,
            object_fit="cover",
            loading="lazy",
        ),
        rx.cond(
            item.variations.to(int) > 1,
            rx.badge(
                rx.icon("images", size=12),
                item.variations.to_string(),
                variant="solid",
                color_scheme="gray",
                high_contrast=True,
                position="absolute",
                bottom="8px",
                right="8px",
            ),
        ),
        on_click=on_open,
        aria_label="Open the viewer: "
        + item.style.to(str)
        + rx.cond(
            item.variations.to(int) > 1,
            ", " + item.variations.to_string() + " images",
            "",
        ),
        class_name="open-viewer",
        style={
            "display": "block",
            "position": "relative",
            "width": "100%",
            "padding": "0",
            "border": "0",
            "background": "transparent",
            "cursor": "zoom-in",
        },
    )


def result_frame(
    item: ObjectVar[GenerationView], height: str = "240px", on_open: Any = None
) -> rx.Component:
    return rx.box(
        rx.cond(
            item.result_thumb_url != "",
            _open_button(item, height, on_open)
            if on_open is not None
            else rx.link(
                rx.image(
                    src=item.result_thumb_url,
                    alt=result_alt(item),
                    width="100%",
                    height=height,
                    object_fit="cover",
                    loading="lazy",
                ),
                href=item.result_url,
                is_external=True,
            ),
            rx.center(
                rx.cond(
                    item.is_terminal,
                    rx.icon(
                        "image-off",
                        size=28,
                        color=rx.cond(
                            item.status == "failed", rx.color("red", 9), rx.color("gray", 9)
                        ),
                    ),
                    rx.spinner(size="3"),
                ),
                height=height,
                width="100%",
                background=f"linear-gradient(135deg, {rx.color('gray', 3)}, {rx.color('gray', 5)})",
            ),
        ),
        border_radius="10px",
        overflow="hidden",
        width="100%",
    )


def cancel_button(
    item: ObjectVar[GenerationView], on_click: Any, busy: rx.Var, size: str = "1"
) -> rx.Component:
    """`Cancel` on a queued or running generation (the credits come back)."""
    return rx.cond(
        ~item.is_terminal,
        rx.button(
            rx.cond(busy, rx.spinner(size="1"), rx.icon("circle-stop", size=14)),
            "Cancel",
            size=size,
            variant="soft",
            color_scheme="gray",
            disabled=busy,
            on_click=on_click,
            class_name="cancel-generation",
        ),
    )


def generation_card(
    item: ObjectVar[GenerationView],
    on_cancel: Any = None,
    cancelling: rx.Var | None = None,
    footer: rx.Component | None = None,
    on_open: Any = None,
) -> rx.Component:
    """`on_open`: the event that opens the viewer (a click on a finished card's picture)."""
    return card(
        rx.vstack(
            result_frame(item, on_open=on_open),
            rx.hstack(
                status_badge(item.status, item.status_label),
                rx.spacer(),
                rx.text(local_time(item.created_at), size="1", color=rx.color("gray", 11)),
                *(
                    [cancel_button(item, on_cancel, cancelling)]
                    if on_cancel is not None and cancelling is not None
                    else []
                ),
                width="100%",
                align="center",
            ),
            rx.hstack(
                rx.badge(item.style, variant="outline", color_scheme="gray"),
                rx.badge(item.quality, variant="outline", color_scheme="gray"),
                rx.badge(item.aspect_ratio, variant="outline", color_scheme="gray"),
                rx.cond(
                    item.variations.to(int) > 1,
                    rx.badge(
                        item.variations.to_string() + " images",
                        variant="soft",
                        color_scheme="violet",
                    ),
                ),
                rx.spacer(),
                rx.text(
                    item.credits_used.to_string() + " cr",
                    size="1",
                    color=rx.color("gray", 11),
                    white_space="nowrap",
                    flex_shrink="0",
                    title=item.credits_used.to_string() + " credits",
                ),
                width="100%",
                spacing="1",
                align="center",
            ),
            rx.cond(
                item.prompt != "",
                rx.text(
                    item.prompt,
                    size="2",
                    color=rx.color("gray", 11),
                    title=item.prompt,  # the whole prompt on hover
                    # No `trim`: cropping the leading under a line clamp cut off the
                    # descenders of the last line.
                    style={
                        "display": "-webkit-box",
                        "-webkit-line-clamp": "2",
                        "-webkit-box-orient": "vertical",
                        "overflow": "hidden",
                    },
                ),
            ),
            rx.cond(
                item.error != "",
                rx.callout(
                    item.error, icon="triangle-alert", color_scheme="red", size="1", width="100%"
                ),
            ),
            *([footer] if footer is not None else []),
            spacing="3",
            align="start",
        ),
        padding="12px",
        class_name="generation-card",
        data_generation=item.id,
    )
