"""The studio's photo inputs: product angles with their order, the scene photo, and the ways
a photo gets in (click, drop, paste, camera: see state/photo_capture.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx
from reflex.vars import NumberVar, ObjectVar
from reflex_components_core.el.elements.forms import Input

from stylestudio.components.layout import ACCENT
from stylestudio.services.generation import generations
from stylestudio.services.generation.generations import InputPhoto
from stylestudio.services.library import upload_library
from stylestudio.services.library.upload_library import RecentUpload
from stylestudio.services.media import media

ACCEPT = {
    "image/jpeg": [".jpg", ".jpeg"],
    "image/png": [".png"],
    "image/webp": [".webp"],
    "image/heic": [".heic"],
    "image/heif": [".heif"],
}


def field_label(text: str, html_for: str) -> rx.Component:
    return rx.el.label(text, html_for=html_for, style={"fontWeight": "600", "fontSize": "14px"})


def photo(url: rx.Var, placeholder: rx.Var, alt: rx.Var | str, size: str = "88px") -> rx.Component:
    """A thumbnail over its blurred inline placeholder (shown until the image arrives)."""
    return rx.box(
        rx.box(
            position="absolute",
            inset="-8px",
            background_image=rx.cond(placeholder != "", f"url({placeholder})", "none"),
            background_size="cover",
            background_position="center",
            filter="blur(8px)",
        ),
        rx.image(
            src=url,
            alt=alt,
            width="100%",
            height="100%",
            object_fit="cover",
            position="relative",
            loading="lazy",
        ),
        position="relative",
        overflow="hidden",
        width=size,
        height=size,
        border_radius="10px",
        background=rx.color("gray", 3),
        flex_shrink="0",
    )


def _icon_button(icon: str, label: str, on_click: Any) -> rx.Component:
    return rx.tooltip(
        rx.icon_button(
            rx.icon(icon, size=14),
            size="1",
            variant="soft",
            color_scheme="gray",
            aria_label=label,
            on_click=on_click,
        ),
        content=label,
    )


def _product_tile(
    item: ObjectVar[InputPhoto], index: NumberVar[int], count: NumberVar[int], state: Any
) -> rx.Component:
    return rx.vstack(
        rx.box(
            photo(item.url, item.placeholder, item.name.to(str), size="100%"),
            rx.cond(
                index == 0,
                rx.badge(
                    rx.icon("star", size=11),
                    "Primary",
                    position="absolute",
                    top="6px",
                    left="6px",
                    variant="solid",
                    color_scheme=ACCENT,
                    class_name="primary-badge",
                ),
            ),
            position="relative",
            width="100%",
            aspect_ratio="1",
        ),
        rx.text(item.name, size="1", trim="both", width="100%", truncate=True),
        rx.hstack(
            rx.cond(
                index > 0,
                _icon_button("star", "Make primary", state.make_primary(item.id)),
            ),
            rx.cond(
                index > 0,
                _icon_button("chevron-left", "Move left", state.move_product(item.id, -1)),
            ),
            rx.cond(
                index < count - 1,
                _icon_button("chevron-right", "Move right", state.move_product(item.id, 1)),
            ),
            _icon_button("x", "Remove", state.remove_product(item.id)),
            spacing="1",
        ),
        spacing="1",
        width="100%",
        class_name="product-photo",
        data_image=item.id,
        align="start",
    )


def dropzone(
    upload_id: str,
    handler: Callable[..., Any],
    state: Any,
    content: rx.Component,
    *,
    label: str,
    multiple: bool,
) -> rx.Component:
    root = rx.upload.root(
        content,
        id=upload_id,
        multiple=multiple,
        max_files=generations.MAX_PRODUCT_IMAGES if multiple else 1,
        # The browser refuses these before sending; the server checks again.
        accept=ACCEPT,
        max_size=media.MAX_UPLOAD_BYTES,
        on_drop=handler(
            rx.upload_files(upload_id=upload_id, on_upload_progress=state.upload_progress)
        ),
        # Only react-dropzone's error codes go to the server: the rejected File objects
        # would otherwise travel over the websocket as binary attachments.
        on_drop_rejected=lambda rejections: state.reject_upload(
            rx.Var(f"{rejections!s}.flatMap((r) => r.errors.map((e) => e.code))").to(list[str])
        ),
        border=f"1.5px dashed {rx.color(ACCENT, 7)}",
        border_radius="12px",
        padding="14px",
        width="100%",
        cursor="pointer",
        background=rx.color(ACCENT, 2),
        aria_label=label,
    )
    # react-dropzone's hidden <input type=file> takes no props from rx.upload: name it too
    # (the zone, which has the name, holds it first: Upload > zone > input).
    file_input = root.children[0].children[0]
    assert isinstance(file_input, Input), file_input
    file_input.custom_attrs["aria-label"] = label
    return root


def product_photos(state: Any) -> rx.Component:
    """Up to four angles in order (the first is the primary one), and where to add more."""
    return rx.vstack(
        rx.hstack(
            rx.text("Product photos", size="2", weight="bold"),
            rx.spacer(),
            rx.text(
                state.products.length(),
                f" of {generations.MAX_PRODUCT_IMAGES}",
                size="1",
                color=rx.color("gray", 11),
            ),
            width="100%",
            align="center",
        ),
        rx.cond(
            state.products.length() > 0,
            rx.grid(
                rx.foreach(
                    state.products,
                    lambda item, index: _product_tile(item, index, state.products.length(), state),
                ),
                columns="4",
                spacing="2",
                width="100%",
                id="product-photos",
            ),
        ),
        rx.cond(
            state.product_slots_left > 0,
            dropzone(
                "product",
                state.upload_product,
                state,
                rx.vstack(
                    rx.icon("image-up", size=24, color=rx.color(ACCENT, 9)),
                    rx.text(
                        rx.cond(
                            state.products.length() > 0,
                            "Add another angle: drop, click or paste",
                            "Drop product photos, click to choose, or paste",
                        ),
                        weight="medium",
                        size="2",
                    ),
                    rx.text(
                        "JPEG, PNG, WebP or HEIC, up to 10 MB each; the first is the primary",
                        size="1",
                        color=rx.color("gray", 11),
                    ),
                    align="center",
                    spacing="1",
                ),
                label="Product photos",
                multiple=True,
            ),
        ),
        rx.hstack(
            rx.button(
                rx.icon("camera", size=15),
                "Take photo",
                variant="soft",
                size="2",
                on_click=state.open_camera,
                disabled=state.product_slots_left <= 0,
                id="take-photo",
            ),
            rx.cond(
                state.uploading,
                rx.hstack(
                    rx.progress(value=state.upload_percent, max=100, width="140px"),
                    rx.text(
                        rx.cond(
                            state.upload_percent < 100,
                            state.upload_percent.to_string() + "%",
                            "Processing…",
                        ),
                        size="1",
                        color=rx.color("gray", 11),
                    ),
                    align="center",
                    spacing="2",
                    id="upload-progress",
                ),
            ),
            align="center",
            spacing="3",
            width="100%",
        ),
        _camera_dialog(state),
        spacing="2",
        width="100%",
        align="start",
    )


def _recent_tile(item: ObjectVar[RecentUpload], state: Any) -> rx.Component:
    in_use = state.photo_ids_in_use.contains(item.id)
    is_scene = item.kind == "scene"
    return rx.box(
        rx.el.button(
            photo(item.url, item.placeholder, item.name, size="72px"),
            rx.cond(
                is_scene,
                rx.badge(
                    "Scene",
                    size="1",
                    variant="solid",
                    color_scheme="gray",
                    position="absolute",
                    bottom="4px",
                    left="4px",
                ),
            ),
            rx.cond(
                in_use,
                rx.center(
                    rx.icon("check", size=12, color="white"),
                    position="absolute",
                    top="4px",
                    left="4px",
                    width="18px",
                    height="18px",
                    border_radius="999px",
                    background=rx.color(ACCENT, 9),
                ),
            ),
            type="button",
            title=item.name,
            aria_label=rx.cond(
                is_scene,
                f"Use {item.name} as the scene",
                f"Add {item.name} as a product angle",
            )
            + rx.cond(in_use, " (in the studio now)", ""),
            data_in_use=rx.cond(in_use, "true", "false"),
            on_click=state.use_recent(item.id),
            class_name="recent-upload-pick",
            style={
                "position": "relative",
                "padding": "0",
                "border": "none",
                "background": "none",
                "cursor": "pointer",
                "borderRadius": "10px",
                "display": "block",
            },
        ),
        rx.icon_button(
            rx.icon("x", size=11),
            size="1",
            variant="solid",
            color_scheme="gray",
            radius="full",
            aria_label=f"Remove {item.name} from recent uploads",
            title="Remove from recent uploads",
            on_click=state.remove_recent(item.id),
            position="absolute",
            top="-6px",
            right="-6px",
            width="20px",
            height="20px",
            class_name="recent-upload-remove",
        ),
        position="relative",
        flex_shrink="0",
        role="listitem",
        class_name="recent-upload",
        data_image=item.id,
        data_kind=item.kind,
    )


def recent_uploads(state: Any) -> rx.Component:
    """The user's recent uploads (any tab, any device): a click puts one back in."""
    return rx.cond(
        state.recent.length() > 0,
        rx.vstack(
            rx.hstack(
                rx.text("Recent uploads", weight="bold", size="2", id="recent-uploads-label"),
                rx.spacer(),
                rx.text(
                    f"Last {upload_library.RECENT_DAYS} days; click one to use it again",
                    size="1",
                    color=rx.color("gray", 11),
                ),
                width="100%",
                align="center",
            ),
            rx.hstack(
                rx.foreach(state.recent, lambda item: _recent_tile(item, state)),
                spacing="3",
                width="100%",
                overflow_x="auto",
                padding="8px 6px 6px 2px",
                role="list",
                aria_labelledby="recent-uploads-label",
            ),
            spacing="1",
            width="100%",
            align="start",
            id="recent-uploads",
        ),
    )


