"""What /account's Webhooks section shows: each of the user's endpoints with its latest
deliveries, display-ready (the page formats nothing but times)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from stylestudio.services.integrations.webhook_delivery import (
    WebhookDeliveryView,
    list_deliveries,
)
from stylestudio.services.integrations.webhook_endpoints import list_endpoints

RECENT_DELIVERIES = 10


@dataclass(frozen=True)
class WebhookDeliveryRow:
    """One delivery as the section lists it."""

    id: int
    event_type: str
    event_id: str
    created_at: str
    status: str  # "pending" | "delivered" | "failed"
    attempts: int
    # "HTTP 200 · 41 ms", "no answer · 5003 ms", or "" before the first attempt.
    last_result: str
    last_error: str
    last_attempt_at: str
    next_attempt_at: str


@dataclass(frozen=True)
class WebhookEndpointLog:
    """One endpoint (never its secret) and its latest deliveries, newest first."""

    id: int
    url: str
    events: tuple[str, ...]
    created_at: str
    status: str  # "active" | "disabled"
    pending_deliveries: int
    failed_deliveries: int
    deliveries: tuple[WebhookDeliveryRow, ...]


def _last_result(view: WebhookDeliveryView) -> str:
    if view.attempts == 0 or view.last_attempt_at == "":
        return ""
    answer = f"HTTP {view.last_status_code}" if view.last_status_code else "no answer"
    if view.last_latency_ms is None:
        return answer
    return f"{answer} · {view.last_latency_ms} ms"


def _row(view: WebhookDeliveryView) -> WebhookDeliveryRow:
    return WebhookDeliveryRow(
        id=view.id,
        event_type=view.event_type,
        event_id=view.event_id,
        created_at=view.created_at,
        status=view.status,
        attempts=view.attempts,
        last_result=_last_result(view),
        # Replay counts attempts from zero: an error from before it is not this attempt's.
        last_error=view.last_error if view.attempts else "",
        last_attempt_at=view.last_attempt_at if view.attempts else "",
        next_attempt_at=view.next_attempt_at,
    )


def endpoint_logs(
    session: Session, *, user_id: int, recent: int = RECENT_DELIVERIES
) -> list[WebhookEndpointLog]:
    """The user's endpoints, oldest first, each with its `recent` latest deliveries."""
    logs = []
    for endpoint in list_endpoints(session, user_id=user_id):
        deliveries = list_deliveries(
            session, user_id=user_id, endpoint_id=endpoint.id, limit=recent
        )
        logs.append(
            WebhookEndpointLog(
                id=endpoint.id,
                url=endpoint.url,
                events=endpoint.events,
                created_at=endpoint.created_at,
                status=endpoint.status,
                pending_deliveries=endpoint.pending_deliveries,
                failed_deliveries=endpoint.failed_deliveries,
                deliveries=tuple(_row(d) for d in deliveries),
            )
        )
    return logs
