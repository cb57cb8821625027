"""The studio's results: one card per generation (a style of the batch), its variations side
by side, a before/after comparison with the primary product photo, and per result
`Download`, `Use these settings` and `Regenerate`."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from stylestudio.components.before_after import before_after
from stylestudio.components.generation import result_alt, status_badge
from stylestudio.components.layout import ACCENT, card
from stylestudio.components.link_button import link_button
from stylestudio.components.studio_inputs import photo
from stylestudio.services.generation.generation_views import GenerationView, ResultImageView


def _result_image(
    generation: ObjectVar[GenerationView], image: ObjectVar[ResultImageView], state: Any
) -> rx.Component:
    return rx.vstack(
        rx.link(
            photo(image.thumb_url, image.placeholder, result_alt(generation), size="100%"),
            href=image.url,
            is_external=True,
            width="100%",
            aspect_ratio="1",
            display="block",
        ),
        rx.text("Seed ", image.seed.to_string(), size="1", color=rx.color("gray", 11)),
        rx.flex(
            link_button(
                rx.icon("download", size=13),
                "Download",
                href=image.download_url,
                is_external=True,
                size="1",
                variant="soft",
            ),
            rx.button(
                rx.icon("sliders-horizontal", size=13),
                "Use these settings",
                size="1",
                variant="soft",
                color_scheme="gray",
                on_click=state.use_settings(generation.id, image.seed),
            ),
            rx.button(
                rx.icon("refresh-cw", size=13),
                # Same photos and options again: what this generation cost.
                "Regenerate · " + generation.credits_used.to_string() + " cr",
                aria_label="Regenerate for " + generation.credits_used.to_string() + " credits",
                size="1",
                variant="soft",
                color_scheme="gray",
                on_click=state.regenerate(generation.id),
            ),
            wrap="wrap",
            gap="6px",
        ),
        spacing="2",
        width="100%",
        align="start",
        class_name="result-image",
        data_seed=image.seed,
    )


def _before_after(generation: ObjectVar[GenerationView], state: Any) -> rx.Component:
    """The first result over the primary product photo (never the scene)."""
    return before_after(
        before_url=generation.product_url,
        after_url=generation.result_url,
        before_alt="Your product photo",
        after_alt="The result",
        at=state.compare_at,
        on_change=state.set_compare_at,
    )


def _generation_result(generation: ObjectVar[GenerationView], state: Any) -> rx.Component:
    return card(
        rx.vstack(
            rx.hstack(
                rx.heading(generation.style, size="3", as_="h3", class_name="result-style"),
                rx.text(
                    generation.quality,
                    " · ",
                    generation.aspect_ratio,
                    " · ",
                    generation.credits_used.to_string(),
                    " cr",
                    size="1",
                    color=rx.color("gray", 11),
                ),
                rx.spacer(),
                rx.cond(
                    ~generation.is_terminal,
                    rx.button(
                        rx.icon("circle-stop", size=14),
                        "Cancel",
                        size="1",
                        variant="soft",
                        color_scheme="gray",
                        disabled=state.cancelling,
                        on_click=state.cancel_generation(generation.id),
                        class_name="cancel-generation",
                    ),
                ),
                status_badge(generation.status, generation.status_label),
                width="100%",
                align="center",
            ),
            rx.cond(
                generation.error != "",
                rx.callout(
                    generation.error, icon="triangle-alert", color_scheme="red", width="100%"
                ),
            ),
            rx.cond(
                generation.status == "completed",
                rx.vstack(
                    rx.grid(
                        rx.foreach(
                            generation.images,
                            lambda image: _result_image(generation, image, state),
                        ),
                        columns=rx.cond(generation.variations.to(int) > 1, "2", "1"),
                        spacing="3",
                        width="100%",
                    ),
                    rx.cond(
                        generation.product_url != "",
                        _before_after(generation, state),
                    ),
                    rx.text(generation.processing_seconds, size="1", color=rx.color("gray", 11)),
                    spacing="3",
                    width="100%",
                ),
                rx.cond(
                    ~generation.is_terminal,
                    rx.center(
                        rx.vstack(
                            rx.spinner(size="3"),
                            rx.text(generation.status_label, size="2", color=rx.color("gray", 11)),
                            align="center",
                        ),
                        height="180px",
                        width="100%",
                        background=f"linear-gradient(135deg, {rx.color('gray', 2)}, "
                        f"{rx.color('gray', 4)})",
                        border_radius="10px",
                    ),
                ),
            ),
            spacing="3",
            width="100%",
        ),
        padding="14px",
        class_name="studio-result",
        data_generation=generation.id,
        data_status=generation.status,
        width="100%",
    )


def results_panel(state: Any) -> rx.Component:
    return rx.cond(
        state.results.length() > 0,
        rx.vstack(
            rx.hstack(
                rx.heading("Results", size="4"),
                rx.spacer(),
                rx.link("Gallery →", href="/gallery", size="2"),
                width="100%",
                align="center",
            ),
            rx.foreach(
                state.results,
                lambda generation: _generation_result(generation, state),
            ),
            spacing="4",
            width="100%",
            id="studio-results",
        ),
        card(
            rx.center(
                rx.vstack(
                    rx.icon("wand-sparkles", size=36, color=rx.color(ACCENT, 8)),
                    rx.heading("Your results appear here", size="4"),
                    rx.text(
                        "Add product photos, pick one or more styles and press Generate.",
                        color=rx.color("gray", 11),
                        size="2",
                        text_align="center",
                    ),
                    align="center",
                    spacing="2",
                ),
                min_height="460px",
            ),
        ),
    )
