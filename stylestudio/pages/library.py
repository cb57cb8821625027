"""/gallery, /explore and /credits."""

from __future__ import annotations

from typing import Any, cast

import reflex as rx
from reflex.vars import ObjectVar

from stylestudio.components.generation import generation_card
from stylestudio.components.layout import ACCENT, card, empty_state, page_header, page_shell
from stylestudio.components.local_time import local_time
from stylestudio.services.pricing import STYLE_PRESETS
from stylestudio.state.pages import ExploreState, GalleryState

GRID = rx.breakpoints(initial="1", sm="2", md="3", lg="4")


_FEATURE_COLORS = {
    "pending": "amber",
    "approved": "green",
    "rejected": "red",
    "taken_down": "red",
}


def _gallery_actions(item: Any) -> rx.Component:
    """Under a finished card: where featuring stands, and what the owner can do."""
    image_id = item["image_id"].to(int)
    busy = GalleryState.acting == image_id
    return rx.cond(
        image_id != 0,
        rx.vstack(
            rx.cond(
                item["feature_label"] != "",
                rx.badge(
                    item["feature_label"],
                    color_scheme=rx.match(item["moderation"], *_FEATURE_COLORS.items(), "gray"),
                    variant="soft",
                    white_space="normal",
                    class_name="feature-state",
                    data_moderation=item["moderation"],
                ),
            ),
            rx.hstack(
                rx.cond(
                    (item["moderation"] == "none") | (item["moderation"] == "rejected"),
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
                rx.link(
                    rx.button(
                        rx.icon("download", size=14),
                        "Download",
                        size="1",
                        variant="soft",
                        color_scheme="gray",
                    ),
                    href=item["result_url"].to(str) + "&download=1",
                    class_name="download-link",
                ),
                _collections_menu(item, image_id),
                rx.cond(
                    GalleryState.confirm_delete == item["id"].to(int),
                    rx.button(
                        rx.icon("trash-2", size=14),
                        "Confirm delete",
                        size="1",
                        color_scheme="red",
                        on_click=GalleryState.delete(item["id"].to(int)),
                    ),
                    rx.button(
                        rx.icon("trash-2", size=14),
                        "Delete",
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        on_click=GalleryState.ask_delete(item["id"].to(int)),
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
                    (item["moderation"] == "pending") | (item["moderation"] == "approved"),
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


def _collections_menu(item: Any, image_id: Any) -> rx.Component:
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
                                item["in_collections"].to(list[int]).contains(c["id"]),
                                rx.icon("check", size=14),
                                rx.box(width="14px"),
                            ),
                            rx.text(c["name"]),
                            spacing="2",
                            align="center",
                        ),
                        on_select=GalleryState.toggle_collection(image_id, c["id"].to(int)),
                    ),
                ),
                rx.dropdown_menu.item(
                    "Create a collection first (above the gallery)", disabled=True
                ),
            ),
        ),
    )


def _filters() -> rx.Component:
    statuses = [
        ("all", "Any status"),
        ("completed", "Completed"),
        ("processing", "Running"),
        ("pending", "Queued"),
        ("failed", "Failed"),
        ("cancelled", "Cancelled"),
    ]
    styles = [("all", "Any style")] + [(p.key, p.label) for p in STYLE_PRESETS.values()]
    return rx.vstack(
        rx.hstack(
            rx.input(
                rx.input.slot(rx.icon("search", size=14)),
                placeholder="Search your prompts",
                value=GalleryState.query,
                on_change=GalleryState.search,
                debounce_timeout=350,
                aria_label="Search your prompts",
                width="100%",
                max_width="340px",
                id="gallery-search",
            ),
            rx.select.root(
                rx.select.trigger(aria_label="Status"),
                rx.select.content(*[rx.select.item(label, value=v) for v, label in statuses]),
                value=rx.cond(GalleryState.filter_status == "", "all", GalleryState.filter_status),
                on_change=GalleryState.set_filter_status,
            ),
            rx.select.root(
                rx.select.trigger(aria_label="Style"),
                rx.select.content(*[rx.select.item(label, value=v) for v, label in styles]),
                value=rx.cond(GalleryState.filter_style == "", "all", GalleryState.filter_style),
                on_change=GalleryState.set_filter_style,
            ),
            spacing="3",
            wrap="wrap",
            width="100%",
        ),
        rx.hstack(
            rx.button(
                "All images",
                size="1",
                radius="full",
                variant=rx.cond(GalleryState.filter_collection == 0, "solid", "soft"),
                color_scheme=rx.cond(GalleryState.filter_collection == 0, ACCENT, "gray"),
                on_click=GalleryState.select_collection(0),
            ),
            rx.foreach(
                GalleryState.collections,
                lambda c: rx.button(
                    rx.icon("folder", size=12),
                    c["name"],
                    rx.text(c["count"].to_string(), size="1", color=rx.color("gray", 10)),
                    size="1",
                    radius="full",
                    variant=rx.cond(GalleryState.filter_collection == c["id"], "solid", "soft"),
                    color_scheme=rx.cond(GalleryState.filter_collection == c["id"], ACCENT, "gray"),
                    on_click=GalleryState.select_collection(c["id"].to(int)),
                    class_name="collection-chip",
                ),
            ),
            rx.hstack(
                rx.input(
                    placeholder="New collection",
                    value=GalleryState.new_collection,
                    on_change=GalleryState.set_new_collection,
                    size="1",
                    aria_label="New collection name",
                    width="160px",
                ),
                rx.button(
                    "Create", size="1", variant="soft", on_click=GalleryState.create_collection
                ),
                spacing="1",
            ),
            rx.cond(
                GalleryState.filter_collection != 0,
                rx.hstack(
                    rx.input(
                        placeholder="Rename to…",
                        value=GalleryState.rename_to,
                        on_change=GalleryState.set_rename_to,
                        size="1",
                        aria_label="Rename the collection",
                        width="140px",
                    ),
                    rx.button(
                        "Rename", size="1", variant="soft", on_click=GalleryState.rename_collection
                    ),
                    rx.button(
                        "Delete collection",
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        on_click=GalleryState.delete_collection,
                    ),
                    spacing="1",
                ),
            ),
            spacing="2",
            wrap="wrap",
            align="center",
            width="100%",
            id="collections-bar",
        ),
        spacing="3",
        width="100%",
    )


