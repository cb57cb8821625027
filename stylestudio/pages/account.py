"""/account: the user's own account."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from stylestudio.api.auth_routes import export_url
from stylestudio.components.layout import ACCENT, card, page_header, page_shell
from stylestudio.components.link_button import link_button
from stylestudio.components.local_time import local_time
from stylestudio.pages.account_api_keys import developers
from stylestudio.pages.account_webhooks import webhooks
from stylestudio.services.accounts import accounts
from stylestudio.services.accounts.account_self_service import SessionRow, SignInMethod
from stylestudio.state.account import AccountState


def _message() -> rx.Component:
    return rx.cond(
        AccountState.message != "",
        rx.callout(
            AccountState.message,
            icon=rx.cond(AccountState.failed, "triangle-alert", "circle-check"),
            color_scheme=rx.cond(AccountState.failed, "red", "green"),
            size="1",
            id="account-message",
            width="100%",
        ),
    )


def _section(title: str, *children: rx.Component, **props: Any) -> rx.Component:
    return card(
        rx.vstack(rx.heading(title, size="4"), *children, spacing="3", width="100%"),
        width="100%",
        **props,
    )


def _profile() -> rx.Component:
    return _section(
        "Profile",
        rx.cond(
            ~AccountState.verified,
            rx.callout.root(
                rx.callout.icon(rx.icon("mail-warning")),
                rx.callout.text(
                    "Your email address is not verified yet: open the link we sent you. "
                ),
                rx.button(
                    "Send the link again",
                    size="1",
                    variant="soft",
                    on_click=AccountState.resend_verification,
                ),
                color_scheme="amber",
                width="100%",
                id="verify-email-callout",
            ),
        ),
        rx.text(
            "Your name is shown on images you publish to Explore.",
            size="2",
            color=rx.color("gray", 11),
        ),
        rx.form(
            rx.hstack(
                _labelled(
                    "Name",
                    "account-name",
                    rx.input(
                        id="account-name",
                        name="name",
                        default_value=AccountState.name,
                        max_length=200,
                        placeholder="Your name",
                        width="280px",
                    ),
                ),
                rx.button("Save name", type="submit", variant="soft", color_scheme=ACCENT),
                spacing="3",
                align="end",
                wrap="wrap",
            ),
            on_submit=AccountState.save_name,
            reset_on_submit=False,
            key=AccountState.revision.to_string() + "-name",
        ),
    )


def _labelled(label: str, field_id: str, control: rx.Component) -> rx.Component:
    """A field with its label shown above it (a placeholder vanishes once typing starts)."""
    return rx.vstack(
        # rx.el.label: Radix's Text drops `html_for`, which would leave the field unnamed.
        rx.el.label(label, html_for=field_id, style={"fontWeight": "500", "fontSize": "14px"}),
        control,
        spacing="1",
        align="start",
    )


def _password() -> rx.Component:
    return _section(
        "Password",
        rx.form(
            rx.hstack(
                _labelled(
                    "Current password",
                    "current-password",
                    rx.input(
                        id="current-password",
                        name="current_password",
                        type="password",
                        auto_complete="current-password",
                        max_length=accounts.MAX_PASSWORD_LENGTH,
                    ),
                ),
                _labelled(
                    "New password",
                    "new-password",
                    rx.input(
                        id="new-password",
                        name="new_password",
                        type="password",
                        auto_complete="new-password",
                        max_length=accounts.MAX_PASSWORD_LENGTH,
                    ),
                ),
                rx.button("Change password", type="submit", variant="soft", color_scheme=ACCENT),
                spacing="3",
                align="end",
                wrap="wrap",
            ),
            on_submit=AccountState.change_password,
            reset_on_submit=True,
        ),
    )


def _session_row(row: ObjectVar[SessionRow]) -> rx.Component:
    return rx.hstack(
        rx.icon("monitor-smartphone", size=16, color=rx.color("gray", 11), flex_shrink="0"),
        rx.vstack(
            rx.hstack(
                rx.text(row.device, size="2", weight="medium"),
                rx.cond(
                    row.current,
                    rx.badge("This browser", color_scheme="green", variant="soft"),
                ),
                spacing="2",
            ),
            rx.text(
                "Last seen ",
                local_time(row.last_seen_at),
                rx.cond(row.ip_address != "", " · " + row.ip_address, ""),
                size="1",
                color=rx.color("gray", 11),
            ),
            spacing="0",
            align="start",
        ),
        rx.spacer(),
        rx.button(
            "Sign out",
            size="1",
            variant="soft",
            color_scheme="gray",
            on_click=AccountState.revoke(row.id),
        ),
        width="100%",
        align="center",
        class_name="session-row",
    )


def _sessions() -> rx.Component:
    return _section(
        "Signed-in browsers",
        rx.foreach(AccountState.sessions, _session_row),
        rx.button(
            "Sign out everywhere",
            variant="soft",
            color_scheme="red",
            on_click=AccountState.sign_out_everywhere,
        ),
        id="sessions",
    )


def _method_row(method: ObjectVar[SignInMethod]) -> rx.Component:
    return rx.hstack(
        rx.icon(
            rx.cond(method.subject == "", "key-round", "log-in"),
            size=16,
            color=rx.color("gray", 11),
            flex_shrink="0",  # a long email must not squeeze it away on a phone
        ),
        rx.vstack(
            rx.hstack(
                rx.text(method.provider, size="2", weight="medium"),
                rx.text(method.email, size="2"),
                rx.cond(
                    method.verified,
                    rx.badge("verified", color_scheme="green", variant="soft"),
                    rx.badge("not verified", color_scheme="amber", variant="soft"),
                ),
                spacing="2",
                wrap="wrap",
                align="center",
            ),
            rx.cond(
                method.subject != "",
                rx.text(
                    "Account ID at the provider: ",
                    rx.code(method.subject, size="1"),
                    " · added ",
                    local_time(method.added_at),
                    rx.cond(method.last_used_at != "", " · last used ", ""),
                    rx.cond(method.last_used_at != "", local_time(method.last_used_at), ""),
                    size="1",
                    color=rx.color("gray", 11),
                ),
                rx.text("Your email address and password", size="1", color=rx.color("gray", 11)),
            ),
            spacing="1",
            align="start",
            min_width="0",
        ),
        rx.spacer(),
        rx.button(
            "Remove",
            size="1",
            variant="soft",
            color_scheme="red",
            disabled=~method.removable,
            title=rx.cond(
                method.removable, "Remove this way to sign in", "Your only way to sign in"
            ),
            aria_label="Remove " + method.provider.to(str) + " " + method.email.to(str),
            on_click=AccountState.remove_method(method.key),
        ),
        width="100%",
        align="center",
        class_name="sign-in-method",
        data_key=method.key,
    )


def _methods() -> rx.Component:
    return _section(
        "Sign-in methods",
        rx.text(
            "Remove any you do not recognise: your other sessions end with it. Your last way "
            "to sign in cannot be removed.",
            size="2",
            color=rx.color("gray", 11),
        ),
        rx.foreach(AccountState.methods, _method_row),
        id="sign-in-methods",
    )


def _developers() -> rx.Component:
    return _section("Developers", *developers(), id="developers")


def _webhooks() -> rx.Component:
    return _section("Webhooks", *webhooks(), id="webhooks")


def _data() -> rx.Component:
    return _section(
        "Your data",
        rx.text(
            "A zip of every image you uploaded or generated, with your generations, "
            "purchases and credit history as JSON.",
            size="2",
            color=rx.color("gray", 11),
        ),
        link_button(
            rx.icon("download", size=15),
            "Export my data",
            href=export_url(),
            is_external=True,
            link_props={"id": "export-data"},
            variant="soft",
        ),
        rx.separator(),
        rx.text(
            "Delete account: your images and their files, generations, collections, share "
            "links and sessions are removed. Purchases and the credit ledger are kept, "
            "anonymised, for the books. This cannot be undone.",
            size="2",
            color=rx.color("gray", 11),
        ),
        rx.form(
            rx.hstack(
                _labelled(
                    "Type your email to confirm",
                    "confirm-email",
                    rx.input(
                        id="confirm-email",
                        name="confirm_email",
                        type="email",
                        auto_complete="off",
                        width="300px",
                    ),
                ),
                rx.button("Delete account", type="submit", color_scheme="red"),
                spacing="3",
                align="end",
                wrap="wrap",
            ),
            on_submit=AccountState.delete_account,
            reset_on_submit=False,
        ),
    )


def account_page() -> rx.Component:
    return page_shell(
        page_header("Account", AccountState.user_email),
        rx.vstack(
            _message(),
            rx.cond(
                AccountState.loaded,
                rx.vstack(
                    _profile(),
                    _password(),
                    _sessions(),
                    _methods(),
                    _developers(),
                    _webhooks(),
                    _data(),
                    spacing="4",
                    width="100%",
                ),
                rx.skeleton(rx.box(height="320px", width="100%"), data_testid="skeleton"),
            ),
            spacing="4",
            width="100%",
            max_width="760px",
        ),
    )
