"""The frame of every page: header with navigation and balance, content column, footer."""

from __future__ import annotations

import reflex as rx

from stylestudio.components.link_button import link_button
from stylestudio.state.session import SessionState

ACCENT = "violet"
# Card grids (gallery, explore): columns by breakpoint.
CARD_GRID = rx.breakpoints(initial="1", sm="2", md="3", lg="4")
NAV = [
    ("Studio", "/upload"),
    ("Gallery", "/gallery"),
    ("Explore", "/explore"),
    ("Credits", "/credits"),
]


def brand() -> rx.Component:
    return rx.link(
        rx.hstack(
            rx.center(
                rx.icon("aperture", size=18, color="white"),
                width="32px",
                height="32px",
                border_radius="9px",
                background="linear-gradient(135deg, var(--violet-9), var(--plum-9))",
            ),
            rx.text("Style Studio", weight="bold", size="4", color=rx.color("gray", 12)),
            align="center",
            spacing="2",
        ),
        href="/",
        underline="none",
    )


def nav_link(label: str, href: str) -> rx.Component:
    return rx.link(
        label,
        href=href,
        size="2",
        weight="medium",
        color=rx.color("gray", 11),
        underline="none",
        _hover={"color": rx.color(ACCENT, 11)},
    )


# The header's links fit from a tablet's width up; narrower, they move into the menu.
WIDE_ONLY = rx.breakpoints(initial="none", sm="flex")
NARROW_ONLY = rx.breakpoints(initial="flex", sm="none")
PAGE_PADDING = rx.breakpoints(initial="16px", sm="24px")
SIGNED_OUT_NAV = [
    ("Explore", "/explore"),
    ("Sign in", "/login"),
    ("Create account", "/signup"),
]


def _menu_link(label: str, href: str) -> rx.Component:
    # Selected by click, tap or Enter, like the account menu's items (client-side routing).
    return rx.menu.item(label, on_select=rx.redirect(href), class_name="phone-nav-link")


def phone_menu() -> rx.Component:
    """On a phone, where the header's links do not fit: every page, behind one button."""
    return rx.box(
        rx.menu.root(
            rx.menu.trigger(
                rx.button(
                    rx.icon("menu", size=18),
                    variant="ghost",
                    color_scheme="gray",
                    aria_label="Menu",
                    id="phone-menu-button",
                ),
            ),
            rx.menu.content(
                rx.cond(
                    SessionState.signed_in,
                    rx.fragment(
                        *[_menu_link(label, href) for label, href in NAV],
                        rx.cond(SessionState.is_admin, _menu_link("Admin", "/admin")),
                        rx.menu.separator(),
                        _menu_link("Account", "/account"),
                    ),
                    rx.fragment(*[_menu_link(label, href) for label, href in SIGNED_OUT_NAV]),
                ),
                id="phone-menu",
                min_width="200px",
            ),
        ),
        display=NARROW_ONLY,
    )


def header() -> rx.Component:
    return rx.box(
        rx.hstack(
            brand(),
            rx.cond(
                SessionState.signed_in,
                rx.hstack(
                    *[nav_link(label, href) for label, href in NAV],
                    rx.cond(SessionState.is_admin, nav_link("Admin", "/admin")),
                    spacing="5",
                    display=WIDE_ONLY,
                ),
                rx.hstack(nav_link("Explore", "/explore"), spacing="5", display=WIDE_ONLY),
            ),
            rx.spacer(),
            rx.cond(
                SessionState.signed_in,
                rx.hstack(
                    rx.link(
                        rx.badge(
                            rx.icon("coins", size=14),
                            rx.text(SessionState.credits_label, id="credit-balance"),
                            size="2",
                            color_scheme=ACCENT,
                            variant="soft",
                            radius="full",
                            padding_x="10px",
                        ),
                        href="/credits",
                        underline="none",
                    ),
                    rx.menu.root(
                        rx.menu.trigger(
                            rx.button(
                                rx.icon("user", size=16),
                                variant="ghost",
                                color_scheme="gray",
                                aria_label="Account menu",
                            ),
                        ),
                        rx.menu.content(
                            rx.box(
                                rx.text(
                                    SessionState.user_email, size="2", color=rx.color("gray", 11)
                                ),
                                padding_x="8px",
                                padding_y="4px",
                            ),
                            rx.menu.separator(),
                            rx.menu.item("Account", on_click=rx.redirect("/account")),
                            rx.menu.item("Sign out", on_click=SessionState.sign_out),
                            rx.menu.item(
                                "Sign out everywhere", on_click=SessionState.sign_out_everywhere
                            ),
                        ),
                    ),
                    phone_menu(),
                    spacing="3",
                    align="center",
                ),
                rx.hstack(
                    link_button("Sign in", href="/login", variant="ghost", color_scheme="gray"),
                    link_button(
                        "Create account",
                        href="/signup",
                        color_scheme=ACCENT,
                        link_props={"display": WIDE_ONLY},
                    ),
                    phone_menu(),
                    spacing="4",
                    align="center",
                ),
            ),
            align="center",
            spacing=rx.breakpoints(initial="3", sm="6"),
            max_width="1180px",
            margin_x="auto",
            padding_x=PAGE_PADDING,
            height="64px",
        ),
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        background="rgba(255,255,255,0.85)",
        backdrop_filter="blur(8px)",
        position="sticky",
        top="0",
        z_index="10",
    )