def _feature_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Request featuring"),
            rx.dialog.description(
                "An administrator reviews the image before it appears on Explore, "
                "where anyone can see it. You can withdraw it at any time.",
                size="2",
            ),
            rx.vstack(
                rx.text(
                    "Title (optional)",
                    as_="label",
                    size="2",
                    weight="medium",
                    html_for="feature-title",
                ),
                rx.input(
                    id="feature-title",
                    aria_label="Title (optional)",
                    value=GalleryState.feature_title,
                    on_change=GalleryState.set_feature_title,
                    max_length=120,
                    placeholder="Leather tote, autumn light",
                    width="100%",
                ),
                rx.cond(
                    GalleryState.feature_error != "",
                    rx.callout(
                        GalleryState.feature_error,
                        icon="triangle-alert",
                        color_scheme="red",
                        size="1",
                        width="100%",
                    ),
                ),
                rx.hstack(
                    rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray")),
                    rx.button(
                        rx.cond(GalleryState.acting != 0, rx.spinner(size="2")),
                        "Send for review",
                        color_scheme=ACCENT,
                        disabled=GalleryState.acting != 0,
                        on_click=GalleryState.submit_featuring,
                    ),
                    justify="end",
                    width="100%",
                    spacing="3",
                ),
                spacing="3",
                margin_top="12px",
                width="100%",
            ),
            max_width="440px",
        ),
        open=GalleryState.feature_open,
        on_open_change=GalleryState.set_feature_open,
    )


def _share_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Share this image"),
            rx.dialog.description(
                "Anyone with the link sees the image, its style and prompt — no sign-in. "
                "Revoke it whenever you like.",
                size="2",
            ),
            rx.vstack(
                rx.hstack(
                    rx.select.root(
                        rx.select.trigger(aria_label="Link expires"),
                        rx.select.content(
                            rx.select.item("Expires in 1 day", value="1d"),
                            rx.select.item("Expires in 7 days", value="7d"),
                            rx.select.item("Never expires", value="never"),
                        ),
                        value=GalleryState.share_expiry,
                        on_change=GalleryState.set_share_expiry,
                    ),
                    rx.button(
                        rx.icon("link", size=14),
                        "Create link",
                        color_scheme=ACCENT,
                        on_click=GalleryState.create_share,
                    ),
                    spacing="3",
                    width="100%",
                ),
                rx.cond(
                    GalleryState.share_new_url != "",
                    rx.vstack(
                        rx.text(
                            "Copy it now — it is shown only once.",
                            size="1",
                            color=rx.color("gray", 11),
                        ),
                        rx.hstack(
                            rx.input(
                                value=GalleryState.share_new_url,
                                read_only=True,
                                width="100%",
                                id="share-url",
                                aria_label="Share link",
                            ),
                            rx.button(
                                rx.icon("copy", size=14),
                                "Copy",
                                variant="soft",
                                on_click=rx.set_clipboard(GalleryState.share_new_url),
                            ),
                            width="100%",
                        ),
                        spacing="1",
                        width="100%",
                    ),
                ),
                rx.cond(
                    GalleryState.share_error != "",
                    rx.callout(
                        GalleryState.share_error,
                        icon="triangle-alert",
                        color_scheme="red",
                        size="1",
                        width="100%",
                    ),
                ),
                rx.cond(
                    GalleryState.share_links.length() > 0,
                    rx.vstack(
                        rx.text("Links", size="2", weight="medium"),
                        rx.foreach(
                            GalleryState.share_links,
                            lambda link: rx.hstack(
                                rx.badge(
                                    link["status"],
                                    color_scheme=rx.match(
                                        link["status"], ("active", "green"), "gray"
                                    ),
                                    variant="soft",
                                ),
                                rx.text(
                                    "Created ",
                                    local_time(link["created_at"]),
                                    rx.cond(link["expires_at"] != "", " · expires ", ""),
                                    rx.cond(
                                        link["expires_at"] != "", local_time(link["expires_at"])
                                    ),
                                    " · ",
                                    link["view_count"].to_string(),
                                    " views",
                                    size="1",
                                    color=rx.color("gray", 11),
                                ),
                                rx.spacer(),
                                rx.cond(
                                    link["status"] == "active",
                                    rx.button(
                                        "Revoke",
                                        size="1",
                                        variant="soft",
                                        color_scheme="red",
                                        on_click=GalleryState.revoke_share(link["id"].to(int)),
                                    ),
                                ),
                                width="100%",
                                align="center",
                                class_name="share-link",
                            ),
                        ),
                        spacing="2",
                        width="100%",
                    ),
                ),
                rx.hstack(
                    rx.dialog.close(rx.button("Done", variant="soft", color_scheme="gray")),
                    justify="end",
                    width="100%",
                ),
                spacing="3",
                margin_top="12px",
                width="100%",
            ),
            max_width="520px",
        ),
        open=GalleryState.share_open,
        on_open_change=GalleryState.set_share_open,
    )


