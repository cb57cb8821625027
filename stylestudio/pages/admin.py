"""/admin: usage at a glance, billing (packs, settings, purchases, audit log), users;
/admin/moderation: the review queue, with its pending count in the admin navigation."""

from __future__ import annotations

from typing import cast

import reflex as rx
from reflex.vars import ObjectVar

from stylestudio.components.data_table import data_table, scroll_region
from stylestudio.components.layout import (
    ACCENT,
    card,
    empty_state,
    page_header,
    page_shell,
    stat_card,
)
from stylestudio.components.local_time import local_time
from stylestudio.components.skeleton import skeleton_block
from stylestudio.pages.admin_audit_log import audit_card
from stylestudio.pages.admin_billing import billing_card, purchases_card
from stylestudio.pages.admin_moderation import moderation_section
from stylestudio.pages.admin_users import users_card
from stylestudio.services.admin.admin import FlaggedUser, NewUser, StatusCount, Totals
from stylestudio.state.admin import AdminState


def _dashboard() -> rx.Component:
    # Reflex's typing reads a dataclass field on the class as ArrayVar; it is an ObjectVar.
    stats = cast(ObjectVar[Totals], AdminState.stats)
    return rx.vstack(
        rx.grid(
            stat_card("Users", stats.users, "users"),
            stat_card("Generations", stats.generations, "image"),
            stat_card("Credits spent", stats.credits_spent, "coins"),
            stat_card("Credits refunded", stats.credits_refunded, "undo-2"),
            # Completed purchases minus what was refunded of them.
            stat_card("Revenue", AdminState.revenue, "banknote"),
            columns=rx.breakpoints(initial="2", md="5"),
            spacing="4",
            width="100%",
        ),
        billing_card(),
        users_card(),
        purchases_card(),
        rx.grid(
            card(
                rx.heading("Generations by status", size="4", margin_bottom="8px"),
                data_table(
                    ("Status", "Count"),
                    AdminState.by_status,
                    _status_cells,
                ),
            ),
            audit_card(),
            columns=rx.breakpoints(initial="1", md="1fr 2fr"),
            spacing="4",
            width="100%",
        ),
        rx.cond(
            AdminState.flagged_users.length() > 0,
            rx.vstack(
                rx.heading("Flagged for review", size="5", margin_top="8px"),
                card(
                    scroll_region(
                        data_table(
                            ("Email", "Why", "Credits"),
                            AdminState.flagged_users,
                            _flagged_cells,
                        ),
                        label="Flagged for review",
                    ),
                    id="flagged-users",
                ),
                spacing="3",
                width="100%",
            ),
        ),
        rx.heading("Newest users", size="5", margin_top="8px"),
        card(
            scroll_region(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[
                                rx.table.column_header_cell(h)
                                for h in ("Email", "Role", "Credits", "Joined")
                            ]
                        )
                    ),
                    rx.table.body(rx.foreach(AdminState.recent_users, _newest_user)),
                    width="100%",
                ),
                label="Newest users",
            ),
            id="newest-users",
            width="100%",
        ),
        spacing="4",
        width="100%",
        align="start",
    )


def _status_cells(r: ObjectVar[StatusCount]) -> list[rx.Component]:
    return [rx.table.cell(r.status), rx.table.cell(r.count)]


def _flagged_cells(r: ObjectVar[FlaggedUser]) -> list[rx.Component]:
    return [
        rx.table.cell(r.email),
        rx.table.cell(rx.badge(r.reason, color_scheme="red")),
        rx.table.cell(r.credits),
    ]


def _newest_user(r: ObjectVar[NewUser]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(r.email),
        rx.table.cell(r.role),
        rx.table.cell(r.credits),
        rx.table.cell(local_time(r.joined, with_time=False)),
        class_name="newest-user",
        data_email=r.email,
    )


def _loading() -> rx.Component:
    """The dashboard's shape while it loads: the figures, then the billing and purchases
    cards (never "No purchases yet." before the purchases are in)."""
    return rx.vstack(
        rx.grid(
            *[skeleton_block("76px") for _ in range(5)],
            columns=rx.breakpoints(initial="2", md="5"),
            spacing="4",
            width="100%",
        ),
        skeleton_block("240px"),
        skeleton_block("240px"),
        spacing="4",
        width="100%",
        aria_busy="true",
    )


def _tab(label: str, href: str, active: bool, count: rx.Var[int] | None = None) -> rx.Component:
    return rx.link(
        rx.hstack(
            rx.text(label, size="2", weight="medium"),
            *(
                [
                    rx.cond(
                        count > 0,
                        rx.fragment(
                            rx.badge(
                                count.to_string(),
                                color_scheme="red",
                                variant="solid",
                                radius="full",
                                id="moderation-pending-count",
                            ),
                            rx.el.span(" waiting for review", class_name="sr-only"),
                        ),
                    )
                ]
                if count is not None
                else []
            ),
            spacing="2",
            align="center",
        ),
        href=href,
        underline="none",
        color=rx.color(ACCENT if active else "gray", 11 if active else 12),
        padding_y="8px",
        border_bottom=f"2px solid {rx.color(ACCENT, 9) if active else 'transparent'}",
        aria_current="page" if active else None,
    )


def admin_tabs(current: str) -> rx.Component:
    """The admin area's navigation: Overview and Moderation (with what waits for review)."""
    return rx.el.nav(
        rx.hstack(
            _tab("Overview", "/admin", current == "overview"),
            _tab(
                "Moderation",
                "/admin/moderation",
                current == "moderation",
                AdminState.pending_reviews,
            ),
            spacing="5",
            border_bottom=f"1px solid {rx.color('gray', 5)}",
            width="100%",
            margin_bottom="20px",
        ),
        aria_label="Admin sections",
        id="admin-tabs",
    )


def _admin_shell(current: str, subtitle: str, body: rx.Component) -> rx.Component:
    return page_shell(
        page_header("Admin", subtitle),
        rx.cond(
            AdminState.denied,
            empty_state(
                "lock",
                "Administrators only",
                "Your account does not have access to the admin area.",
            ),
            rx.fragment(admin_tabs(current), rx.cond(AdminState.loaded, body, _loading())),
        ),
    )


def admin_page() -> rx.Component:
    return _admin_shell("overview", "Usage, billing and users.", _dashboard())


def admin_moderation_page() -> rx.Component:
    return _admin_shell(
        "moderation", "Requests to feature images on Explore.", moderation_section()
    )
