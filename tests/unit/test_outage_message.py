"""While Redis or the database is unreachable, a failed event shows a plain message saying
so, not Reflex's "An error occurred"; any other failure still goes to Reflex's handler."""

from __future__ import annotations

import redis.exceptions
import sqlalchemy.exc

from stylestudio.state.outages import (
    OUTAGE_TITLE,
    backend_exception_handler,
    unreachable_part,
)


def _raised_from(cause: BaseException) -> Exception:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise RuntimeError("while loading the tab's state") from inner
    except RuntimeError as outer:
        return outer


def test_the_unreachable_part_is_named_through_the_chain() -> None:
    assert unreachable_part(redis.exceptions.ConnectionError("refused")) == "redis"
    assert unreachable_part(redis.exceptions.TimeoutError()) == "redis"
    down = sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed"))
    assert unreachable_part(down) == "database"
    assert unreachable_part(_raised_from(redis.exceptions.ConnectionError())) == "redis"
    assert unreachable_part(ValueError("a bug")) is None
    assert unreachable_part(redis.exceptions.ResponseError("WRONGTYPE")) is None


def test_an_outage_shows_the_plain_message_and_a_bug_the_generic_one() -> None:
    outage = str(backend_exception_handler(redis.exceptions.ConnectionError("refused")))
    assert OUTAGE_TITLE in outage and "An error occurred" not in outage
    bug = str(backend_exception_handler(ValueError("a bug")))
    assert "An error occurred" in bug and OUTAGE_TITLE not in bug
