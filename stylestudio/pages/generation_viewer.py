"""The viewer of one generation (a dialog on /gallery): every variation full size (arrow
keys, swipes, the strip of thumbnails), before/after against the product photo, `Download`
for each image and `Download all` (a zip), the prompt and the settings. Escape closes it."""

from __future__ import annotations

from typing import cast

import reflex as rx
from reflex.vars import ArrayVar, ObjectVar

from stylestudio.components.before_after import before_after
from stylestudio.components.layout import ACCENT
from stylestudio.components.local_time import local_time
from stylestudio.services.generation.generation_viewer import GenerationViewer, ViewerImage
from stylestudio.state.generation_viewer import ViewerState

STAGE_HEIGHT = "min(62vh, 560px)"


def _viewer() -> ObjectVar[GenerationViewer]:
    # Reflex types a dataclass field read on the class loosely; it is an ObjectVar.
    return cast(ObjectVar[GenerationViewer], ViewerState.viewer)


def _images() -> ArrayVar[list[ViewerImage]]:
    return cast(ArrayVar[list[ViewerImage]], _viewer().images)


def _current() -> ObjectVar[ViewerImage]:
    return cast(ObjectVar[ViewerImage], _images()[ViewerState.index])


def _full_image(image: ObjectVar[ViewerImage], i: rx.Var[int]) -> rx.Component:
    return rx.image(
        src=image.url,
        alt=image.alt,
        width="100%",
        height="100%",
        object_fit="contain",
        draggable=False,
        display=rx.cond(i == ViewerState.index, "block", "none"),
        class_name="viewer-image",
        data_number=image.number,
        data_current=rx.cond(i == ViewerState.index, "true", "false"),
    )


def _step_button(label: str, icon: str, by: int, element_id: str, side: str) -> rx.Component:
    return rx.icon_button(
        rx.icon(icon, size=20),
        on_click=ViewerState.step(by),
        aria_label=label,
        title=label,
        id=element_id,
        variant="solid",
        color_scheme="gray",
        high_contrast=True,
        radius="full",
        size="3",
        position="absolute",
        top="50%",
        transform="translateY(-50%)",
        opacity="0.85",
        **{side: "10px"},
    )


def _stage() -> rx.Component:
    viewer = _viewer()
    return rx.cond(
        ViewerState.comparing & (viewer.before_url != ""),
        before_after(
            before_url=viewer.before_url,
            after_url=_current().url,
            before_alt=viewer.before_alt,
            after_alt=_current().alt,
            at=ViewerState.compare_at,
            on_change=ViewerState.set_compare_at,
            fit="contain",
            height=STAGE_HEIGHT,
        ),
        rx.box(
            rx.foreach(_images(), _full_image),
            rx.cond(
                ViewerState.image_count > 1,
                rx.fragment(
                    _step_button("Previous image", "chevron-left", -1, "viewer-previous", "left"),
                    _step_button("Next image", "chevron-right", 1, "viewer-next", "right"),
                ),
            ),
            id="viewer-stage",
            position="relative",
            width="100%",
            height=STAGE_HEIGHT,
            border_radius="10px",
            overflow="hidden",
            background=rx.color("gray", 3),
            style={"touchAction": "pan-y", "userSelect": "none"},
        ),
    )


def _thumbnail(image: ObjectVar[ViewerImage], i: rx.Var[int]) -> rx.Component:
    chosen = i == ViewerState.index
    return rx.el.button(
        rx.image(
            src=image.thumb_url,
            alt="",
            width="72px",
            height="72px",
            object_fit="cover",
            border_radius="8px",
            draggable=False,
        ),
        on_click=ViewerState.show(i),
        aria_label="Show image " + image.number.to_string(),
        aria_pressed=rx.cond(chosen, "true", "false"),
        class_name="viewer-thumb",
        style={
            "padding": "2px",
            "borderRadius": "10px",
            "cursor": "pointer",
            "background": "transparent",
            "border": rx.cond(
                chosen, f"2px solid {rx.color(ACCENT, 9)}", f"2px solid {rx.color('gray', 4)}"
            ),
        },
    )


def _link_button(
    label: rx.Var | str, icon: str, href: rx.Var | str, file_name: rx.Var | str, **props: object
) -> rx.Component:
    """A download link that looks like a button (one element, named by its text)."""
    return rx.button(
        rx.el.a(
            rx.icon(icon, size=14),
            label,
            href=href,
            download=file_name,
            style={"display": "inline-flex", "alignItems": "center", "gap": "6px"},
        ),
        as_child=True,
        size="2",
        **props,
    )


