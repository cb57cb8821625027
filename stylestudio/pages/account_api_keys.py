"""/account's Developers section: REST API keys. Bound to ApiKeysState (a section of
pages/account.py, which wraps these parts in its card)."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from stylestudio.components.layout import ACCENT
from stylestudio.components.link_button import link_button
from stylestudio.components.local_time import local_time
from stylestudio.services.accounts import api_keys
from stylestudio.services.accounts.api_keys import ApiKeyView
from stylestudio.state.api_keys import (
    SECRET_FIELD_ID,
    ApiKeysState,
    api_reference_url,
    scope_field,
)

DEFAULT_SCOPES = ("generate", "read")
# Reads the secret from the field the server's event filled: it never passes through state.
# Says so in a live region beside it (no toast: nothing of it goes through the server).
_COPIED_ID = "api-key-copied"
_COPY_SECRET = (
    f"(() => {{ const field = document.getElementById('{SECRET_FIELD_ID}');"
    f" const said = document.getElementById('{_COPIED_ID}');"
    " if (!field || !navigator.clipboard) return; field.select();"
    " navigator.clipboard.writeText(field.value).then("
    " () => { if (said) said.textContent = 'Copied to the clipboard.'; },"
    " () => { if (said) said.textContent = 'Select the key and copy it yourself.'; }); })()"
)
_FORGET_COPIED = f"document.getElementById('{_COPIED_ID}').textContent = ''"
_LABEL_STYLE = {"fontWeight": "500", "fontSize": "14px"}
_MUTED = rx.color("gray", 11)


def _intro() -> rx.Component:
    return rx.vstack(
        rx.text(
            "API keys let your own scripts and systems use Style Studio without the browser: "
            "upload product photos, start generations and download the results. A key acts "
            "as you, within the scopes you give it, and generations it starts spend your "
            "credits: keep it secret, like a password.",
            size="2",
            color=_MUTED,
        ),
        link_button(
            rx.icon("book-open", size=15),
            "API reference",
            href=api_reference_url(),
            is_external=True,
            link_props={"id": "api-reference"},
            variant="soft",
            size="1",
        ),
        spacing="2",
        align="start",
        width="100%",
    )


def _message() -> rx.Component:
    return rx.cond(
        ApiKeysState.message != "",
        rx.callout(
            ApiKeysState.message,
            icon=rx.cond(ApiKeysState.failed, "triangle-alert", "circle-check"),
            color_scheme=rx.cond(ApiKeysState.failed, "red", "green"),
            size="1",
            id="api-keys-message",
            width="100%",
        ),
    )


def _new_secret() -> rx.Component:
    """Always mounted (hidden until a key is created), so the server's `set_value` finds the
    field as soon as it arrives."""
    return rx.box(
        rx.vstack(
            rx.callout(
                "Copy this key now: it will not be shown again.",
                icon="key-round",
                color_scheme="amber",
                size="1",
                width="100%",
            ),
            rx.el.label(
                "New key “",
                ApiKeysState.created_name,
                "”",
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
                    rx.icon("copy", size=15),
                    "Copy",
                    type="button",
                    variant="soft",
                    color_scheme=ACCENT,
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
                    id="api-key-done",
                    on_click=[
                        rx.set_value(SECRET_FIELD_ID, ""),
                        rx.call_script(_FORGET_COPIED),
                        ApiKeysState.dismiss_secret,
                    ],
                ),
                rx.text(
                    "", id=_COPIED_ID, aria_live="polite", size="1", color=rx.color("green", 11)
                ),
                spacing="3",
                align="center",
            ),
            spacing="3",
            width="100%",
            align="start",
        ),
        id="new-api-key",
        display=rx.cond(ApiKeysState.created_prefix != "", "block", "none"),
        width="100%",
        padding="14px",
        border=f"1px solid {rx.color('amber', 6)}",
        border_radius="10px",
        background=rx.color("amber", 2),
    )


def _scope_choice(scope: str, description: str) -> rx.Component:
    field_id = "api-key-" + scope_field(scope).replace("_", "-")
    return rx.hstack(
        rx.checkbox(
            id=field_id,
            name=scope_field(scope),
            default_checked=scope in DEFAULT_SCOPES,
            margin_top="3px",
        ),
        rx.el.label(
            rx.code(scope, size="1"),
            rx.text(description, size="1", color=_MUTED, as_="span", display="block"),
            html_for=field_id,
            style={"cursor": "pointer"},
        ),
        spacing="2",
        align="start",
    )


def _create_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.vstack(
                rx.el.label("Key name", html_for="api-key-name", style=_LABEL_STYLE),
                rx.input(
                    id="api-key-name",
                    name="name",
                    max_length=api_keys.NAME_MAX,
                    placeholder="e.g. Catalogue sync",
                    auto_complete="off",
                    width="100%",
                    max_width="360px",
                ),
                spacing="1",
                align="start",
                width="100%",
            ),
            rx.el.fieldset(
                rx.el.legend("Scopes", style={**_LABEL_STYLE, "marginBottom": "6px"}),
                rx.vstack(
                    *[_scope_choice(s, d) for s, d in api_keys.SCOPES.items()],
                    spacing="2",
                ),
                style={"border": "none", "padding": "0", "margin": "0", "minWidth": "0"},
            ),
            rx.button("Create key", type="submit", color_scheme=ACCENT),
            spacing="3",
            align="start",
            width="100%",
        ),
        on_submit=ApiKeysState.create_key,
        reset_on_submit=False,
        key=ApiKeysState.revision.to_string() + "-api-key",
        id="create-api-key",
        width="100%",
    )


def _revoke(key: ObjectVar[ApiKeyView]) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(
                "Revoke",
                size="1",
                variant="soft",
                color_scheme="red",
                aria_label="Revoke key " + key.name.to(str),
            ),
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Revoke this key?"),
            rx.alert_dialog.description(
                "Scripts using “",
                key.name,
                "” (",
                key.prefix,
                "…) stop working at once. This cannot be undone.",
                size="2",
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(
                        "Revoke key", color_scheme="red", on_click=ApiKeysState.revoke_key(key.id)
                    )
                ),
                spacing="3",
                justify="end",
                margin_top="16px",
            ),
            max_width="420px",
        ),
    )


def _key_row(key: ObjectVar[ApiKeyView]) -> rx.Component:
    revoked = key.status == "revoked"
    return rx.vstack(
        rx.hstack(
            rx.icon("key-round", size=16, color=_MUTED, flex_shrink="0"),
            rx.text(key.name, size="2", weight="medium", min_width="0", word_break="break-word"),
            rx.cond(
                revoked,
                rx.badge("Revoked", color_scheme="gray", variant="soft"),
                rx.badge("Active", color_scheme="green", variant="soft"),
            ),
            rx.spacer(),
            rx.cond(revoked, rx.fragment(), _revoke(key)),
            width="100%",
            align="center",
            spacing="2",
        ),
        rx.hstack(
            rx.code(key.prefix + "…", size="1"),
            rx.foreach(
                key.scopes,
                lambda scope: rx.badge(scope, variant="outline", color_scheme="gray"),
            ),
            spacing="2",
            wrap="wrap",
            align="center",
        ),
        rx.text(
            "Created ",
            local_time(key.created_at),
            " · ",
            rx.cond(
                key.last_used_at != "",
                rx.fragment(
                    "last used ",
                    local_time(key.last_used_at),
                    rx.cond(key.last_used_ip != "", " from " + key.last_used_ip.to(str), ""),
                ),
                "never used",
            ),
            size="1",
            color=_MUTED,
        ),
        spacing="1",
        width="100%",
        padding_y="8px",
        border_top=f"1px solid {rx.color('gray', 4)}",
        opacity=rx.cond(revoked, "0.6", "1"),
        class_name="api-key",
        data_status=key.status,
    )


def _key_list() -> rx.Component:
    return rx.vstack(
        rx.heading("Your keys", size="3", as_="h3"),
        rx.cond(
            ApiKeysState.keys.length() > 0,
            rx.foreach(ApiKeysState.keys, _key_row),
            rx.text("No keys yet.", size="2", color=_MUTED),
        ),
        spacing="2",
        width="100%",
        id="api-keys",
    )


def developers() -> list[rx.Component]:
    """The Developers card's content (pages/account.py gives it its heading and card)."""
    return [
        _intro(),
        _message(),
        _new_secret(),
        _create_form(),
        rx.separator(),
        _key_list(),
    ]
