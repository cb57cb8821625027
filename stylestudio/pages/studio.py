"""/upload: the studio."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx

from stylestudio.components.layout import ACCENT, card, page_header, page_shell
from stylestudio.components.studio_inputs import (
    field_label,
    product_photos,
    recent_uploads,
    scene_photo,
)
from stylestudio.components.studio_results import results_panel
from stylestudio.services.billing import pricing
from stylestudio.state.studio import StudioState

ASPECT_RATIOS = list(pricing.ASPECT_RATIO_MULTIPLIERS)


def _select(
    field_id: str, value: rx.Var, on_change: Callable[..., Any], options: list[tuple[str, str]]
) -> rx.Component:
    return rx.el.select(
        *[rx.el.option(label, value=key) for key, label in options],
        id=field_id,
        value=value,
        on_change=on_change,
        class_name="ss-select",
    )


def _control(label: str, field_id: str, control: rx.Component) -> rx.Component:
    return rx.vstack(
        field_label(label, field_id), control, spacing="2", align="start", width="100%"
    )


def _more_styles() -> rx.Component:
    """Under the style choice: the same photos in other styles at once (a batch)."""
    return rx.vstack(
        rx.text("More styles", size="1", weight="medium", color=rx.color("gray", 11)),
        rx.flex(
            *[
                rx.cond(
                    StudioState.style != key,
                    rx.el.label(
                        rx.checkbox(
                            checked=StudioState.more_styles.contains(key),
                            on_change=lambda checked, key=key: StudioState.toggle_more_style(
                                key, checked
                            ),
                            id=f"more-style-{key}",
                            aria_label=preset.label,
                        ),
                        rx.text(preset.label, size="2"),
                        style={"display": "flex", "gap": "6px", "alignItems": "center"},
                    ),
                )
                for key, preset in pricing.STYLE_PRESETS.items()
            ],
            wrap="wrap",
            gap="12px",
        ),
        spacing="1",
        width="100%",
        align="start",
        id="more-styles",
    )


def _options_panel() -> rx.Component:
    return card(
        rx.vstack(
            product_photos(StudioState),
            recent_uploads(StudioState),
            rx.cond(
                StudioState.reads_one_product & (StudioState.products.length() > 1),
                rx.text(
                    "This model reads the primary photo only.",
                    size="1",
                    color=rx.color("amber", 11),
                ),
            ),
            scene_photo(StudioState),
            rx.cond(
                StudioState.upload_error != "",
                rx.callout(
                    StudioState.upload_error,
                    icon="circle-alert",
                    color_scheme="red",
                    role="alert",
                    width="100%",
                    id="upload-error",
                ),
            ),
            _control(
                "Prompt",
                "prompt",
                rx.text_area(
                    id="prompt",
                    value=StudioState.prompt,
                    on_change=StudioState.set_prompt,
                    width="100%",
                    rows="3",
                    placeholder="A leather handbag on a marble table, morning light",
                ),
            ),
            rx.cond(
                StudioState.show_negative_prompt,
                _control(
                    "Negative prompt",
                    "negative_prompt",
                    rx.text_area(
                        id="negative_prompt",
                        value=StudioState.negative_prompt,
                        on_change=StudioState.set_negative_prompt,
                        width="100%",
                        rows="2",
                        placeholder="What to leave out: clutter, text, harsh shadows",
                    ),
                ),
            ),
            rx.vstack(
                _control(
                    "Style",
                    "style",
                    _select(
                        "style",
                        StudioState.style,
                        StudioState.set_style,
                        [(k, p.label) for k, p in pricing.STYLE_PRESETS.items()],
                    ),
                ),
                _more_styles(),
                spacing="2",
                width="100%",
                align="start",
            ),
            rx.grid(
                _control(
                    "Quality",
                    "quality",
                    _select(
                        "quality",
                        StudioState.quality,
                        StudioState.set_quality,
                        list(pricing.QUALITY_LABELS.items()),
                    ),
                ),
                _control(
                    "Aspect ratio",
                    "aspect_ratio",
                    _select(
                        "aspect_ratio",
                        StudioState.aspect_ratio,
                        StudioState.set_aspect_ratio,
                        [(r, r) for r in ASPECT_RATIOS],
                    ),
                ),
                _control(
                    "Model",
                    "model",
                    rx.el.select(
                        rx.foreach(
                            StudioState.model_options,
                            lambda m: rx.el.option(m.label, value=m.key),
                        ),
                        id="model",
                        value=StudioState.model,
                        on_change=StudioState.set_model,
                        class_name="ss-select",
                    ),
                ),
                rx.cond(
                    StudioState.show_variations,
                    _control(
                        "Variations",
                        "variations",
                        rx.el.select(
                            rx.foreach(
                                StudioState.variation_choices,
                                lambda n: rx.el.option(n, value=n),
                            ),
                            id="variations",
                            value=StudioState.variations.to_string(),
                            on_change=StudioState.set_variations,
                            class_name="ss-select",
                        ),
                    ),
                ),
                rx.cond(
                    StudioState.show_seed,
                    _control(
                        "Seed",
                        "seed",
                        rx.input(
                            id="seed",
                            value=StudioState.seed_text,
                            on_change=StudioState.set_seed_text,
                            placeholder="Random",
                            input_mode="numeric",
                            width="100%",
                        ),
                    ),
                ),
                columns=rx.breakpoints(initial="2", sm="3"),
                spacing="3",
                width="100%",
            ),
            rx.separator(),
            rx.hstack(
                rx.vstack(
                    rx.text("Cost", size="1", color=rx.color("gray", 11)),
                    rx.text(StudioState.cost_label, id="generation-cost", size="5", weight="bold"),
                    rx.text(
                        StudioState.cost_breakdown,
                        id="cost-breakdown",
                        size="1",
                        color=rx.color("gray", 11),
                    ),
                    spacing="0",
                    align="start",
                ),
                rx.spacer(),
                rx.button(
                    rx.cond(StudioState.submitting, rx.spinner(size="2"), rx.icon("sparkles")),
                    "Generate",
                    size="3",
                    color_scheme=ACCENT,
                    on_click=StudioState.generate,
                    disabled=~StudioState.can_generate,
                    id="generate-button",
                ),
                width="100%",
                align="center",
            ),
            rx.cond(
                StudioState.generate_error != "",
                # callout.root + callout.text: a plain callout wraps its child in a <p>, and
                # a <p> inside a <p> is a hydration error.
                rx.callout.root(
                    rx.callout.icon(rx.icon("circle-alert")),
                    rx.callout.text(
                        StudioState.generate_error,
                        rx.cond(
                            StudioState.needs_credits,
                            rx.link(" Buy credits →", href="/credits", weight="bold"),
                        ),
                    ),
                    color_scheme="red",
                    role="alert",
                    width="100%",
                    id="generate-error",
                ),
            ),
            spacing="4",
            width="100%",
        ),
        id="studio-options",
    )


def studio_page() -> rx.Component:
    return page_shell(
        page_header(
            "Studio", "Turn product photos into styled shots: several angles, several styles."
        ),
        rx.grid(
            _options_panel(),
            results_panel(StudioState),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="5",
            width="100%",
            align_items="start",
        ),
    )
