"""/upload: the studio."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import reflex as rx
from reflex.vars import ObjectVar

from stylestudio.components.generation import cancel_button, result_frame, status_badge
from stylestudio.components.layout import ACCENT, card, page_header, page_shell
from stylestudio.services import media, pricing
from stylestudio.state.studio import StudioState

ASPECT_RATIOS = list(pricing.ASPECT_RATIO_MULTIPLIERS)


def _label(text: str, html_for: str) -> rx.Component:
    return rx.el.label(text, html_for=html_for, style={"fontWeight": "600", "fontSize": "14px"})


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


def _dropzone(
    upload_id: str,
    label: str,
    hint: str,
    preview: rx.Var,
    filename: rx.Var,
    handler: Callable[..., Any],
) -> rx.Component:
    return rx.vstack(
        _label(label, f"{upload_id}-input"),
        rx.upload.root(
            rx.cond(
                preview != "",
                rx.hstack(
                    rx.image(
                        src=preview,
                        alt=label,
                        width="88px",
                        height="88px",
                        object_fit="cover",
                        border_radius="10px",
                    ),
                    rx.vstack(
                        rx.text(filename, weight="medium", size="2", trim="both"),
                        rx.text("Click or drop to replace", size="1", color=rx.color("gray", 10)),
                        spacing="1",
                        align="start",
                    ),
                    align="center",
                    spacing="3",
                    width="100%",
                ),
                rx.vstack(
                    rx.icon("image-up", size=26, color=rx.color(ACCENT, 9)),
                    rx.text("Drop an image or click to choose", weight="medium", size="2"),
                    rx.text(hint, size="1", color=rx.color("gray", 10)),
                    align="center",
                    spacing="1",
                ),
            ),
            id=upload_id,
            multiple=False,
            max_files=1,
            # The browser refuses these before sending; the server checks again.
            accept={
                "image/jpeg": [".jpg", ".jpeg"],
                "image/png": [".png"],
                "image/webp": [".webp"],
            },
            max_size=media.MAX_UPLOAD_BYTES,
            on_drop=handler(rx.upload_files(upload_id=upload_id)),
            # Only react-dropzone's error codes go to the server: the rejected File objects
            # would otherwise travel over the websocket as binary attachments.
            on_drop_rejected=lambda rejections: StudioState.reject_upload(
                rx.Var(f"{rejections!s}.flatMap((r) => r.errors.map((e) => e.code))").to(list[str])
            ),
            border=f"1.5px dashed {rx.color(ACCENT, 7)}",
            border_radius="12px",
            padding="18px",
            width="100%",
            cursor="pointer",
            background=rx.color(ACCENT, 2),
            aria_label=label,
        ),
        spacing="2",
        width="100%",
        align="start",
    )


def _options_panel() -> rx.Component:
    return card(
        rx.vstack(
            _dropzone(
                "product",
                "Product image",
                "JPEG, PNG or WebP, up to 10 MB",
                StudioState.product_preview_url,
                StudioState.product_filename,
                StudioState.upload_product,
            ),
            _dropzone(
                "model",
                "Model image",
                "Optional: a model or scene to place it in",
                StudioState.model_preview_url,
                StudioState.model_filename,
                StudioState.upload_model,
            ),
            rx.cond(
                StudioState.model_image_id > 0,
                rx.button(
                    "Remove model image",
                    variant="ghost",
                    size="1",
                    color_scheme="gray",
                    on_click=StudioState.clear_model_image,
                ),
            ),
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
            rx.vstack(
                _label("Prompt", "prompt"),
                rx.text_area(
                    id="prompt",
                    value=StudioState.prompt,
                    on_change=StudioState.set_prompt,
                    width="100%",
                    rows="3",
                    placeholder="A leather handbag on a marble table, morning light",
                ),
                spacing="2",
                width="100%",
                align="start",
            ),
            rx.grid(
                rx.vstack(
                    _label("Style", "style"),
                    _select(
                        "style",
                        StudioState.style,
                        StudioState.set_style,
                        [(k, p.label) for k, p in pricing.STYLE_PRESETS.items()],
                    ),
                    spacing="2",
                    align="start",
                ),
                rx.vstack(
                    _label("Quality", "quality"),
                    _select(
                        "quality",
                        StudioState.quality,
                        StudioState.set_quality,
                        list(pricing.QUALITY_LABELS.items()),
                    ),
                    spacing="2",
                    align="start",
                ),
                rx.vstack(
                    _label("Aspect ratio", "aspect_ratio"),
                    _select(
                        "aspect_ratio",
                        StudioState.aspect_ratio,
                        StudioState.set_aspect_ratio,
                        [(r, r) for r in ASPECT_RATIOS],
                    ),
                    spacing="2",
                    align="start",
                ),
                columns="3",
                spacing="3",
                width="100%",
            ),
            rx.separator(),
            rx.hstack(
                rx.vstack(
                    rx.text("Cost", size="1", color=rx.color("gray", 10)),
                    rx.text(StudioState.cost_label, id="generation-cost", size="5", weight="bold"),
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
    )


def _result_panel() -> rx.Component:
    # Reflex types a dict field read on the class as ArrayVar[Never]; it is an ObjectVar.
    current = cast(ObjectVar[dict[str, Any]], StudioState.current)
    return card(
        rx.cond(
            current.contains("id"),
            rx.vstack(
                rx.hstack(
                    rx.heading("Result", size="4"),
                    rx.spacer(),
                    cancel_button(
                        current, StudioState.cancel_current, StudioState.cancelling, size="2"
                    ),
                    status_badge(current["status"], current["status_label"]),
                    width="100%",
                    align="center",
                ),
                result_frame(current, height="420px"),
                rx.cond(
                    current["error"] != "",
                    rx.callout(
                        current["error"], icon="triangle-alert", color_scheme="red", width="100%"
                    ),
                ),
                rx.cond(
                    current["status"] == "completed",
                    rx.hstack(
                        rx.text(
                            current["style"],
                            " · ",
                            current["quality"],
                            " · ",
                            current["aspect_ratio"],
                            " · ",
                            current["processing_seconds"],
                            size="2",
                            color=rx.color("gray", 11),
                        ),
                        rx.spacer(),
                        rx.link(
                            "Open full size", href=current["result_url"], is_external=True, size="2"
                        ),
                        rx.link("Gallery →", href="/gallery", size="2"),
                        width="100%",
                        spacing="3",
                    ),
                ),
                spacing="4",
                width="100%",
            ),
            rx.center(
                rx.vstack(
                    rx.icon("wand-sparkles", size=36, color=rx.color(ACCENT, 8)),
                    rx.heading("Your result appears here", size="4"),
                    rx.text(
                        "Upload a product photo, pick a style and press Generate.",
                        color=rx.color("gray", 11),
                        size="2",
                        text_align="center",
                    ),
                    align="center",
                    spacing="2",
                ),
                height="100%",
                min_height="460px",
            ),
        ),
        height="100%",
    )


def studio_page() -> rx.Component:
    return page_shell(
        page_header("Studio", "Turn a product photo into a styled shot."),
        rx.grid(
            _options_panel(),
            _result_panel(),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="5",
            width="100%",
        ),
    )
