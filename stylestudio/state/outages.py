"""What a tab shows when an event fails because Redis (where Reflex keeps every tab's state)
or the database could not be reached: while one restarts, every event fails the same way, and
Reflex's default answer ("An error occurred. Contact the website administrator.") reads like a
defect in the page. This says what happened and what to do instead.

Nothing is lost by such a failure: the event did not run (Reflex could not load the tab's
state, or the service's transaction rolled back). When Redis comes back empty, Reflex
rehydrates the tab on its next event (a fresh state, the user still signed in by the session
cookie); when the database comes back, the pool's pre-ping replaces the dead connections.
"""

from __future__ import annotations

import logging

import redis.exceptions
import sqlalchemy.exc
from reflex.app import default_backend_exception_handler
from reflex.event import EventSpec
from reflex_components_sonner.toast import toast

log = logging.getLogger(__name__)

OUTAGE_TITLE = "Style Studio is reconnecting"
OUTAGE_MESSAGE = (
    "The server lost its connection to its session store or database for a moment. Nothing "
    "you saved is lost: try again in a few seconds (or reload the page)."
)
OUTAGE_TOAST_ID = "service_reconnecting"

_REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
_DATABASE_DOWN = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.DisconnectionError)


def unreachable_part(exception: BaseException) -> str | None:
    """ "redis" or "database" when `exception` (or one it was raised from) says that part
    could not be reached; None for any other failure."""
    seen: set[int] = set()
    current: BaseException | None = exception
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _REDIS_DOWN):
            return "redis"
        if isinstance(current, _DATABASE_DOWN):
            return "database"
        current = current.__cause__ or current.__context__
    return None


def backend_exception_handler(exception: Exception) -> EventSpec:
    """The app's backend exception handler: an outage gets a plain message and one warning
    line; anything else goes to Reflex's default (logged with its traceback, a generic toast
    in production)."""
    part = unreachable_part(exception)
    if part is None:
        return default_backend_exception_handler(exception)
    log.warning("event failed: %s unreachable (%s)", part, type(exception).__name__)
    return toast(
        OUTAGE_TITLE,
        level="warning",
        fallback_to_alert=True,
        description=OUTAGE_MESSAGE,
        position="top-center",
        id=OUTAGE_TOAST_ID,
    )
