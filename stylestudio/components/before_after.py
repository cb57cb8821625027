"""Before/after: a result over the product photo it was made from, split where the slider
is. The "before" sits on its own checkerboard, so a transparent product photo shows the
checkerboard through it, never the result (or its scene) underneath."""

from __future__ import annotations

from typing import Any

import reflex as rx

from stylestudio.components.layout import ACCENT

_CHECK = "#e4e4e7"
CHECKERBOARD = {
    "backgroundColor": "#ffffff",
    "backgroundImage": (
        f"linear-gradient(45deg, {_CHECK} 25%, transparent 25%),"
        f"linear-gradient(-45deg, {_CHECK} 25%, transparent 25%),"
        f"linear-gradient(45deg, transparent 75%, {_CHECK} 75%),"
        f"linear-gradient(-45deg, transparent 75%, {_CHECK} 75%)"
    ),
    "backgroundSize": "20px 20px",
    "backgroundPosition": "0 0, 0 10px, 10px -10px, -10px 0",
}


def before_after(
    *,
    before_url: rx.Var | str,
    after_url: rx.Var | str,
    before_alt: rx.Var | str,
    after_alt: rx.Var | str,
    at: rx.Var,
    on_change: Any,
    fit: str = "cover",
    height: str | None = None,
) -> rx.Component:
    """`at`: the divider, percent from the left (the "before" shows left of it)."""
    frame: dict[str, Any] = {"aspect_ratio": "4 / 3"} if height is None else {"height": height}
    return rx.vstack(
        rx.box(
            rx.image(
                src=after_url,
                alt=after_alt,
                width="100%",
                height="100%",
                object_fit=fit,
                position="absolute",
                inset="0",
                class_name="after-image",
            ),
            rx.box(
                rx.image(
                    src=before_url,
                    alt=before_alt,
                    width="100%",
                    height="100%",
                    object_fit=fit,
                    class_name="before-image",
                ),
                position="absolute",
                inset="0",
                style={**CHECKERBOARD, "clipPath": f"inset(0 calc(100% - {at}%) 0 0)"},
                class_name="before-layer",
            ),
            rx.box(
                position="absolute",
                top="0",
                bottom="0",
                left=f"{at}%",
                width="2px",
                background="white",
                box_shadow="0 0 4px rgba(0,0,0,0.5)",
            ),
            rx.badge("Before", position="absolute", top="8px", left="8px", variant="solid"),
            rx.badge(
                "After",
                position="absolute",
                top="8px",
                right="8px",
                variant="solid",
                color_scheme=ACCENT,
            ),
            position="relative",
            width="100%",
            overflow="hidden",
            border_radius="10px",
            background=rx.color("gray", 3),
            **frame,
        ),
        # A native range input: Radix Themes' slider gives its thumb (the control a screen
        # reader reaches) no name, whatever the root is called.
        rx.el.input(
            type="range",
            min=0,
            max=100,
            value=at,
            on_change=lambda value: on_change(rx.Var(f"[Number({value!s})]").to(list[int])),
            aria_label="Before and after: how much of the product photo shows",
            class_name="compare-slider",
            style={"width": "100%", "accentColor": "var(--violet-9)"},
        ),
        spacing="2",
        width="100%",
        class_name="before-after",
    )
