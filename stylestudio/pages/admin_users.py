"""/admin, the Users card: search, credits adjustments, suspensions."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from stylestudio.components.data_table import scroll_region
from stylestudio.components.layout import ACCENT, card
from stylestudio.components.local_time import local_time
from stylestudio.services.admin.admin_users import UserRow
from stylestudio.state.admin_users import AdminUsersState


def _row(user: ObjectVar[UserRow]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(user.email, size="2"), rx.text(user.name, size="1")),
        rx.table.cell(user.credits.to_string()),
        rx.table.cell(
            rx.cond(
                user.suspended,
                rx.tooltip(
                    rx.badge("Suspended", color_scheme="red"), content=user.suspended_reason
                ),
                rx.badge(user.role, variant="soft", color_scheme="gray"),
            )
        ),
        rx.table.cell(
            rx.cond(user.last_login_at != "", local_time(user.last_login_at), "—"),
            class_name="last-sign-in",
        ),
        class_name="admin-user-row",
        data_email=user.email,
    )


def _status_form(label: str, handler: Any, color: str, form_id: str) -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(
                name="email",
                placeholder="Email",
                aria_label=f"{label} email",
                size="2",
                required=True,
            ),
            rx.input(
                name="reason",
                placeholder="Reason",
                aria_label=f"{label} reason",
                size="2",
                required=True,
            ),
            rx.button(label, type="submit", color_scheme=color, variant="soft"),
            spacing="2",
            wrap="wrap",
        ),
        on_submit=handler,
        reset_on_submit=True,
        id=form_id,
    )


def users_card() -> rx.Component:
    field = {"size": "2", "required": True}
    return card(
        rx.vstack(
            rx.heading("Users", size="4"),
            rx.cond(
                AdminUsersState.message != "",
                rx.callout(
                    AdminUsersState.message,
                    icon=rx.cond(AdminUsersState.failed, "triangle-alert", "circle-check"),
                    color_scheme=rx.cond(AdminUsersState.failed, "red", "green"),
                    size="1",
                    width="100%",
                    id="users-message",
                ),
            ),
            rx.input(
                placeholder="Search by email or name",
                value=AdminUsersState.query,
                on_change=AdminUsersState.search,
                debounce_timeout=300,
                aria_label="Search users",
                width="320px",
            ),
            scroll_region(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[
                                rx.table.column_header_cell(h)
                                for h in ("User", "Credits", "", "Last sign-in")
                            ]
                        )
                    ),
                    rx.table.body(rx.foreach(AdminUsersState.users, _row)),
                    size="1",
                    width="100%",
                ),
                label="Users",
            ),
            rx.form(
                rx.hstack(
                    rx.input(name="email", placeholder="Email", aria_label="User email", **field),
                    rx.input(
                        name="change",
                        placeholder="+25 or -10",
                        aria_label="Credits change",
                        width="110px",
                        **field,
                    ),
                    rx.input(
                        name="reason",
                        placeholder="Reason",
                        aria_label="Adjustment reason",
                        **field,
                    ),
                    rx.button("Adjust credits", type="submit", variant="soft", color_scheme=ACCENT),
                    spacing="2",
                    wrap="wrap",
                ),
                on_submit=AdminUsersState.adjust,
                reset_on_submit=True,
                id="adjust-credits",
            ),
            _status_form("Suspend", AdminUsersState.suspend, "red", "suspend-user"),
            _status_form("Restore", AdminUsersState.restore, "gray", "restore-user"),
            spacing="3",
            width="100%",
            align="start",
        ),
        id="users",
        width="100%",
        on_mount=AdminUsersState.load_users,
    )
