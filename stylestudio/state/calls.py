"""Running one service call in a worker thread inside its own transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlmodel import Session

from stylestudio.db import session_scope

T = TypeVar("T")


async def in_session(fn: Callable[[Session], T], *, write: bool = True) -> T:
    """`fn(session)` in a thread, committed on success: the event loop never waits on the DB."""

    def run() -> T:
        with session_scope(write=write) as session:
            return fn(session)

    return await asyncio.to_thread(run)
