"""Events for the users' webhook endpoints, written to the outbox in the caller's
transaction: a delivery row exists for each subscribed, active endpoint exactly when the
change that caused the event commits (and never when it rolls back).

A payload is `{id, type, created_at, data}`; `id` is the `msg_…` sent as `webhook-id` on
every attempt, so a receiver can drop repeats. Payloads carry ids and facts, never secrets
or expiring URLs (the REST API hands out those).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from stylestudio.models import (
    Generation,
    GenerationStatus,
    Purchase,
    WebhookDelivery,
    WebhookEndpoint,
    utc_iso,
    utcnow,
)
from stylestudio.services.integrations.webhook_endpoints import EVENT_TYPES

# How long a delivery is retried after its event before it is given up as failed.
RETRY_WINDOW = timedelta(hours=24)


def new_event_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def enqueue_event(
    session: Session,
    *,
    user_id: int,
    event_type: str,
    data: dict[str, Any],
    now: datetime | None = None,
) -> int:
    """Queue one delivery of the event per active endpoint of `user_id` that subscribed to
    `event_type`; returns how many. Nothing is sent here (the worker sends)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    endpoints = session.exec(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(
            WebhookEndpoint.user_id == user_id, col(WebhookEndpoint.disabled_at).is_(None)
        )
    ).all()
    wanted = [eid for eid, events in endpoints if eid is not None and event_type in events.split()]
    if not wanted:
        return 0
    now = now or utcnow()
    event_id = new_event_id()
    payload = {"id": event_id, "type": event_type, "created_at": utc_iso(now), "data": data}
    for endpoint_id in wanted:
        session.add(
            WebhookDelivery(
                endpoint_id=endpoint_id,
                event_id=event_id,
                event_type=event_type,
                payload=payload,
                next_attempt_at=now,
                retry_until=now + RETRY_WINDOW,
                created_at=now,
            )
        )
    session.flush()
    return len(wanted)


def emit_generation_ended(
    session: Session, *, generation_id: int, status: GenerationStatus, error: str | None
) -> int:
    """`generation.completed` or `generation.failed` for a generation that just ended
    (a cancelled one is the user's own doing: no event). The ending's status and error are
    passed in: the caller wrote them with an UPDATE its loaded objects may not show yet."""
    event_type = {
        GenerationStatus.COMPLETED: "generation.completed",
        GenerationStatus.FAILED: "generation.failed",
    }.get(status)
    if event_type is None:
        return 0
    generation = session.get(Generation, generation_id)
    if generation is None:
        return 0
    now = utcnow()
    data: dict[str, Any] = {
        "generation_id": generation_id,
        "status": status.value,
        "style": generation.style,
        "model": generation.model,
        "quality": generation.quality,
        "aspect_ratio": generation.aspect_ratio,
        "variations": generation.variations,
        "credits_used": generation.credits_used,
        "created_at": utc_iso(generation.created_at),
        "completed_at": utc_iso(now),
    }
    if status == GenerationStatus.FAILED:
        data["error"] = error or ""
    return enqueue_event(
        session, user_id=generation.user_id, event_type=event_type, data=data, now=now
    )


def emit_credits_purchased(session: Session, *, purchase: Purchase) -> int:
    """`credits.purchased` for a purchase whose credits were just added."""
    assert purchase.id is not None
    return enqueue_event(
        session,
        user_id=purchase.user_id,
        event_type="credits.purchased",
        data={
            "purchase_id": purchase.id,
            "pack": purchase.pack_code,
            "credits": purchase.credits,
            "amount_cents": purchase.amount_cents,
            "currency": purchase.currency,
            "completed_at": utc_iso(purchase.completed_at),
        },
    )