def scene_photo(state: Any) -> rx.Component:
    return rx.vstack(
        rx.text("Model or scene photo", size="2", weight="bold"),
        dropzone(
            "model",
            state.upload_model,
            state,
            rx.cond(
                state.model_preview_url != "",
                rx.hstack(
                    photo(state.model_preview_url, state.model_placeholder, "Model or scene"),
                    rx.vstack(
                        rx.text(state.model_filename, weight="medium", size="2", trim="both"),
                        rx.text("Click or drop to replace", size="1", color=rx.color("gray", 11)),
                        spacing="1",
                        align="start",
                    ),
                    align="center",
                    spacing="3",
                    width="100%",
                ),
                rx.vstack(
                    rx.icon("user-round", size=22, color=rx.color(ACCENT, 9)),
                    rx.text("Drop or click to add a model or scene", weight="medium", size="2"),
                    rx.text(
                        "Optional: where to place the product",
                        size="1",
                        color=rx.color("gray", 11),
                    ),
                    align="center",
                    spacing="1",
                ),
            ),
            label="Model or scene photo",
            multiple=False,
        ),
        rx.cond(
            state.model_image_id > 0,
            rx.button(
                "Remove model image",
                variant="ghost",
                size="1",
                color_scheme="gray",
                on_click=state.clear_model_image,
            ),
        ),
        spacing="2",
        width="100%",
        align="start",
    )


def _camera_dialog(state: Any) -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Take a photo"),
            rx.dialog.description(
                "Frame the product, then press Capture.", size="2", color=rx.color("gray", 11)
            ),
            rx.el.video(
                id="camera-preview",
                auto_play=True,
                plays_inline=True,
                muted=True,
                style={
                    "width": "100%",
                    "borderRadius": "10px",
                    "background": "#111",
                    "marginTop": "12px",
                    "aspectRatio": "16 / 9",
                },
            ),
            rx.hstack(
                rx.button(
                    "Cancel", variant="soft", color_scheme="gray", on_click=state.close_camera
                ),
                rx.button(rx.icon("aperture", size=15), "Capture", on_click=state.capture_photo),
                justify="end",
                spacing="3",
                margin_top="14px",
            ),
            max_width="640px",
        ),
        open=state.camera_open,
        on_open_change=state.camera_dialog_changed,
    )
