"""/admin, the Audit log card: who changed what (billing, users, moderation), before → after."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from stylestudio.components.data_table import data_table, scroll_region
from stylestudio.components.layout import card
from stylestudio.components.local_time import local_time
from stylestudio.services.admin.admin_audit_log import AuditRow
from stylestudio.state.admin import AdminState


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


def audit_card() -> rx.Component:
    return card(
        rx.vstack(
            rx.heading("Audit log", size="4"),
            rx.cond(
                AdminState.audit_log.length() > 0,
                scroll_region(
                    data_table(
                        ("When", "Who", "What", "Before → after"),
                        AdminState.audit_log,
                        _audit_cells,
                    ),
                    label="Audit log",
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