def gallery_page() -> rx.Component:
    return page_shell(
        page_header(
            "Your gallery",
            "Every image you have generated, newest first.",
            rx.link(
                rx.button(rx.icon("plus"), "New generation", color_scheme=ACCENT), href="/upload"
            ),
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
        _filters(),
        _feature_dialog(),
        _share_dialog(),
        rx.cond(
            GalleryState.items.length() > 0,
            rx.vstack(
                rx.grid(
                    rx.foreach(
                        GalleryState.items,
                        lambda item: generation_card(
                            item,
                            on_cancel=GalleryState.cancel(item["id"].to(int)),
                            cancelling=GalleryState.cancelling == item["id"].to(int),
                            footer=_gallery_actions(item),
                        ),
                    ),
                    columns=GRID,
                    spacing="4",
                    width="100%",
                    id="gallery-grid",
                ),
                rx.cond(
                    GalleryState.has_more,
                    rx.button(
                        "Load more",
                        variant="soft",
                        on_click=GalleryState.load_more,
                        class_name="load-more",
                    ),
                ),
                align="center",
                spacing="5",
                width="100%",
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
        ),
    )


def _explore_card(item: Any) -> rx.Component:
    return card(
        rx.vstack(
            rx.image(
                src=item["thumb_url"],
                alt=rx.cond(item["title"] != "", item["title"], "Featured product shot"),
                width="100%",
                height="260px",
                object_fit="cover",
                border_radius="10px",
                loading="lazy",
                cursor="zoom-in",
                on_click=ExploreState.open_image(item["id"].to(int)),
            ),
            rx.cond(item["title"] != "", rx.text(item["title"], size="2", weight="bold")),
            rx.hstack(
                rx.text(item["author"], size="2", color=rx.color("gray", 11)),
                rx.spacer(),
                rx.cond(item["style"] != "", rx.badge(item["style"], variant="soft")),
                width="100%",
            ),
            spacing="2",
        ),
        padding="10px",
        class_name="explore-card",
        data_image=item["id"],
    )


def _explore_viewer() -> rx.Component:
    # Reflex types a dict field read on the class as ArrayVar[Never]; it is an ObjectVar.
    opened = cast(ObjectVar[dict[str, Any]], ExploreState.opened)
    return rx.dialog.root(
        rx.dialog.content(
            rx.vstack(
                rx.image(
                    src=opened["image_url"],
                    alt="Featured product shot",
                    width="100%",
                    max_height="70vh",
                    object_fit="contain",
                    border_radius="10px",
                    background=rx.color("gray", 3),
                ),
                rx.hstack(
                    rx.dialog.title(
                        rx.cond(opened["title"] != "", opened["title"], "Product shot"),
                        size="5",
                        margin="0",
                    ),
                    rx.spacer(),
                    rx.cond(opened["style"] != "", rx.badge(opened["style"], size="2")),
                    width="100%",
                    align="center",
                ),
                rx.cond(
                    opened["prompt"] != "",
                    rx.text(opened["prompt"], size="2", color=rx.color("gray", 11)),
                ),
                rx.hstack(
                    rx.text("By ", opened["author"], size="1", color=rx.color("gray", 10)),
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
            ExploreState.items.length() > 0,
            rx.vstack(
                rx.grid(
                    rx.foreach(ExploreState.items, _explore_card),
                    columns=GRID,
                    spacing="4",
                    width="100%",
                    id="explore-grid",
                ),
                rx.cond(
                    ExploreState.has_more,
                    rx.button(
                        "Load more",
                        variant="soft",
                        on_click=ExploreState.load_more,
                        class_name="load-more",
                    ),
                ),
                align="center",
                spacing="5",
                width="100%",
            ),
            empty_state(
                "sparkles",
                "Nothing featured yet",
                "When creators ask for their best results to be featured and an admin "
                "approves them, they appear here.",
            ),
        ),
    )
