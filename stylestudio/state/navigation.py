"""Going to one of the backend's own routes from a handler."""

from __future__ import annotations

import json

import reflex as rx
from reflex.event import EventSpec


def load_document(url: str) -> EventSpec:
    """Go to `url` (a backend route: the sign-in nonce, a sign-in ticket, the signed-out page)
    with a full page load. `rx.redirect` navigates inside the single-page app when the URL is
    on the page's own host, as it is in production, where the pages and the backend share one
    address: the request would never reach the backend."""
    return rx.call_script(f"window.location.assign({json.dumps(url)})")
