"""Sending the outbox: due deliveries are leased, POSTed signed (Standard Webhooks) and
their outcome recorded; failures are retried with exponential back-off for a day.

A delivery is due while pending, past its `next_attempt_at`, on an active endpoint and not
leased. A worker leases a batch in one short transaction (PostgreSQL: FOR UPDATE SKIP
LOCKED; SQLite: the write lock taken at BEGIN), so no two workers send the same attempt; it
sends with no transaction open, then records each outcome as a compare-and-set on (its lease,
the attempt number). A worker that dies mid-send leaves a lease that expires: the attempt is
sent again (receivers drop repeats by `webhook-id`), never lost.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from standardwebhooks.webhooks import Webhook

from stylestudio.db import session_scope
from stylestudio.models import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    utc_iso,
    utcnow,
)
from stylestudio.services.errors import NotFoundError, ValidationError
from stylestudio.services.integrations.webhook_endpoints import signing_secret
from stylestudio.services.integrations.webhook_events import RETRY_WINDOW
from stylestudio.services.integrations.webhook_targets import (
    Resolver,
    pinned_request,
    resolve_host,
)

log = logging.getLogger(__name__)

BATCH_SIZE = 10
REQUEST_TIMEOUT_S = 5.0
# Longer than one attempt can take (connect, send, read: each bounded by the timeout).
LEASE_SECONDS = 60
FIRST_RETRY_S = 30.0
MAX_RETRY_S = 3600.0
ERROR_MAX = 500
USER_AGENT = "StyleStudio-Webhooks/1"


def new_http_client() -> httpx.Client:
    """The client deliveries go through: short timeouts, no redirects (a redirect would
    lead past the address check), no environment proxies."""
    return httpx.Client(
        timeout=httpx.Timeout(REQUEST_TIMEOUT_S),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )


@dataclass(frozen=True)
class Attempt:
    """One leased attempt at one delivery, with everything needed to send it."""

    delivery_id: int
    attempt: int  # the delivery's attempts, this one included
    endpoint_id: int
    url: str
    secret: str
    event_id: str
    body: str
    retry_until: datetime


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str | None
    refused: bool = False  # the target was refused (SSRF check): no retry

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class WebhookDeliveryView:
    """One delivery as a page lists it."""

    id: int
    endpoint_id: int
    event_id: str
    event_type: str
    status: str  # a WebhookDeliveryStatus value
    attempts: int
    last_status_code: int | None
    last_latency_ms: int | None
    last_error: str
    created_at: str
    last_attempt_at: str
    next_attempt_at: str  # "" unless pending
    delivered_at: str


def aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def retry_delay_s(attempt: int, *, rng: random.Random | None = None) -> float:
    """Seconds before the attempt after failed attempt number `attempt` (1-based): 30 s,
    doubling, capped at an hour, each within ±10 % so endpoints that failed together do
    not all come back at once."""
    base = min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** max(0, attempt - 1))
    return base * (rng or random).uniform(0.9, 1.1)


def claim_due(
    session: Session,
    *,
    worker_id: str,
    limit: int = BATCH_SIZE,
    lease_seconds: int = LEASE_SECONDS,
    now: datetime | None = None,
) -> list[Attempt]:
    """Lease up to `limit` due deliveries to `worker_id` (one attempt each)."""
    now = now or utcnow()
    stmt = (
        select(WebhookDelivery, WebhookEndpoint)
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == WebhookDelivery.endpoint_id)
        .where(
            col(WebhookDelivery.status) == WebhookDeliveryStatus.PENDING,
            col(WebhookDelivery.next_attempt_at) <= now,
            sa.or_(
                col(WebhookDelivery.leased_until).is_(None),
                col(WebhookDelivery.leased_until) < now,
            ),
            col(WebhookEndpoint.disabled_at).is_(None),
        )
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
        .limit(max(0, limit))
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=WebhookDelivery)
    attempts = []
    for delivery, endpoint in session.exec(stmt).all():
        assert delivery.id is not None and endpoint.id is not None
        delivery.attempts += 1
        delivery.lease_owner = worker_id
        delivery.leased_until = now + timedelta(seconds=lease_seconds)
        session.add(delivery)
        attempts.append(
            Attempt(
                delivery_id=delivery.id,
                attempt=delivery.attempts,
                endpoint_id=endpoint.id,
                url=endpoint.url,
                secret=signing_secret(endpoint.secret_salt),
                event_id=delivery.event_id,
                body=json.dumps(delivery.payload, separators=(",", ":")),
                retry_until=aware(delivery.retry_until),
            )
        )
    session.flush()
    return attempts


def _describe(exc: Exception) -> str:
    # The exception's class and message (httpx names no URL in them): a URL may carry the
    # receiver's own token in its query.
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}"[:ERROR_MAX] if text else type(exc).__name__


def send_attempt(
    attempt: Attempt, *, client: httpx.Client, resolve: Resolver = resolve_host
) -> Outcome:
    """POST one attempt, signed; never raises."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = pinned_request(attempt.url, resolve=resolve)
    except ValidationError as exc:
        return Outcome(status_code=None, latency_ms=0, error=exc.message[:ERROR_MAX], refused=True)
    sent_at = datetime.now(UTC)  # the wall clock: receivers check the timestamp's age
    signature = Webhook(attempt.secret).sign(attempt.event_id, sent_at, attempt.body)
    headers = {
        **target.headers,
        "Content-Type": "application/json",
        "webhook-id": attempt.event_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
    }
    try:
        response = client.post(
            target.url,
            content=attempt.body.encode(),
            headers=headers,
            extensions=target.extensions or None,
        )
    except httpx.HTTPError as exc:
        return Outcome(status_code=None, latency_ms=elapsed(), error=_describe(exc))
    latency = elapsed()
    if 200 <= response.status_code < 300:
        return Outcome(status_code=response.status_code, latency_ms=latency, error=None)
    return Outcome(
        status_code=response.status_code,
        latency_ms=latency,
        error=f"HTTP {response.status_code}",
    )