def page_header(title: str, subtitle: str = "", *actions: rx.Component) -> rx.Component:
    return rx.hstack(
        rx.vstack(
            rx.heading(title, size="7", weight="bold"),
            rx.cond(subtitle != "", rx.text(subtitle, color=rx.color("gray", 11), size="3")),
            spacing="1",
            align="start",
        ),
        rx.spacer(),
        *actions,
        align="end",
        wrap="wrap",  # on a narrow screen the actions go under the title
        width="100%",
        margin_bottom="24px",
    )


def skip_link() -> rx.Component:
    """The first stop of the Tab key: straight to the page's content, past the header.
    Out of sight until it has the keyboard's focus."""
    return rx.el.a(
        "Skip to content",
        href="#main-content",
        # The fragment alone scrolls; the focus must move too, for the next Tab.
        on_click=rx.call_script("document.getElementById('main-content')?.focus()"),
        class_name="skip-link",
        position="absolute",
        left="-10000px",
        top="8px",
        z_index="100",
        padding="8px 14px",
        border_radius="8px",
        background="white",
        color=rx.color(ACCENT, 11),
        font_weight="600",
        box_shadow="0 2px 8px rgba(0,0,0,0.2)",
        _focus={"left": "8px"},
    )


def page_shell(*children: rx.Component) -> rx.Component:
    return rx.box(
        skip_link(),
        header(),
        rx.box(
            *children,
            id="main-content",
            role="main",
            tab_index=-1,  # the skip link moves the keyboard's focus here
            outline="none",
            max_width="1180px",
            margin_x="auto",
            padding_x=PAGE_PADDING,
            padding_y=rx.breakpoints(initial="20px", sm="32px"),
            min_height="calc(100vh - 128px)",
        ),
        rx.box(
            rx.text(
                "Style Studio — product photos, styled. Self-hosted.",
                size="1",
                color=rx.color("gray", 11),
            ),
            text_align="center",
            padding_y="24px",
            border_top=f"1px solid {rx.color('gray', 4)}",
        ),
        background=rx.color("gray", 2),
        min_height="100vh",
    )


def card(*children: rx.Component, **props: object) -> rx.Component:
    style: dict[str, object] = dict(
        background="white",
        border=f"1px solid {rx.color('gray', 4)}",
        border_radius="14px",
        padding="20px",
        box_shadow="0 1px 2px rgba(16,24,40,0.04)",
    )
    style.update(props)
    return rx.box(*children, **style)


def empty_state(
    icon: str, title: str, text: str, action: rx.Component | None = None
) -> rx.Component:
    return card(
        rx.vstack(
            rx.center(
                rx.icon(icon, size=28, color=rx.color(ACCENT, 9)),
                width="56px",
                height="56px",
                border_radius="16px",
                background=rx.color(ACCENT, 3),
            ),
            rx.heading(title, size="4"),
            rx.text(text, color=rx.color("gray", 11), text_align="center", max_width="420px"),
            *([action] if action is not None else []),
            align="center",
            spacing="3",
            padding_y="32px",
        ),
        width="100%",
    )


def stat_card(label: str, value: rx.Var | str | int, icon: str) -> rx.Component:
    return card(
        rx.hstack(
            rx.center(
                rx.icon(icon, size=18, color=rx.color(ACCENT, 11)),
                width="36px",
                height="36px",
                border_radius="10px",
                background=rx.color(ACCENT, 3),
            ),
            rx.vstack(
                rx.text(label, size="2", color=rx.color("gray", 11)),
                rx.text(value, size="6", weight="bold"),
                spacing="0",
                align="start",
            ),
            spacing="3",
            align="center",
        ),
    )


def header_stat(
    value: rx.Var | str | int, label: rx.Var | str, icon: str, **props: object
) -> rx.Component:
    """A small figure beside a page's title: "12 generations"."""
    return rx.hstack(
        rx.icon(icon, size=16, color=rx.color(ACCENT, 11)),
        rx.text(value, size="3", weight="bold"),
        rx.text(label, size="2", color=rx.color("gray", 11)),
        spacing="1",
        align="center",
        **props,
    )


def paged_grid(grid: rx.Component, has_more: rx.Var[bool], on_load_more: object) -> rx.Component:
    """A card grid (gallery, explore) and, while there are more, its "Load more" button."""
    return rx.vstack(
        grid,
        rx.cond(
            has_more,
            rx.button("Load more", variant="soft", on_click=on_load_more, class_name="load-more"),
        ),
        align="center",
        spacing="5",
        width="100%",
    )
