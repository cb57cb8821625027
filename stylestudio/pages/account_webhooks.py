"""/account's Webhooks section: endpoints and their deliveries. Bound to WebhooksState (a
section of pages/account.py, which wraps these parts in its card)."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from stylestudio.components.layout import ACCENT
from stylestudio.components.link_button import link_button
from stylestudio.components.local_time import local_time
from stylestudio.pages.account_webhook_deliveries import recent_deliveries
from stylestudio.services.integrations import webhook_endpoints, webhook_targets
from stylestudio.services.integrations.webhook_log import WebhookEndpointLog
from stylestudio.state.api_keys import api_reference_url
from stylestudio.state.webhooks import (
    SECRET_FIELD_ID,
    SECRET_PANEL_ID,
    WebhooksState,
    event_field,
)

DEFAULT_EVENTS = ("generation.completed", "generation.failed")
# Reads the secret from the field the server's event filled: it never passes through state.
_COPIED_ID = "webhook-secret-copied"
_COPY_SECRET = (
    f"(() => {{ const field = document.getElementById('{SECRET_FIELD_ID}');"
    f" const said = document.getElementById('{_COPIED_ID}');"
    " if (!field || !navigator.clipboard) return; field.select();"
    " navigator.clipboard.writeText(field.value).then("
    " () => { if (said) said.textContent = 'Copied to the clipboard.'; },"
    " () => { if (said) said.textContent = 'Select the secret and copy it yourself.'; }); })()"
)
_FORGET_COPIED = f"document.getElementById('{_COPIED_ID}').textContent = ''"
_LABEL_STYLE = {"fontWeight": "500", "fontSize": "14px"}
_MUTED = rx.color("gray", 11)


def _intro() -> rx.Component:
    return rx.text(
        "Webhooks tell your own systems when something happens, without polling: Style "
        "Studio POSTs a JSON event to each endpoint that subscribed to it, signed, and "
        "retries for a day if the endpoint does not answer 2xx.",
        size="2",
        color=_MUTED,
    )


def _verify_help() -> rx.Component:
    return rx.vstack(
        rx.text(
            "Verify every request before trusting it: deliveries follow the Standard Webhooks "
            "scheme, with the headers ",
            rx.code("webhook-id", size="1"),
            ", ",
            rx.code("webhook-timestamp", size="1"),
            " and ",
            rx.code("webhook-signature", size="1"),
            ". Any Standard Webhooks library checks them with the secret, e.g. in Python ",
            rx.code("Webhook(secret).verify(body, headers)", size="1", word_break="break-all"),
            " from ",
            rx.code("standardwebhooks", size="1"),
            ". A retry or a replay keeps its webhook-id: drop the ones you have seen.",
            size="1",
            color=_MUTED,
        ),
        link_button(
            rx.icon("book-open", size=15),
            "API reference",
            href=api_reference_url(),
            is_external=True,
            link_props={"id": "webhooks-api-reference"},
            variant="soft",
            size="1",
        ),
        spacing="2",
        align="start",
        width="100%",
    )


def _message() -> rx.Component:
    return rx.cond(
        WebhooksState.message != "",
        rx.callout(
            WebhooksState.message,
            icon=rx.cond(WebhooksState.failed, "triangle-alert", "circle-check"),
            color_scheme=rx.cond(WebhooksState.failed, "red", "green"),
            size="1",
            id="webhooks-message",
            width="100%",
        ),
    )


def _secret_panel() -> rx.Component:
    """Always mounted (hidden until a secret is sent), so the server's `set_value` finds
    the field as soon as it arrives."""
    return rx.box(
        rx.vstack(
            rx.callout(
                WebhooksState.secret_note,
                icon="key-round",
                color_scheme="amber",
                size="1",
                width="100%",
            ),
            rx.el.label(
                "Signing secret for ",
                rx.text(WebhooksState.secret_url, as_="span", word_break="break-all"),
                html_for=SECRET_FIELD_ID,
                style=_LABEL_STYLE,
            ),
            rx.hstack(
                rx.input(
                    id=SECRET_FIELD_ID,
                    read_only=True,
                    auto_complete="off",
                    spell_check=False,
                    font_family="monospace",
                    width="100%",
                    min_width="0",
                    on_focus=rx.call_script(
                        f"document.getElementById('{SECRET_FIELD_ID}').select()"
                    ),
                ),
                rx.button(
                    rx.icon("copy", size=15, flex_shrink="0"),
                    "Copy",
                    type="button",
                    variant="soft",
                    color_scheme=ACCENT,
                    aria_label="Copy the signing secret",
                    on_click=rx.call_script(_COPY_SECRET),
                ),
                spacing="2",
                width="100%",
                align="center",
            ),
            rx.hstack(
                rx.button(
                    "Done",
                    type="button",
                    id="webhook-secret-done",
                    aria_label="Done with the signing secret",
                    on_click=[
                        rx.set_value(SECRET_FIELD_ID, ""),
                        rx.call_script(_FORGET_COPIED),
                        WebhooksState.dismiss_secret,
                    ],
                ),
                rx.text(
                    "", id=_COPIED_ID, aria_live="polite", size="1", color=rx.color("green", 11)
                ),
                spacing="3",
                align="center",
            ),
            _verify_help(),
            spacing="3",
            width="100%",
            align="start",
        ),
        id=SECRET_PANEL_ID,
        display=rx.cond(WebhooksState.secret_url != "", "block", "none"),
        width="100%",
        padding="14px",
        border=f"1px solid {rx.color('amber', 6)}",
        border_radius="10px",
        background=rx.color("amber", 2),
    )


def _event_choice(event_type: str, description: str) -> rx.Component:
    field_id = "webhook-" + event_field(event_type).replace("_", "-")
    return rx.hstack(
        rx.checkbox(
            id=field_id,
            name=event_field(event_type),
            default_checked=event_type in DEFAULT_EVENTS,
            margin_top="3px",
        ),
        rx.el.label(
            rx.code(event_type, size="1"),
            rx.text(description, size="1", color=_MUTED, as_="span", display="block"),
            html_for=field_id,
            style={"cursor": "pointer"},
        ),
        spacing="2",
        align="start",
    )


def _add_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.vstack(
                rx.el.label("Endpoint URL", html_for="webhook-url", style=_LABEL_STYLE),
                rx.input(
                    id="webhook-url",
                    name="url",
                    type="url",
                    max_length=webhook_targets.URL_MAX,
                    placeholder="https://example.com/hooks/style-studio",
                    auto_complete="off",
                    spell_check=False,
                    width="100%",
                    max_width="480px",
                ),
                spacing="1",
                align="start",
                width="100%",
            ),
            rx.el.fieldset(
                rx.el.legend("Events to send", style={**_LABEL_STYLE, "marginBottom": "6px"}),
                rx.vstack(
                    *[_event_choice(e, d) for e, d in webhook_endpoints.EVENT_TYPES.items()],
                    spacing="2",
                ),
                style={"border": "none", "padding": "0", "margin": "0", "minWidth": "0"},
            ),
            rx.button("Add endpoint", type="submit", color_scheme=ACCENT),
            spacing="3",
            align="start",
            width="100%",
        ),
        on_submit=WebhooksState.add_endpoint,
        reset_on_submit=False,
        key=WebhooksState.revision.to_string() + "-webhook",
        id="add-webhook",
        width="100%",
    )


def _confirmed(
    trigger: rx.Component, title: str, description: rx.Component, action: rx.Component
) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(trigger),
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            description,
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(action),
                spacing="3",
                justify="end",
                margin_top="16px",
            ),
            max_width="440px",
        ),
    )


def _rotate(endpoint: ObjectVar[WebhookEndpointLog]) -> rx.Component:
    return _confirmed(
        rx.button(
            rx.icon("refresh-cw", size=14, flex_shrink="0"),
            "Rotate secret",
            size="1",
            variant="soft",
            color_scheme="gray",
            aria_label="Rotate the signing secret of " + endpoint.url.to(str),
        ),
        "Rotate the signing secret?",
        rx.alert_dialog.description(
            "Deliveries to ",
            rx.text(endpoint.url, as_="span", word_break="break-all"),
            " are signed with a new secret from now on; the current one stops verifying. "
            "Put the new secret in your receiver.",
            size="2",
        ),
        rx.button(
            "Rotate secret",
            color_scheme="red",
            on_click=WebhooksState.rotate_secret(endpoint.id),
        ),
    )


def _delete(endpoint: ObjectVar[WebhookEndpointLog]) -> rx.Component:
    return _confirmed(
        rx.button(
            rx.icon("trash-2", size=14, flex_shrink="0"),
            "Delete",
            size="1",
            variant="soft",
            color_scheme="red",
            aria_label="Delete endpoint " + endpoint.url.to(str),
        ),
        "Delete this endpoint?",
        rx.alert_dialog.description(
            "Nothing more is sent to ",
            rx.text(endpoint.url, as_="span", word_break="break-all"),
            ", and its delivery log goes with it. This cannot be undone.",
            size="2",
        ),
        rx.button(
            "Delete endpoint",
            color_scheme="red",
            on_click=WebhooksState.delete_endpoint(endpoint.id),
        ),
    )


def _row_message(endpoint: ObjectVar[WebhookEndpointLog]) -> rx.Component:
    return rx.cond(
        (WebhooksState.row_endpoint_id == endpoint.id) & (WebhooksState.row_message != ""),
        rx.callout(
            WebhooksState.row_message,
            icon=rx.cond(WebhooksState.row_failed, "triangle-alert", "circle-check"),
            color_scheme=rx.cond(WebhooksState.row_failed, "red", "green"),
            size="1",
            width="100%",
            class_name="webhook-row-message",
        ),
    )


def _endpoint_row(endpoint: ObjectVar[WebhookEndpointLog]) -> rx.Component:
    disabled = endpoint.status == "disabled"
    return rx.vstack(
        rx.hstack(
            rx.icon("webhook", size=16, color=_MUTED, flex_shrink="0"),
            rx.text(
                endpoint.url,
                size="2",
                weight="medium",
                min_width="0",
                flex="1",
                word_break="break-all",
                class_name="webhook-url",
            ),
            rx.cond(
                disabled,
                rx.badge("Paused", color_scheme="gray", variant="soft"),
                rx.badge("Active", color_scheme="green", variant="soft"),
            ),
            width="100%",
            align="center",
            spacing="2",
        ),
        rx.hstack(
            rx.foreach(
                endpoint.events,
                lambda event: rx.badge(event, variant="outline", color_scheme="gray"),
            ),
            spacing="2",
            wrap="wrap",
            align="center",
        ),
        rx.text(
            "Added ",
            local_time(endpoint.created_at),
            rx.cond(
                endpoint.failed_deliveries > 0,
                " · " + endpoint.failed_deliveries.to_string() + " failed",
                "",
            ),
            rx.cond(
                endpoint.pending_deliveries > 0,
                " · " + endpoint.pending_deliveries.to_string() + " waiting",
                "",
            ),
            size="1",
            color=_MUTED,
        ),
        rx.hstack(
            rx.button(
                rx.icon("eye", size=14, flex_shrink="0"),
                "Reveal secret",
                size="1",
                variant="soft",
                color_scheme="gray",
                aria_label="Reveal the signing secret of " + endpoint.url.to(str),
                on_click=WebhooksState.reveal_secret(endpoint.id),
            ),
            rx.button(
                rx.cond(
                    disabled,
                    rx.icon("play", size=14, flex_shrink="0"),
                    rx.icon("pause", size=14, flex_shrink="0"),
                ),
                rx.cond(disabled, "Resume", "Pause"),
                size="1",
                variant="soft",
                color_scheme="gray",
                aria_label=rx.cond(disabled, "Resume endpoint ", "Pause endpoint ")
                + endpoint.url.to(str),
                on_click=WebhooksState.set_paused(endpoint.id, ~disabled),
                class_name="webhook-pause",
            ),
            _rotate(endpoint),
            _delete(endpoint),
            spacing="2",
            wrap="wrap",
        ),
        _row_message(endpoint),
        recent_deliveries(endpoint),
        spacing="2",
        width="100%",
        padding_y="10px",
        border_top=f"1px solid {rx.color('gray', 4)}",
        class_name="webhook-endpoint",
        data_status=endpoint.status,
        data_id=endpoint.id,
    )


def _endpoint_list() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Your endpoints", size="3", as_="h3"),
            rx.spacer(),
            rx.button(
                rx.icon("refresh-cw", size=14, flex_shrink="0"),
                "Refresh",
                size="1",
                variant="ghost",
                aria_label="Refresh the deliveries",
                on_click=WebhooksState.refresh,
            ),
            width="100%",
            align="center",
        ),
        rx.cond(
            WebhooksState.endpoints.length() > 0,
            rx.foreach(WebhooksState.endpoints, _endpoint_row),
            rx.text("No endpoints yet.", size="2", color=_MUTED),
        ),
        spacing="2",
        width="100%",
        id="webhook-endpoints",
    )


def webhooks() -> list[rx.Component]:
    """The Webhooks card's content (pages/account.py gives it its heading and card)."""
    return [
        _intro(),
        _message(),
        _secret_panel(),
        _add_form(),
        rx.separator(),
        _endpoint_list(),
    ]
