"""/account's Webhooks section: one endpoint's latest deliveries (status, attempts, the last
answer and error) with `Replay`. Bound to WebhooksState."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from stylestudio.components.layout import ACCENT
from stylestudio.components.local_time import local_time
from stylestudio.services.integrations.webhook_log import WebhookDeliveryRow, WebhookEndpointLog
from stylestudio.state.webhooks import WebhooksState

_MUTED = rx.color("gray", 11)


def _status_badge(status: rx.Var[str]) -> rx.Component:
    return rx.match(
        status,
        ("delivered", rx.badge("delivered", color_scheme="green", variant="soft")),
        ("failed", rx.badge("failed", color_scheme="red", variant="soft")),
        rx.badge("pending", color_scheme="amber", variant="soft"),
    )


def _delivery_row(delivery: ObjectVar[WebhookDeliveryRow]) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.code(delivery.event_type, size="1"),
            _status_badge(delivery.status),
            rx.text(
                local_time(delivery.created_at),
                size="1",
                color=_MUTED,
            ),
            rx.spacer(),
            rx.button(
                rx.icon("rotate-ccw", size=14, flex_shrink="0"),
                "Replay",
                size="1",
                variant="ghost",
                color_scheme=ACCENT,
                aria_label="Replay "
                + delivery.event_type.to(str)
                + " delivery "
                + delivery.id.to_string(),
                on_click=WebhooksState.replay_delivery(delivery.id),
            ),
            spacing="2",
            wrap="wrap",
            align="center",
            width="100%",
        ),
        rx.text(
            rx.cond(
                delivery.attempts == 1,
                "1 attempt",
                delivery.attempts.to_string() + " attempts",
            ),
            rx.cond(delivery.last_result != "", " · " + delivery.last_result.to(str), ""),
            rx.cond(
                delivery.next_attempt_at != "",
                rx.fragment(" · next try ", local_time(delivery.next_attempt_at)),
                "",
            ),
            size="1",
            color=_MUTED,
        ),
        rx.cond(
            delivery.last_error != "",
            rx.text(
                delivery.last_error,
                size="1",
                color=rx.color("red", 11),
                word_break="break-word",
            ),
        ),
        spacing="1",
        width="100%",
        padding_y="6px",
        border_top=f"1px dashed {rx.color('gray', 4)}",
        class_name="webhook-delivery",
        data_status=delivery.status,
        data_event_id=delivery.event_id,
    )


def recent_deliveries(endpoint: ObjectVar[WebhookEndpointLog]) -> rx.Component:
    """The endpoint's latest deliveries, each with `Replay`."""
    return rx.vstack(
        rx.text("Recent deliveries", size="1", weight="medium"),
        rx.cond(
            endpoint.deliveries.length() > 0,
            rx.foreach(endpoint.deliveries, _delivery_row),
            rx.text(
                "None yet: events you subscribed to appear here as they are sent.",
                size="1",
                color=_MUTED,
            ),
        ),
        spacing="1",
        width="100%",
        padding_left=rx.breakpoints(initial="0", sm="24px"),
    )
