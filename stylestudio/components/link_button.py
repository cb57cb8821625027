"""A link that looks like a button: one element, the link, with the button's look and size
(a button inside a link is two nested controls, and the link's own box can be a few pixels
high while the button around the text is what one sees)."""

from __future__ import annotations

from typing import Any

import reflex as rx


def link_button(
    *children: rx.Component | str | rx.Var,
    href: str | rx.Var,
    is_external: bool = False,
    link_props: dict[str, Any] | None = None,
    **button_props: Any,
) -> rx.Component:
    """`children` inside an `<a href>` styled by `rx.button(**button_props)`; `link_props`
    (id, class_name, data_...) go on the link itself."""
    # The link and the button become one element: they must agree on the colour, or the
    # link's (the accent) wins.
    scheme = {k: v for k, v in button_props.items() if k == "color_scheme"}
    return rx.button(
        rx.link(
            *children,
            href=href,
            is_external=is_external,
            underline="none",
            **scheme,
            **(link_props or {}),
        ),
        as_child=True,
        **button_props,
    )
