"""Times on the gallery's hot path are formatted from what the driver returns, exactly as
`utc_iso` formats datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from stylestudio.models import utc_iso
from stylestudio.services.generation.generation_views import _iso


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 30, 6, 5, 4, 123456),  # SQLite through SQLAlchemy: zone-less UTC
        datetime(2026, 11, 30, 6, 5, 4, tzinfo=UTC),  # PostgreSQL timestamptz in UTC
        datetime(2026, 11, 30, 8, 5, 4, 999999, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=-5))),  # crosses a day
        None,
    ],
)
def test_driver_values_format_like_utc_iso(value: datetime | None) -> None:
    assert _iso(value) == utc_iso(value)


def test_sqlite_text_is_read_as_utc() -> None:
    assert _iso("2026-11-30 06:05:04.123456") == "2026-11-30T06:05:04Z"
    assert _iso("2026-11-30 06:05:04") == utc_iso(datetime(2026, 11, 30, 6, 5, 4))
