"""/admin's moderation section: the review queue, what is featured now, the decision dialog
and the right to publish. Bound to AdminState (a section of pages/admin.py)."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from stylestudio.components.data_table import data_table
from stylestudio.components.layout import card, empty_state
from stylestudio.components.local_time import local_time
from stylestudio.services.moderation.featuring import QueueItem
from stylestudio.services.moderation.showcase import ShowcaseItem
from stylestudio.state.admin import AdminState


def _queue_card(r: ObjectVar[QueueItem]) -> rx.Component:
    busy = AdminState.moderating == r.id
    return card(
        rx.hstack(
            rx.link(
                rx.image(
                    src=r.thumb_url,
                    alt="Image waiting for review",
                    width="140px",
                    height="140px",
                    object_fit="cover",
                    border_radius="8px",
                ),
                href=r.image_url,
                is_external=True,
            ),
            rx.vstack(
                rx.hstack(
                    rx.text(rx.cond(r.title != "", r.title, "Untitled"), weight="bold", size="3"),
                    rx.cond(r.style != "", rx.badge(r.style, variant="soft")),
                    spacing="2",
                    align="center",
                ),
                rx.text(r.prompt, size="2", color=rx.color("gray", 11)),
                rx.text(
                    r.owner,
                    " · ",
                    r.owner_generations.to_string(),
                    " generations · ",
                    r.owner_approved.to_string(),
                    " approved · ",
                    r.owner_rejected.to_string(),
                    " rejected",
                    size="1",
                    color=rx.color("gray", 11),
                ),
                rx.cond(
                    r.owner_suspended,
                    rx.badge("Publishing suspended", color_scheme="red", variant="soft"),
                ),
                rx.text(
                    "Requested ",
                    local_time(r.requested_at),
                    size="1",
                    color=rx.color("gray", 11),
                ),
                rx.hstack(
                    rx.button(
                        rx.cond(busy, rx.spinner(size="1"), rx.icon("check", size=14)),
                        "Approve",
                        size="2",
                        color_scheme="green",
                        disabled=busy,
                        on_click=AdminState.approve(r.id),
                    ),
                    rx.button(
                        rx.icon("x", size=14),
                        "Reject",
                        size="2",
                        variant="soft",
                        color_scheme="red",
                        disabled=busy,
                        on_click=AdminState.ask_reason("reject", r.id),
                    ),
                    spacing="2",
                ),
                spacing="2",
                align="start",
                width="100%",
            ),
            spacing="4",
            align="start",
            width="100%",
        ),
        class_name="moderation-item",
        data_image=r.id,
    )


def _featured_row(r: ObjectVar[ShowcaseItem]) -> list[rx.Component]:
    return [
        rx.table.cell(
            rx.image(
                src=r.thumb_url,
                alt="Featured",
                width="56px",
                height="56px",
                object_fit="cover",
                border_radius="6px",
            )
        ),
        rx.table.cell(rx.cond(r.title != "", r.title, "Untitled")),
        rx.table.cell(r.author),
        rx.table.cell(local_time(r.featured_at, with_time=False)),
        rx.table.cell(
            rx.button(
                "Take down",
                size="1",
                variant="soft",
                color_scheme="red",
                on_click=AdminState.ask_reason("take_down", r.id),
            )
        ),
    ]


def _decision_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(
                rx.cond(AdminState.decide_action == "reject", "Reject featuring", "Take down")
            ),
            rx.dialog.description(
                "The owner sees this reason on their card. It goes to the audit log.", size="2"
            ),
            rx.vstack(
                rx.el.label(
                    "Reason",
                    html_for="decide-reason",
                    style={"fontWeight": "500", "fontSize": "14px"},
                ),
                rx.text_area(
                    id="decide-reason",
                    aria_label="Reason",
                    value=AdminState.decide_reason,
                    on_change=AdminState.set_decide_reason,
                    max_length=500,
                    placeholder="e.g. The product is hard to see; try a plainer backdrop.",
                    width="100%",
                ),
                rx.cond(
                    AdminState.moderation_failed & (AdminState.moderation_message != ""),
                    rx.callout(
                        AdminState.moderation_message,
                        icon="triangle-alert",
                        color_scheme="red",
                        size="1",
                        width="100%",
                    ),
                ),
                rx.hstack(
                    rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray")),
                    rx.button(
                        rx.cond(AdminState.decide_action == "reject", "Reject", "Take down"),
                        color_scheme="red",
                        on_click=AdminState.confirm_decision,
                    ),
                    justify="end",
                    spacing="3",
                    width="100%",
                ),
                spacing="3",
                margin_top="12px",
                width="100%",
            ),
            max_width="460px",
        ),
        open=AdminState.decide_open,
        on_open_change=AdminState.set_decide_open,
    )


def _publishing_card() -> rx.Component:
    return card(
        rx.vstack(
            rx.heading("Right to publish", size="3"),
            rx.text(
                "A suspended user cannot request featuring or share; their images leave Explore.",
                size="2",
                color=rx.color("gray", 11),
            ),
            rx.input(
                placeholder="user@example.com",
                value=AdminState.publish_email,
                on_change=AdminState.set_publish_email,
                aria_label="Account email",
                width="100%",
            ),
            rx.input(
                placeholder="Reason (needed to suspend)",
                value=AdminState.publish_reason,
                on_change=AdminState.set_publish_reason,
                aria_label="Suspension reason",
                width="100%",
            ),
            rx.hstack(
                rx.button(
                    "Suspend publishing",
                    color_scheme="red",
                    variant="soft",
                    on_click=AdminState.set_publishing(True),
                ),
                rx.button(
                    "Restore",
                    variant="soft",
                    color_scheme="gray",
                    on_click=AdminState.set_publishing(False),
                ),
                spacing="2",
            ),
            spacing="3",
            align="start",
            width="100%",
        ),
        id="publishing-card",
    )


def moderation_section() -> rx.Component:
    return rx.vstack(
        rx.heading("Moderation queue", size="5", margin_top="8px"),
        _decision_dialog(),
        rx.cond(
            ~AdminState.moderation_failed & (AdminState.moderation_message != ""),
            rx.callout(
                AdminState.moderation_message,
                icon="check",
                color_scheme="green",
                width="100%",
                id="moderation-message",
            ),
        ),
        rx.cond(
            AdminState.moderation_failed
            & (AdminState.moderation_message != "")
            & ~AdminState.decide_open,
            rx.callout(
                AdminState.moderation_message,
                icon="triangle-alert",
                color_scheme="red",
                width="100%",
            ),
        ),
        rx.cond(
            AdminState.queue.length() > 0,
            rx.vstack(
                rx.foreach(AdminState.queue, _queue_card),
                spacing="3",
                width="100%",
                id="moderation-queue",
            ),
            empty_state(
                "shield-check",
                "Nothing to review",
                "Feature requests from users will wait here for approval.",
            ),
        ),
        rx.grid(
            card(
                rx.vstack(
                    rx.heading("Featured now", size="3"),
                    rx.cond(
                        AdminState.featured.length() > 0,
                        data_table(
                            ("", "Title", "By", "Since", ""), AdminState.featured, _featured_row
                        ),
                        rx.text("Nothing is featured.", size="2", color=rx.color("gray", 11)),
                    ),
                    spacing="3",
                    width="100%",
                ),
                id="featured-now",
            ),
            _publishing_card(),
            columns=rx.breakpoints(initial="1", md="2fr 1fr"),
            spacing="4",
            width="100%",
        ),
        spacing="3",
        width="100%",
        align="start",
    )
