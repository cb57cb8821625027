"""PostgreSQL LISTEN: one connection of its own (autocommit, psycopg 3 async) that receives
the NOTIFY payloads of a channel. Idle, it sends nothing: the server pushes each
notification when the transaction that sent it commits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import psycopg
import sqlalchemy as sa
from psycopg import sql


def conninfo(database_url: str) -> str:
    """A libpq URL for psycopg from the app's SQLAlchemy URL (`postgresql+psycopg://...`)."""
    url = sa.engine.make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def listen(
    database_url: str, channel: str, *, on_listening: Callable[[], None] | None = None
) -> AsyncIterator[str]:
    """The payloads NOTIFY sends on `channel`, until the connection fails (the error is
    raised: the caller reconnects). `on_listening` runs once LISTEN is in place, so anything
    committed from then on arrives here."""
    connection = await psycopg.AsyncConnection.connect(
        conninfo(database_url),
        autocommit=True,
        # A connection cut without a FIN (a proxy, a host gone) is noticed within a minute.
        keepalives=1,
        keepalives_idle=30,
        keepalives_interval=10,
        keepalives_count=3,
        application_name="stylestudio-status-listener",
    )
    async with connection:
        await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        if on_listening is not None:
            on_listening()
        async for notification in connection.notifies():
            yield notification.payload
