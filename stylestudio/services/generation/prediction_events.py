"""Replicate's webhook deliveries, once verified: each `webhook-id` is applied at most once,
and a completion goes through the same settlement as the worker's polling (whichever comes
first makes the one terminal transition; the other changes nothing)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.engine import Engine

from stylestudio.adapters.replicate_engine import Prediction, PredictionEngine
from stylestudio.adapters.storage import MediaStorage
from stylestudio.db import session_scope
from stylestudio.services.billing.checkout import _seen, record_event
from stylestudio.services.generation.generation_predictions import (
    generation_for_prediction,
    settle_prediction,
)

PROVIDER = "replicate"


def _already_seen(db: Engine, webhook_id: str) -> bool:
    with session_scope(db, write=False) as session:
        return _seen(session, provider=PROVIDER, event_id=webhook_id)


def _remember(db: Engine, webhook_id: str, status: str) -> None:
    with session_scope(db) as session:
        record_event(session, provider=PROVIDER, event_id=webhook_id, event_type=status)


async def _in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def handle_prediction_event(
    *,
    db: Engine,
    storage: MediaStorage,
    engine: PredictionEngine,
    webhook_id: str,
    payload: dict[str, Any],
) -> str:
    """Apply one verified delivery; say what happened. Raises on a failure that should be
    redelivered (nothing is remembered then)."""
    if await asyncio.to_thread(_already_seen, db, webhook_id):
        return "duplicate"
    prediction = Prediction.from_payload(payload)
    owner = await asyncio.to_thread(generation_for_prediction, db, prediction.id)
    if owner is None:
        result = "unknown prediction"
    elif not prediction.terminal:
        result = "not finished"
    elif not owner.open:
        result = "already ended"
    else:
        applied = await settle_prediction(
            prediction,
            db=db,
            storage=storage,
            engine=engine,
            generation_id=owner.generation_id,
            user_id=owner.user_id,
            lease=None,
            blocking=_in_thread,
        )
        result = "applied" if applied else "already ended"
    await asyncio.to_thread(_remember, db, webhook_id, prediction.status)
    return result
