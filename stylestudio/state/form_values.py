"""Values of inputs and forms as the browser sent them, reduced to what a state keeps.

Every event handler is a public RPC: a field may arrive as anything, not only as the page
sends it."""

from __future__ import annotations


def clip_text(value: object, limit: int | None = None) -> str:
    """A text field as sent; anything but a string counts as empty. `limit` cuts it before
    it is kept (the services check the real length and say so)."""
    return (value if isinstance(value, str) else "")[:limit]


def is_checked(value: object) -> bool:
    """A checkbox in a submitted form: present ("on") when ticked, absent otherwise."""
    return value in ("on", "true", True)
