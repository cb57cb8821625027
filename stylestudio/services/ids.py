"""Row ids that arrive from the browser: only a plain positive 32-bit integer is looked up
(PostgreSQL refuses anything larger with an error, not a miss)."""

from __future__ import annotations

from typing import Any, TypeGuard

MAX_ROW_ID = 2**31 - 1


def is_row_id(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ROW_ID
