"""Times in the viewer's own time zone: the server sends ISO 8601 UTC, the browser formats."""

from __future__ import annotations

import reflex as rx

DATE_TIME = "D MMM YYYY, HH:mm"
DATE_ONLY = "D MMM YYYY"


def local_time(iso: rx.Var | str, *, with_time: bool = True, **props: object) -> rx.Component:
    """`iso` (UTC, from the service) shown in the browser's time zone; hover for the zone."""
    return rx.moment(
        date=iso,
        format=DATE_TIME if with_time else DATE_ONLY,
        local=True,
        with_title=True,
        title_format="D MMM YYYY, HH:mm:ss Z",
        class_name="local-time",
        **props,
    )
