"""/gallery: a signed-in user's own generations (state: state/gallery.py)."""

from __future__ import annotations

from typing import cast

import reflex as rx
from reflex.vars import NumberVar, ObjectVar

from stylestudio.components.generation import generation_card
from stylestudio.components.layout import (
    ACCENT,
    CARD_GRID,
    empty_state,
    header_stat,
    page_header,
    page_shell,
    paged_grid,
)
from stylestudio.components.link_button import link_button
from stylestudio.components.skeleton import skeleton_block, skeleton_cards
from stylestudio.pages.gallery_controls import feature_dialog, filters_bar, share_dialog
from stylestudio.pages.generation_viewer import generation_viewer
from stylestudio.services.generation.generation_views import GenerationView
from stylestudio.services.library.stats import UserStats
from stylestudio.state.gallery import GalleryState
from stylestudio.state.generation_viewer import ViewerState

_FEATURE_COLORS = {
    "pending": "amber",
    "approved": "green",
    "rejected": "red",
    "taken_down": "red",
}


def _gallery_actions(item: ObjectVar[GenerationView]) -> rx.Component:
    """Under a finished card: where featuring stands, and what the owner can do."""
    image_id = item.image_id
    busy = GalleryState.acting == image_id
    return rx.cond(
        image_id != 0,
        rx.vstack(
            rx.cond(
                item.feature_label != "",
                rx.badge(
                    item.feature_label,
                    color_scheme=rx.match(item.moderation, *_FEATURE_COLORS.items(), "gray"),
                    variant="soft",
                    white_space="normal",
                    class_name="feature-state",
                    data_moderation=item.moderation,
                ),
            ),
            rx.hstack(
                rx.cond(
                    (item.moderation == "none") | (item.moderation == "rejected"),
                    rx.button(
                        rx.icon("star", size=14),
                        "Request featuring",
                        size="1",
                        variant="soft",
                        color_scheme=ACCENT,
                        disabled=busy,
                        on_click=GalleryState.ask_featuring(image_id),
                    ),
                ),
                link_button(
                    rx.icon("download", size=14),
                    "Download",
                    href=item.download_url,
                    # A backend route: a full page load, also on the page's own host.
                    link_props={"class_name": "download-link", "reload_document": True},
                    size="1",
                    variant="soft",
                    color_scheme="gray",
                ),
                _collections_menu(item, image_id),
                rx.cond(
                    GalleryState.confirm_delete == item.id,
                    rx.button(
                        rx.icon("trash-2", size=14),
                        "Confirm delete",
                        size="1",
                        color_scheme="red",
                        on_click=GalleryState.delete(item.id),
                    ),
                    rx.button(
                        rx.icon("trash-2", size=14),
                        "Delete",
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        on_click=GalleryState.ask_delete(item.id),
                    ),
                ),
                rx.button(
                    rx.icon("share-2", size=14),
                    "Share",
                    size="1",
                    variant="soft",
                    color_scheme="gray",
                    on_click=GalleryState.open_share(image_id),
                ),
                rx.cond(
                    (item.moderation == "pending") | (item.moderation == "approved"),
                    rx.button(
                        rx.cond(busy, rx.spinner(size="1"), rx.icon("eye-off", size=14)),
                        "Withdraw",
                        size="1",
                        variant="soft",
                        color_scheme="gray",
                        disabled=busy,
                        on_click=GalleryState.withdraw(image_id),
                    ),
                ),
                spacing="2",
                wrap="wrap",
            ),
            spacing="2",
            width="100%",
            align="start",
        ),
    )


def _collections_menu(item: ObjectVar[GenerationView], image_id: NumberVar[int]) -> rx.Component:
    return rx.dropdown_menu.root(
        rx.dropdown_menu.trigger(
            rx.button(
                rx.icon("folder-plus", size=14),
                "Collect",
                size="1",
                variant="soft",
                color_scheme="gray",
            ),
        ),
        rx.dropdown_menu.content(
            rx.cond(
                GalleryState.collections.length() > 0,
                rx.foreach(
                    GalleryState.collections,
                    lambda c: rx.dropdown_menu.item(
                        rx.hstack(
                            rx.cond(
                                item.in_collections.contains(c.id),
                                rx.icon("check", size=14),
                                rx.box(width="14px"),
                            ),
                            rx.text(c.name),
                            spacing="2",
                            align="center",
                        ),
                        on_select=GalleryState.toggle_collection(image_id, c.id),
                    ),
                ),
                rx.dropdown_menu.item(
                    "Create a collection first (above the gallery)", disabled=True
                ),
            ),
        ),
    )


def _stats() -> rx.Component:
    """The user's numbers (services.library.stats), in with the first page."""
    # Reflex types a dataclass field read on the class loosely; it is an ObjectVar.
    stats = cast(ObjectVar[UserStats], GalleryState.stats)
    return rx.cond(
        GalleryState.loaded,
        rx.hstack(
            header_stat(
                stats.generations.to_string(),
                rx.cond(stats.generations == 1, "generation", "generations"),
                "images",
            ),
            header_stat(
                stats.success_rate,
                "success",
                "circle-check",
                title="Completed, of the finished (completed, failed or cancelled) generations",
            ),
            header_stat(
                stats.credits_used.to_string(),
                rx.cond(stats.credits_used == 1, "credit used", "credits used"),
                "coins",
                title="Credits spent on generations and not refunded",
            ),
            spacing="4",
            wrap="wrap",
            align="center",
            id="gallery-stats",
        ),
        skeleton_block("24px", width="300px"),
    )


def gallery_page() -> rx.Component:
    return page_shell(
        page_header(
            "Your gallery",
            "Every image you have generated, newest first.",
            _stats(),
            link_button(rx.icon("plus"), "New generation", href="/upload", color_scheme=ACCENT),
        ),
        rx.cond(
            GalleryState.message != "",
            rx.callout(
                GalleryState.message,
                icon=rx.cond(GalleryState.message_failed, "triangle-alert", "info"),
                color_scheme=rx.cond(GalleryState.message_failed, "red", ACCENT),
                width="100%",
                id="gallery-message",
            ),
        ),
        filters_bar(),
        feature_dialog(),
        share_dialog(),
        generation_viewer(),
        rx.cond(
            ~GalleryState.loaded,
            skeleton_cards(8, columns=CARD_GRID),
            _gallery_grid_or_empty(),
        ),
    )


def _gallery_grid_or_empty() -> rx.Component:
    return rx.cond(
        GalleryState.items.length() > 0,
        paged_grid(
            rx.grid(
                rx.foreach(
                    GalleryState.items,
                    lambda item: generation_card(
                        item,
                        on_cancel=GalleryState.cancel(item.id),
                        cancelling=GalleryState.cancelling == item.id,
                        footer=_gallery_actions(item),
                        on_open=ViewerState.open_viewer(item.id),
                    ),
                ),
                columns=CARD_GRID,
                spacing="4",
                width="100%",
                id="gallery-grid",
            ),
            GalleryState.has_more,
            GalleryState.load_more,
        ),
        rx.cond(
            (GalleryState.query != "")
            | (GalleryState.filter_status != "")
            | (GalleryState.filter_style != "")
            | (GalleryState.filter_collection != 0),
            empty_state(
                "search-x",
                "Nothing matches",
                "No image matches these filters. Try other words, or show all images.",
            ),
            empty_state(
                "images",
                "No images yet",
                "Your generated product shots will collect here.",
                rx.link(rx.button("Open the studio", color_scheme=ACCENT), href="/upload"),
            ),
        ),
    )
