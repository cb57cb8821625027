"""/credits: balance, packs and the account's credit activity."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from stylestudio.components.data_table import scroll_region
from stylestudio.components.layout import ACCENT, card, page_header, page_shell
from stylestudio.components.local_time import local_time
from stylestudio.components.skeleton import skeleton_block, skeleton_cards, skeleton_rows
from stylestudio.services.billing.billing import PackView
from stylestudio.state.credits import CreditsState
from stylestudio.state.session import SessionState

PACK_GRID = rx.breakpoints(initial="1", sm="2", md="4")


def _pack_card(pack: ObjectVar[PackView]) -> rx.Component:
    return card(
        rx.vstack(
            rx.text(pack.name, weight="bold", size="4"),
            rx.hstack(
                rx.text(pack.credits.to_string(), size="8", weight="bold"),
                rx.text("credits", color=rx.color("gray", 11)),
                align="baseline",
            ),
            rx.text(pack.price, size="5", weight="medium"),
            rx.text(pack.per_credit, " per credit", size="1", color=rx.color("gray", 11)),
            rx.button(
                rx.cond(CreditsState.buying == pack.code, rx.spinner(size="2")),
                "Buy",
                width="100%",
                color_scheme=ACCENT,
                disabled=CreditsState.buying != "",
                # Four buttons read "Buy": the name says which pack, how much and for what.
                aria_label="Buy "
                + pack.name
                + " — "
                + pack.credits.to_string()
                + " credits for "
                + pack.price,
                on_click=CreditsState.buy(pack.code),
                class_name="buy-pack",
                data_pack=pack.code,
            ),
            spacing="2",
            align="start",
            width="100%",
        ),
    )


def credits_page() -> rx.Component:
    return page_shell(
        page_header("Credits", "Every generation costs credits; packs top you up."),
        rx.grid(
            card(
                rx.vstack(
                    rx.text("Balance", size="2", color=rx.color("gray", 11)),
                    # Known once the page has loaded (before, "0 credits" would be a guess).
                    rx.cond(
                        CreditsState.loaded,
                        rx.text(
                            SessionState.credits_label,
                            size="8",
                            weight="bold",
                            id="credits-page-balance",
                        ),
                        skeleton_block("40px", width="160px"),
                    ),
                    rx.text(
                        "Draft 1:1 costs 1 credit; high quality and wide formats cost more.",
                        size="2",
                        color=rx.color("gray", 11),
                    ),
                    spacing="1",
                    align="start",
                ),
                background=f"linear-gradient(135deg, {rx.color(ACCENT, 2)}, white)",
            ),
            columns="1",
            width="100%",
            margin_bottom="20px",
        ),
        rx.cond(
            CreditsState.checkout_message != "",
            rx.callout(
                CreditsState.checkout_message,
                icon="receipt",
                color_scheme=CreditsState.checkout_tone,
                role="status",
                id="checkout-message",
                width="100%",
                margin_bottom="20px",
            ),
        ),
        rx.heading("Credit packs", size="5", margin_bottom="12px"),
        rx.cond(
            ~CreditsState.loaded,
            skeleton_cards(4, columns=PACK_GRID, image_height="96px", lines=1),
            rx.cond(
                CreditsState.packs.length() > 0,
                rx.grid(
                    rx.foreach(CreditsState.packs, _pack_card),
                    columns=PACK_GRID,
                    spacing="4",
                    width="100%",
                ),
                rx.text("No packs are on sale right now.", color=rx.color("gray", 11)),
            ),
        ),
        rx.heading("Activity", size="5", margin_top="32px", margin_bottom="12px"),
        card(
            rx.cond(~CreditsState.loaded, skeleton_rows(4), _activity()),
            padding="8px",
        ),
    )


def _activity() -> rx.Component:
    return rx.cond(
        CreditsState.history.length() > 0,
        # A phone scrolls the table sideways rather than cutting its last column off.
        scroll_region(_activity_table(), label="Credit activity"),
        rx.text("No credit activity yet.", color=rx.color("gray", 11), padding="12px"),
    )


def _activity_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                *[
                    # Headers may wrap ("Balance / after"): on a phone the four columns fit.
                    rx.table.column_header_cell(h)
                    for h in ("When", "What", "Change", "Balance after")
                ]
            )
        ),
        rx.table.body(
            rx.foreach(
                CreditsState.history,
                lambda h: rx.table.row(
                    rx.table.cell(local_time(h.when)),
                    rx.table.cell(
                        rx.vstack(
                            rx.text(h.kind, weight="medium"),
                            rx.text(h.description, size="1", color=rx.color("gray", 11)),
                            spacing="0",
                        )
                    ),
                    rx.table.cell(h.amount),
                    rx.table.cell(h.balance_after, white_space="nowrap"),
                ),
            )
        ),
        width="100%",
        size=rx.breakpoints(initial="1", sm="2"),
    )
