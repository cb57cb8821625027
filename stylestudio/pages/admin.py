"""/admin: usage at a glance, billing (packs, settings, purchases, audit log), moderation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import reflex as rx
from reflex.vars import ArrayVar, ObjectVar

from stylestudio.components.layout import (
    ACCENT,
    card,
    empty_state,
    page_header,
    page_shell,
    stat_card,
)
from stylestudio.components.local_time import local_time
from stylestudio.services.billing_admin import AuditRow, EditablePack, PurchaseRow
from stylestudio.state.pages import AdminState

PURCHASE_STATUS_COLORS = {
    "completed": "green",
    "processing": "blue",
    "pending": "amber",
    "failed": "red",
    "expired": "gray",
    "refunded": "orange",
}
# Name, credits, price, on sale, save: the pack header and every pack's form share it.
PACK_COLUMNS = "minmax(140px, 2fr) minmax(90px, 1fr) minmax(100px, 1fr) 90px 80px"


def _table(
    headers: tuple[str, ...],
    rows: ArrayVar[Any],
    cells: Callable[[Any], list[rx.Component]],
    **props: Any,
) -> rx.Component:
    return rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
        rx.table.body(rx.foreach(rows, lambda r: rx.table.row(*cells(r)))),
        width="100%",
        **props,
    )


def _message(text: rx.Var[str], failed: rx.Var[bool], id: str) -> rx.Component:
    return rx.cond(
        text != "",
        rx.callout(
            text,
            icon=rx.cond(failed, "triangle-alert", "circle-check"),
            color_scheme=rx.cond(failed, "red", "green"),
            size="1",
            id=id,
            width="100%",
        ),
    )


def _pack_form(pack: ObjectVar[EditablePack]) -> rx.Component:
    return rx.form(
        rx.el.input(type="hidden", name="code", value=pack.code),
        rx.grid(
            rx.input(
                name="display_name",
                default_value=pack.name,
                max_length=100,
                required=True,
                aria_label="Pack name",
            ),
            rx.input(
                name="credits",
                default_value=pack.credits.to_string(),
                type="number",
                min=1,
                max=100_000,
                step=1,
                required=True,
                aria_label="Credits",
            ),
            rx.input(
                rx.input.slot("$"),
                name="price",
                default_value=pack.price,
                input_mode="decimal",
                required=True,
                aria_label="Price in dollars",
            ),
            rx.checkbox("On sale", name="is_active", default_checked=pack.is_active),
            rx.button("Save", type="submit", size="2", variant="soft", color_scheme=ACCENT),
            columns=PACK_COLUMNS,
            spacing="3",
            align="center",
        ),
        on_submit=AdminState.save_pack,
        reset_on_submit=False,
        # A new key after every load: the inputs start again from what was saved.
        key=AdminState.revision.to_string() + "-" + pack.code,
        class_name="pack-form",
        data_pack=pack.code,
    )


def _billing_card() -> rx.Component:
    return card(
        rx.vstack(
            rx.heading("Billing", size="4"),
            _message(AdminState.billing_message, AdminState.billing_failed, "billing-message"),
            rx.grid(
                *[
                    rx.text(h, size="1", weight="medium", color=rx.color("gray", 11))
                    for h in ("Pack", "Credits", "Price", "", "")
                ],
                columns=PACK_COLUMNS,
                spacing="3",
                width="100%",
            ),
            rx.foreach(AdminState.pack_forms, _pack_form),
            rx.separator(size="4", margin_y="8px"),
            rx.form(
                rx.hstack(
                    rx.text("Free-trial credits", size="2"),
                    rx.input(
                        name="free_trial_credits",
                        default_value=AdminState.free_trial_credits.to_string(),
                        type="number",
                        min=0,
                        max=1000,
                        step=1,
                        required=True,
                        aria_label="Free-trial credits",
                        width="100px",
                    ),
                    rx.checkbox(
                        "Refund credits when a generation fails",
                        name="refund_on_failure",
                        default_checked=AdminState.refund_on_failure,
                    ),
                    rx.spacer(),
                    rx.button("Save settings", type="submit", color_scheme=ACCENT),
                    spacing="3",
                    align="center",
                    wrap="wrap",
                    width="100%",
                ),
                on_submit=AdminState.save_billing,
                reset_on_submit=False,
                key=AdminState.revision.to_string(),
                id="billing-settings-form",
            ),
            spacing="3",
            width="100%",
            align="start",
        ),
        id="billing",
        width="100%",
    )


def _provider_id(value: rx.Var[str]) -> rx.Component:
    # Stripe's ids run to ~70 characters: cut to the column, whole on hover.
    return rx.code(
        value,
        size="1",
        title=value,
        display="block",
        max_width="160px",
        overflow="hidden",
        text_overflow="ellipsis",
        white_space="nowrap",
    )


def _ids(row: ObjectVar[PurchaseRow]) -> rx.Component:
    return rx.vstack(
        rx.cond(row.provider_session_id != "", _provider_id(row.provider_session_id), rx.text("—")),
        rx.cond(row.payment_intent != "", _provider_id(row.payment_intent)),
        spacing="1",
        align="start",
    )


def _purchase_cells(row: ObjectVar[PurchaseRow]) -> list[rx.Component]:
    return [
        rx.table.cell(local_time(row.created_at), white_space="nowrap"),
        rx.table.cell(row.user_email),
        rx.table.cell(rx.text(row.pack_name), rx.text(row.credits, " credits", size="1")),
        rx.table.cell(
            rx.text(row.amount),
            rx.cond(row.refunded != "", rx.text("refunded ", row.refunded, size="1")),
        ),
        rx.table.cell(
            rx.badge(
                row.status,
                color_scheme=rx.match(row.status, *PURCHASE_STATUS_COLORS.items(), "gray"),
                variant="soft",
                radius="full",
                class_name="purchase-status",
            )
        ),
        rx.table.cell(_ids(row)),
        rx.table.cell(row.clawed_back_credits),
        rx.table.cell(
            rx.text(
                row.uncollected_credits,
                color=rx.cond(row.uncollected_credits > 0, rx.color("red", 11), "inherit"),
                weight=rx.cond(row.uncollected_credits > 0, "bold", "regular"),
            )
        ),
        rx.table.cell(
            rx.button(
                "Check with provider",
                size="1",
                variant="soft",
                on_click=AdminState.check_purchase(row.id),
                disabled=row.provider_session_id == "",
                loading=AdminState.checking_purchase == row.id,
                white_space="nowrap",
            )
        ),
    ]


def _purchases_card() -> rx.Component:
    return card(
        rx.vstack(
            rx.heading("Purchases", size="4"),
            _message(AdminState.purchase_message, AdminState.purchase_failed, "purchase-message"),
            rx.cond(
                AdminState.purchases.length() > 0,
                rx.box(
                    _table(
                        (
                            "When",
                            "User",
                            "Pack",
                            "Amount",
                            "Status",
                            "Provider ids",
                            "Clawed back",
                            "Uncollected",
                            "",
                        ),
                        AdminState.purchases,
                        _purchase_cells,
                        size="1",
                    ),
                    overflow_x="auto",
                    width="100%",
                ),
                rx.text("No purchases yet.", color=rx.color("gray", 11)),
            ),
            spacing="3",
            width="100%",
            align="start",
        ),
        id="purchases",
        width="100%",
    )


def _audit_cells(row: ObjectVar[AuditRow]) -> list[rx.Component]:
    return [
        rx.table.cell(local_time(row.created_at)),
        rx.table.cell(row.actor),
        rx.table.cell(row.what),
        rx.table.cell(
            rx.vstack(
                rx.foreach(row.changes, lambda change: rx.text(change, size="2")),
                spacing="1",
                align="start",
            )
        ),
    ]


def _audit_card() -> rx.Component:
    return card(
        rx.vstack(
            rx.heading("Audit log", size="4"),
            rx.cond(
                AdminState.audit_log.length() > 0,
                _table(
                    ("When", "Who", "What", "Before → after"),
                    AdminState.audit_log,
                    _audit_cells,
                ),
                rx.text("No changes recorded yet.", color=rx.color("gray", 11)),
            ),
            spacing="3",
            width="100%",
            align="start",
        ),
        id="audit-log",
        width="100%",
    )


def _dashboard() -> rx.Component:
    # Reflex types a dict field read on the class as ArrayVar[Never]; it is an ObjectVar.
    stats = cast(ObjectVar[dict[str, Any]], AdminState.stats)
    return rx.vstack(
        rx.grid(
            stat_card("Users", stats["users"], "users"),
            stat_card("Generations", stats["generations"], "image"),
            stat_card("Credits spent", stats["credits_spent"], "coins"),
            stat_card("Credits refunded", stats["credits_refunded"], "undo-2"),
            # Completed purchases minus what was refunded of them.
            stat_card("Revenue", AdminState.revenue, "banknote"),
            columns=rx.breakpoints(initial="2", md="5"),
            spacing="4",
            width="100%",
        ),
        _billing_card(),
        _purchases_card(),
        rx.grid(
            card(
                rx.heading("Generations by status", size="4", margin_bottom="8px"),
                _table(
                    ("Status", "Count"),
                    AdminState.by_status,
                    lambda r: [rx.table.cell(r["status"]), rx.table.cell(r["count"])],
                ),
            ),
            _audit_card(),
            columns=rx.breakpoints(initial="1", md="1fr 2fr"),
            spacing="4",
            width="100%",
        ),
        _moderation(),
        rx.cond(
            AdminState.flagged_users.length() > 0,
            rx.vstack(
                rx.heading("Flagged for review", size="5", margin_top="8px"),
                card(
                    _table(
                        ("Email", "Why", "Credits"),
                        AdminState.flagged_users,
                        lambda r: [
                            rx.table.cell(r["email"]),
                            rx.table.cell(rx.badge(r["reason"], color_scheme="red")),
                            rx.table.cell(r["credits"]),
                        ],
                    ),
                    id="flagged-users",
                ),
                spacing="3",
                width="100%",
            ),
        ),
        rx.heading("Newest users", size="5", margin_top="8px"),
        card(
            _table(
                ("Email", "Role", "Credits", "Joined"),
                AdminState.recent_users,
                lambda r: [
                    rx.table.cell(r["email"]),
                    rx.table.cell(r["role"]),
                    rx.table.cell(r["credits"]),
                    rx.table.cell(local_time(r["joined"], with_time=False)),
                ],
            )
        ),
        spacing="4",
        width="100%",
        align="start",
    )


def _queue_card(r: Any) -> rx.Component:
    busy = AdminState.moderating == r["id"].to(int)
    return card(
        rx.hstack(
            rx.link(
                rx.image(
                    src=r["thumb_url"],
                    alt="Image waiting for review",
                    width="140px",
                    height="140px",
                    object_fit="cover",
                    border_radius="8px",
                ),
                href=r["image_url"],
                is_external=True,
            ),
            rx.vstack(
                rx.hstack(
                    rx.text(
                        rx.cond(r["title"] != "", r["title"], "Untitled"), weight="bold", size="3"
                    ),
                    rx.cond(r["style"] != "", rx.badge(r["style"], variant="soft")),
                    spacing="2",
                    align="center",
                ),
                rx.text(r["prompt"], size="2", color=rx.color("gray", 11)),
                rx.text(
                    r["owner"],
                    " · ",
                    r["owner_generations"].to_string(),
                    " generations · ",
                    r["owner_approved"].to_string(),
                    " approved · ",
                    r["owner_rejected"].to_string(),
                    " rejected",
                    size="1",
                    color=rx.color("gray", 10),
                ),
                rx.cond(
                    r["owner_suspended"],
                    rx.badge("Publishing suspended", color_scheme="red", variant="soft"),
                ),
                rx.text(
                    "Requested ",
                    local_time(r["requested_at"]),
                    size="1",
                    color=rx.color("gray", 10),
                ),
                rx.hstack(
                    rx.button(
                        rx.cond(busy, rx.spinner(size="1"), rx.icon("check", size=14)),
                        "Approve",
                        size="2",
                        color_scheme="green",
                        disabled=busy,
                        on_click=AdminState.approve(r["id"].to(int)),
                    ),
                    rx.button(
                        rx.icon("x", size=14),
                        "Reject",
                        size="2",
                        variant="soft",
                        color_scheme="red",
                        disabled=busy,
                        on_click=AdminState.ask_reason("reject", r["id"].to(int)),
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
        data_image=r["id"],
    )


def _featured_row(r: Any) -> list[rx.Component]:
    return [
        rx.table.cell(
            rx.image(
                src=r["thumb_url"],
                alt="Featured",
                width="56px",
                height="56px",
                object_fit="cover",
                border_radius="6px",
            )
        ),
        rx.table.cell(rx.cond(r["title"] != "", r["title"], "Untitled")),
        rx.table.cell(r["author"]),
        rx.table.cell(local_time(r["featured_at"], with_time=False)),
        rx.table.cell(
            rx.button(
                "Take down",
                size="1",
                variant="soft",
                color_scheme="red",
                on_click=AdminState.ask_reason("take_down", r["id"].to(int)),
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
                rx.text("Reason", as_="label", size="2", weight="medium", html_for="decide-reason"),
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


def _moderation() -> rx.Component:
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
                        _table(
                            ("", "Title", "By", "Since", ""), AdminState.featured, _featured_row
                        ),
                        rx.text("Nothing is featured.", size="2", color=rx.color("gray", 10)),
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


def _loading() -> rx.Component:
    return rx.vstack(
        rx.grid(
            *[rx.skeleton(height="76px", width="100%") for _ in range(5)],
            columns=rx.breakpoints(initial="2", md="5"),
            spacing="4",
            width="100%",
        ),
        rx.skeleton(height="240px", width="100%"),
        rx.skeleton(height="240px", width="100%"),
        spacing="4",
        width="100%",
    )


def admin_page() -> rx.Component:
    return page_shell(
        page_header("Admin", "Usage, moderation and billing."),
        rx.cond(
            AdminState.denied,
            empty_state(
                "lock",
                "Administrators only",
                "Your account does not have access to the admin area.",
            ),
            rx.cond(AdminState.loaded, _dashboard(), _loading()),
        ),
    )
