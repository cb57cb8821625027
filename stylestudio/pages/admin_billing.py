"""/admin, the billing cards: packs, free-trial and refund settings, model prices; and the
purchases, each of which can be checked with the payment provider."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from stylestudio.components.data_table import data_table, scroll_region
from stylestudio.components.layout import ACCENT, card
from stylestudio.components.local_time import local_time
from stylestudio.services.admin.admin_purchases import PurchaseRow
from stylestudio.services.admin.billing_admin import EditableModelPrice, EditablePack
from stylestudio.state.admin import AdminState

PURCHASE_STATUS_COLORS = {
    "completed": "green",
    "processing": "blue",
    "pending": "amber",
    "failed": "red",
    "expired": "gray",
    "cancelled": "gray",
    "refunded": "orange",
}
# Name, credits, price, on sale, save: the pack header and every pack's form share it.
# Five columns from a small tablet up; two on a phone (the heading row is hidden there).
PACK_COLUMNS = rx.breakpoints(
    initial="1fr 1fr", sm="minmax(140px, 2fr) minmax(90px, 1fr) minmax(100px, 1fr) 90px 80px"
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


def _model_price_form(row: ObjectVar[EditableModelPrice]) -> rx.Component:
    return rx.form(
        rx.el.input(type="hidden", name="model", value=row.key),
        rx.hstack(
            rx.vstack(
                rx.text(row.label, size="2", weight="medium"),
                rx.code(row.key, size="1", variant="ghost"),
                spacing="0",
                align="start",
                min_width="240px",
            ),
            rx.input(
                rx.input.slot("×"),
                name="multiplier",
                default_value=row.multiplier,
                input_mode="decimal",
                required=True,
                aria_label=row.label + " price multiplier",
                width="110px",
            ),
            rx.button("Save", type="submit", size="2", variant="soft", color_scheme=ACCENT),
            spacing="3",
            align="center",
        ),
        on_submit=AdminState.save_model_price,
        reset_on_submit=False,
        key=AdminState.revision.to_string() + "-" + row.key,
        class_name="model-price-form",
    )


def _model_prices() -> rx.Component:
    """What each model of the configured engine costs: a multiplier of the base price
    (quality × aspect ratio), applied before rounding up."""
    return rx.vstack(
        rx.text("Model prices", size="2", weight="bold"),
        rx.text(
            "A generation costs quality × aspect ratio × the model's multiplier, rounded up, "
            "per variation.",
            size="1",
            color=rx.color("gray", 11),
        ),
        rx.foreach(AdminState.model_prices, _model_price_form),
        spacing="2",
        width="100%",
        align="start",
        id="model-prices",
    )


def billing_card() -> rx.Component:
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
                display=rx.breakpoints(initial="none", sm="grid"),
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
            rx.separator(size="4", margin_y="8px"),
            _model_prices(),
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


def purchases_card() -> rx.Component:
    return card(
        rx.vstack(
            rx.heading("Purchases", size="4"),
            _message(AdminState.purchase_message, AdminState.purchase_failed, "purchase-message"),
            rx.cond(
                AdminState.purchases.length() > 0,
                scroll_region(
                    data_table(
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
                    label="Purchases",
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
