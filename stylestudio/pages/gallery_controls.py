"""/gallery's controls: the filters and collections bar, and the dialogs to request
featuring and to share. Bound to GalleryState (sections of pages/gallery.py)."""

from __future__ import annotations

import reflex as rx

from stylestudio.components.layout import ACCENT
from stylestudio.components.local_time import local_time
from stylestudio.services.billing.pricing import STYLE_PRESETS
from stylestudio.state.gallery import GalleryState


def filters_bar() -> rx.Component:
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
                    c.name,
                    rx.text(c.count.to_string(), size="1", color=rx.color("gray", 11)),
                    size="1",
                    radius="full",
                    variant=rx.cond(GalleryState.filter_collection == c.id, "solid", "soft"),
                    color_scheme=rx.cond(GalleryState.filter_collection == c.id, ACCENT, "gray"),
                    on_click=GalleryState.select_collection(c.id),
                    class_name="collection-chip",
                ),
            ),
            # A form: Enter in the name creates the collection, as `Create` does.
            rx.form(
                rx.hstack(
                    rx.input(
                        placeholder="New collection",
                        value=GalleryState.new_collection,
                        on_change=GalleryState.set_new_collection,
                        size="1",
                        aria_label="New collection name",
                        width="160px",
                    ),
                    rx.button("Create", size="1", variant="soft", type="submit"),
                    spacing="1",
                ),
                on_submit=GalleryState.submit_new_collection,
                reset_on_submit=False,
                id="new-collection",
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


def feature_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Request featuring"),
            rx.dialog.description(
                "An administrator reviews the image before it appears on Explore, "
                "where anyone can see it. You can withdraw it at any time.",
                size="2",
            ),
            rx.vstack(
                rx.el.label(
                    "Title (optional)",
                    html_for="feature-title",
                    style={"fontWeight": "500", "fontSize": "14px"},
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


def share_dialog() -> rx.Component:
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
                                    link.status,
                                    color_scheme=rx.match(link.status, ("active", "green"), "gray"),
                                    variant="soft",
                                ),
                                rx.text(
                                    "Created ",
                                    local_time(link.created_at),
                                    rx.cond(link.expires_at != "", " · expires ", ""),
                                    rx.cond(link.expires_at != "", local_time(link.expires_at)),
                                    " · ",
                                    link.view_count.to_string(),
                                    " views",
                                    size="1",
                                    color=rx.color("gray", 11),
                                ),
                                rx.spacer(),
                                rx.cond(
                                    link.status == "active",
                                    rx.button(
                                        "Revoke",
                                        size="1",
                                        variant="soft",
                                        color_scheme="red",
                                        on_click=GalleryState.revoke_share(link.id),
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