def record_outcome(
    session: Session,
    *,
    attempt: Attempt,
    outcome: Outcome,
    worker_id: str,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> WebhookDeliveryStatus | None:
    """Write the attempt's outcome if `worker_id` still holds its lease; the new status, or
    None when the lease was lost (someone else owns the delivery now)."""
    now = now or utcnow()
    values: dict[str, Any] = {
        "lease_owner": None,
        "leased_until": None,
        "last_status_code": outcome.status_code,
        "last_latency_ms": outcome.latency_ms,
        "last_error": outcome.error,
        "last_attempt_at": now,
    }
    if outcome.delivered:
        status = WebhookDeliveryStatus.DELIVERED
        values["delivered_at"] = now
    else:
        retry_at = now + timedelta(seconds=retry_delay_s(attempt.attempt, rng=rng))
        if outcome.refused or retry_at > attempt.retry_until:
            status = WebhookDeliveryStatus.FAILED
        else:
            status = WebhookDeliveryStatus.PENDING
            values["next_attempt_at"] = retry_at
    values["status"] = status
    result = session.execute(
        sa.update(WebhookDelivery)
        .where(
            col(WebhookDelivery.id) == attempt.delivery_id,
            col(WebhookDelivery.lease_owner) == worker_id,
            col(WebhookDelivery.attempts) == attempt.attempt,
            col(WebhookDelivery.status) == WebhookDeliveryStatus.PENDING,
        )
        .values(**values)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return status


def deliver_due(
    *,
    db: Engine,
    client: httpx.Client,
    worker_id: str,
    limit: int = BATCH_SIZE,
    now: Callable[[], datetime] = utcnow,
    resolve: Resolver = resolve_host,
    rng: random.Random | None = None,
) -> list[WebhookDeliveryStatus | None]:
    """Lease a batch of due deliveries, send them at once, record each outcome; returns the
    recorded statuses (None: the lease was lost meanwhile). `now` is the scheduling clock."""
    with session_scope(db) as session:
        attempts = claim_due(session, worker_id=worker_id, limit=limit, now=now())
    if not attempts:
        return []
    with ThreadPoolExecutor(
        max_workers=min(len(attempts), 8), thread_name_prefix="webhook-send"
    ) as pool:
        outcomes = list(
            pool.map(lambda a: send_attempt(a, client=client, resolve=resolve), attempts)
        )
    statuses = []
    with session_scope(db) as session:
        recorded_at = now()
        for attempt, outcome in zip(attempts, outcomes, strict=True):
            status = record_outcome(
                session,
                attempt=attempt,
                outcome=outcome,
                worker_id=worker_id,
                now=recorded_at,
                rng=rng,
            )
            statuses.append(status)
            if outcome.refused:
                log.warning(
                    "webhook delivery %s to endpoint %s refused: %s",
                    attempt.delivery_id,
                    attempt.endpoint_id,
                    outcome.error,
                )
            elif not outcome.delivered:
                log.info(
                    "webhook delivery %s to endpoint %s failed (attempt %d, %s): %s",
                    attempt.delivery_id,
                    attempt.endpoint_id,
                    attempt.attempt,
                    status.value if status else "lease lost",
                    outcome.error,
                )
    return statuses


def _view(delivery: WebhookDelivery) -> WebhookDeliveryView:
    assert delivery.id is not None
    pending = delivery.status == WebhookDeliveryStatus.PENDING
    return WebhookDeliveryView(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        status=WebhookDeliveryStatus(delivery.status).value,
        attempts=delivery.attempts,
        last_status_code=delivery.last_status_code,
        last_latency_ms=delivery.last_latency_ms,
        last_error=delivery.last_error or "",
        created_at=utc_iso(delivery.created_at),
        last_attempt_at=utc_iso(delivery.last_attempt_at),
        next_attempt_at=utc_iso(delivery.next_attempt_at) if pending else "",
        delivered_at=utc_iso(delivery.delivered_at),
    )


def list_deliveries(
    session: Session, *, user_id: int, endpoint_id: object, limit: int = 50
) -> list[WebhookDeliveryView]:
    """The endpoint's latest deliveries, newest first (the page's delivery log)."""
    if isinstance(endpoint_id, bool) or not isinstance(endpoint_id, int):
        raise NotFoundError("This webhook endpoint does not exist.")
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.user_id != user_id:
        raise NotFoundError("This webhook endpoint does not exist.")
    rows = session.exec(
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(col(WebhookDelivery.id).desc())
        .limit(max(1, min(limit, 200)))
    ).all()
    return [_view(d) for d in rows]


def replay(
    session: Session, *, user_id: int, delivery_id: object, now: datetime | None = None
) -> WebhookDeliveryView:
    """Send a delivery again (the same event and `webhook-id`) as soon as a worker can,
    retried for another day; its attempts count from zero again."""
    if isinstance(delivery_id, bool) or not isinstance(delivery_id, int):
        raise NotFoundError("This delivery does not exist.")
    found = session.exec(
        select(WebhookDelivery)
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == WebhookDelivery.endpoint_id)
        .where(col(WebhookDelivery.id) == delivery_id, WebhookEndpoint.user_id == user_id)
    ).first()
    if found is None:
        raise NotFoundError("This delivery does not exist.")
    now = now or utcnow()
    found.status = WebhookDeliveryStatus.PENDING
    found.attempts = 0
    found.next_attempt_at = now
    found.retry_until = now + RETRY_WINDOW
    found.lease_owner = None
    found.leased_until = None
    found.delivered_at = None
    session.add(found)
    session.flush()
    return _view(found)


# A finished delivery (delivered or given up) stays listed, and replayable, this long.
DELIVERY_RETENTION = timedelta(days=30)


def forget_old_deliveries(session: Session, *, now: datetime | None = None) -> int:
    """Delete finished deliveries older than DELIVERY_RETENTION (pending ones stay, whatever
    their age: the retry window ends them first). Returns how many went."""
    cutoff = (now or datetime.now(UTC)) - DELIVERY_RETENTION
    result = session.execute(
        sa.delete(WebhookDelivery).where(
            col(WebhookDelivery.status) != WebhookDeliveryStatus.PENDING,
            col(WebhookDelivery.created_at) < cutoff,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
