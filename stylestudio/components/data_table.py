"""A table of rows from a state var: headers, then one row per item."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx
from reflex.vars import ArrayVar


def data_table(
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


def scroll_region(table: rx.Component, *, label: str) -> rx.Component:
    """A table that may be wider than the screen: scrolls sideways in a named region that
    the keyboard can reach (arrow keys scroll it once focused)."""
    return rx.box(
        table,
        class_name="scroll-region",
        overflow_x="auto",
        width="100%",
        max_width="100%",
        min_width="0",  # a flex or grid item may shrink below its table's width, and scroll
        tab_index=0,
        role="region",
        aria_label=label,
    )