def _setting(label: str, value: rx.Var | str | rx.Component) -> rx.Component:
    return rx.hstack(
        rx.text(label, size="1", color=rx.color("gray", 10), width="96px", flex_shrink="0"),
        rx.text(value, size="2") if not isinstance(value, rx.Component) else value,
        spacing="2",
        align="baseline",
        width="100%",
    )


def _details() -> rx.Component:
    viewer = _viewer()
    return rx.vstack(
        rx.cond(
            viewer.prompt != "",
            rx.text(viewer.prompt, size="2", id="viewer-prompt", style={"whiteSpace": "pre-wrap"}),
            rx.text("No prompt: the style alone.", size="2", color=rx.color("gray", 10)),
        ),
        rx.grid(
            _setting("Style", viewer.style),
            _setting("Quality", viewer.quality),
            _setting("Aspect ratio", viewer.aspect_ratio),
            _setting("Model", viewer.model),
            _setting("Seed", _current().seed.to_string()),
            _setting("Variations", viewer.variations.to_string()),
            _setting("Credits", viewer.credits_used.to_string()),
            _setting("Created", local_time(viewer.created_at)),
            rx.cond(viewer.negative_prompt != "", _setting("Avoid", viewer.negative_prompt)),
            columns=rx.breakpoints(initial="1", sm="2"),
            spacing_x="4",
            spacing_y="1",
            width="100%",
            id="viewer-settings",
        ),
        spacing="3",
        width="100%",
    )


def _actions() -> rx.Component:
    viewer = _viewer()
    return rx.flex(
        _link_button(
            "Download",
            "download",
            _current().download_url,
            _current().file_name,
            variant="soft",
            id="viewer-download",
        ),
        rx.cond(
            viewer.zip_url != "",
            _link_button(
                "Download all (zip)",
                "folder-down",
                viewer.zip_url,
                "",
                variant="soft",
                color_scheme="gray",
                id="viewer-download-all",
            ),
        ),
        rx.cond(
            viewer.before_url != "",
            rx.button(
                rx.icon("columns-2", size=14),
                rx.cond(ViewerState.comparing, "Show the result", "Compare with the photo"),
                size="2",
                variant="soft",
                color_scheme="gray",
                aria_pressed=rx.cond(ViewerState.comparing, "true", "false"),
                on_click=ViewerState.set_comparing(~ViewerState.comparing),
                id="viewer-compare",
            ),
        ),
        rx.spacer(),
        rx.dialog.close(rx.button("Close", variant="soft", color_scheme="gray", size="2")),
        wrap="wrap",
        gap="8px",
        width="100%",
        align="center",
    )


def generation_viewer() -> rx.Component:
    viewer = _viewer()
    return rx.dialog.root(
        rx.dialog.content(
            rx.vstack(
                rx.hstack(
                    rx.dialog.title(
                        rx.cond(viewer.style != "", viewer.style, "Your image"),
                        size="5",
                        margin="0",
                    ),
                    rx.text(ViewerState.position_label, size="2", color=rx.color("gray", 11)),
                    rx.spacer(),
                    rx.cond(ViewerState.loading, rx.spinner(size="2")),
                    width="100%",
                    align="center",
                ),
                rx.dialog.description(
                    "Arrow keys or a swipe move between the images; Escape closes.",
                    size="1",
                    color=rx.color("gray", 10),
                ),
                rx.cond(
                    ViewerState.error != "",
                    rx.callout(
                        ViewerState.error,
                        icon="triangle-alert",
                        color_scheme="red",
                        width="100%",
                    ),
                ),
                rx.cond(
                    ViewerState.image_count > 0,
                    rx.vstack(
                        _stage(),
                        rx.cond(
                            ViewerState.image_count > 1,
                            rx.hstack(
                                rx.foreach(_images(), _thumbnail),
                                spacing="2",
                                wrap="wrap",
                                id="viewer-thumbs",
                            ),
                        ),
                        _actions(),
                        _details(),
                        spacing="3",
                        width="100%",
                    ),
                    rx.cond(
                        ViewerState.loading,
                        rx.center(rx.spinner(size="3"), height=STAGE_HEIGHT, width="100%"),
                    ),
                ),
                spacing="3",
                width="100%",
            ),
            max_width="960px",
            width="100%",
            padding=rx.breakpoints(initial="12px", sm="20px"),
            id="generation-viewer",
        ),
        open=ViewerState.viewer_open,
        on_open_change=ViewerState.set_viewer_open,
    )
