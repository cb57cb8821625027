"""/admin: usage at a glance, moderation queue, billing settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import reflex as rx
from reflex.vars import ArrayVar, ObjectVar

from stylestudio.components.layout import card, empty_state, page_header, page_shell, stat_card
from stylestudio.state.pages import AdminState


def _table(
    headers: tuple[str, ...],
    rows: ArrayVar[list[dict[str, Any]]],
    cells: Callable[[ObjectVar[dict[str, Any]]], list[rx.Component]],
) -> rx.Component:
    return rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
        rx.table.body(rx.foreach(rows, lambda r: rx.table.row(*cells(r)))),
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
            stat_card("Revenue", stats["revenue"], "banknote"),
            columns=rx.breakpoints(initial="2", md="4"),
            spacing="4",
            width="100%",
        ),
        rx.grid(
            card(
                rx.heading("Generations by status", size="4", margin_bottom="8px"),
                _table(
                    ("Status", "Count"),
                    AdminState.by_status,
                    lambda r: [rx.table.cell(r["status"]), rx.table.cell(r["count"])],
                ),
            ),
            card(
                rx.heading("Billing settings", size="4", margin_bottom="8px"),
                rx.data_list.root(
                    rx.data_list.item(
                        rx.data_list.label("Free trial credits"),
                        rx.data_list.value(stats["free_trial_credits"]),
                    ),
                    rx.data_list.item(
                        rx.data_list.label("Refund on failure"),
                        rx.data_list.value(stats["refund_on_failure"]),
                    ),
                    rx.data_list.item(
                        rx.data_list.label("Credits refunded"),
                        rx.data_list.value(stats["credits_refunded"]),
                    ),
                ),
                rx.heading("Packs", size="3", margin_top="16px", margin_bottom="8px"),
                _table(
                    ("Pack", "Credits", "Price"),
                    AdminState.packs,
                    lambda r: [
                        rx.table.cell(r["name"]),
                        rx.table.cell(r["credits"]),
                        rx.table.cell(r["price"]),
                    ],
                ),
            ),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            width="100%",
        ),
        rx.heading("Moderation queue", size="5", margin_top="8px"),
        rx.cond(
            AdminState.queue.length() > 0,
            card(
                _table(
                    ("Image", "Owner", "Requested"),
                    AdminState.queue,
                    lambda r: [
                        rx.table.cell(
                            rx.image(
                                src=r["thumb_url"], width="64px", height="64px", object_fit="cover"
                            )
                        ),
                        rx.table.cell(r["owner"]),
                        rx.table.cell(r["requested_at"]),
                    ],
                )
            ),
            empty_state(
                "shield-check",
                "Nothing to review",
                "Feature requests from users will wait here for approval.",
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
                    rx.table.cell(r["joined"]),
                ],
            )
        ),
        spacing="4",
        width="100%",
        align="start",
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
            _dashboard(),
        ),
    )
