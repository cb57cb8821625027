"""A user's webhook endpoints: register (URL checked, events chosen), list, rotate the
signing secret, disable, delete.

Each endpoint signs with its own Standard Webhooks secret (`whsec_` and 32 bytes, base64).
The secret is never stored: it is HMAC-SHA256 of the app's secret key and the endpoint's
random salt, so the database alone signs nothing; rotating draws a new salt. Creating,
rotating and deleting are audited.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import Session, col, select

from stylestudio.models import (
    AuditLogEntry,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    utc_iso,
    utcnow,
)
from stylestudio.services.errors import NotFoundError, ValidationError
from stylestudio.services.integrations.webhook_targets import (
    Resolver,
    check_webhook_url,
    resolve_host,
)
from stylestudio.settings import get_settings

# Every event an endpoint may subscribe to, with what the page says about it.
EVENT_TYPES: dict[str, str] = {
    "generation.completed": "A generation finished and its images are ready",
    "generation.failed": "A generation failed (its credits are refunded)",
    "credits.purchased": "A credit pack was paid for and its credits added",
}
SECRET_MARK = "whsec_"
_SALT_BYTES = 24


@dataclass(frozen=True)
class WebhookEndpointView:
    """One endpoint as a page lists it (never its secret)."""

    id: int
    url: str
    events: tuple[str, ...]
    created_at: str
    status: str  # "active" | "disabled"
    pending_deliveries: int
    failed_deliveries: int


@dataclass(frozen=True)
class CreatedWebhookEndpoint:
    """A new endpoint, with the secret its receiver verifies signatures with."""

    endpoint: WebhookEndpointView
    secret: str


def signing_secret(salt: str) -> str:
    """The endpoint's `whsec_…` secret, derived from the app's secret key and its salt."""
    key = get_settings().secret_key.encode()
    digest = hmac.new(key, b"stylestudio webhook endpoint:" + salt.encode(), hashlib.sha256)
    return SECRET_MARK + base64.b64encode(digest.digest()).decode()


def _new_salt() -> str:
    return secrets.token_urlsafe(_SALT_BYTES)


def parse_events(events: object) -> tuple[str, ...]:
    """The chosen event types, known ones only, in a stable order; at least one."""
    if isinstance(events, str):
        events = events.split()
    if not isinstance(events, (list, tuple, set, frozenset)) or not all(
        isinstance(e, str) for e in events
    ):
        raise ValidationError("Choose the events to send.")
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise ValidationError(f"Unknown event type: {', '.join(unknown)}.")
    chosen = tuple(e for e in EVENT_TYPES if e in events)
    if not chosen:
        raise ValidationError("Choose at least one event to send.")
    return chosen


def _owned(session: Session, *, user_id: int, endpoint_id: object) -> WebhookEndpoint:
    if isinstance(endpoint_id, bool) or not isinstance(endpoint_id, int):
        raise NotFoundError("This webhook endpoint does not exist.")
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.user_id != user_id:
        raise NotFoundError("This webhook endpoint does not exist.")
    return endpoint


def _audit(session: Session, *, user_id: int, action: str, endpoint: WebhookEndpoint) -> None:
    session.add(
        AuditLogEntry(
            actor_user_id=user_id,
            action=action,
            target_type="webhook_endpoint",
            target_id=str(endpoint.id),
            details={"host": urlsplit(endpoint.url).hostname or ""},
        )
    )


def _counts(session: Session, endpoint_ids: list[int]) -> dict[tuple[int, str], int]:
    if not endpoint_ids:
        return {}
    rows = session.exec(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.status, sa.func.count())
        .where(col(WebhookDelivery.endpoint_id).in_(endpoint_ids))
        .where(
            col(WebhookDelivery.status).in_(
                (WebhookDeliveryStatus.PENDING, WebhookDeliveryStatus.FAILED)
            )
        )
        .group_by(col(WebhookDelivery.endpoint_id), col(WebhookDelivery.status))
    ).all()
    return {(eid, WebhookDeliveryStatus(status).value): int(n) for eid, status, n in rows}


def _view(endpoint: WebhookEndpoint, counts: dict[tuple[int, str], int]) -> WebhookEndpointView:
    assert endpoint.id is not None
    return WebhookEndpointView(
        id=endpoint.id,
        url=endpoint.url,
        events=tuple(endpoint.events.split()),
        created_at=utc_iso(endpoint.created_at),
        status="disabled" if endpoint.disabled_at is not None else "active",
        pending_deliveries=counts.get((endpoint.id, "pending"), 0),
        failed_deliveries=counts.get((endpoint.id, "failed"), 0),
    )


def create_endpoint(
    session: Session,
    *,
    user_id: int,
    url: object,
    events: object,
    resolve: Resolver = resolve_host,
) -> CreatedWebhookEndpoint:
    """Register an endpoint; the URL must pass `check_webhook_url` (https and public
    addresses in production)."""
    if not isinstance(url, str):
        raise ValidationError("Enter the endpoint's URL.")
    chosen = parse_events(events)
    checked = check_webhook_url(url, resolve=resolve)
    limit = get_settings().webhook_endpoints_per_user
    held = session.exec(
        select(sa.func.count())
        .select_from(WebhookEndpoint)
        .where(WebhookEndpoint.user_id == user_id)
    ).one()
    if int(held) >= limit:
        raise ValidationError(
            f"You can have at most {limit} webhook endpoints. Delete one to add another."
        )
    endpoint = WebhookEndpoint(
        user_id=user_id, url=checked, events=" ".join(chosen), secret_salt=_new_salt()
    )
    session.add(endpoint)
    session.flush()
    _audit(session, user_id=user_id, action="webhook_endpoint.create", endpoint=endpoint)
    return CreatedWebhookEndpoint(
        endpoint=_view(endpoint, {}), secret=signing_secret(endpoint.secret_salt)
    )


def list_endpoints(session: Session, *, user_id: int) -> list[WebhookEndpointView]:
    """The user's endpoints, oldest first, with how many deliveries wait or failed."""
    endpoints = session.exec(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.user_id == user_id)
        .order_by(col(WebhookEndpoint.id))
    ).all()
    counts = _counts(session, [e.id for e in endpoints if e.id is not None])
    return [_view(e, counts) for e in endpoints]


def endpoint_secret(session: Session, *, user_id: int, endpoint_id: object) -> str:
    """The endpoint's current signing secret, for its owner to copy into the receiver."""
    return signing_secret(_owned(session, user_id=user_id, endpoint_id=endpoint_id).secret_salt)


def rotate_secret(session: Session, *, user_id: int, endpoint_id: object) -> str:
    """A new signing secret; deliveries from now on are signed with it (the old one stops)."""
    endpoint = _owned(session, user_id=user_id, endpoint_id=endpoint_id)
    endpoint.secret_salt = _new_salt()
    session.add(endpoint)
    _audit(session, user_id=user_id, action="webhook_endpoint.rotate_secret", endpoint=endpoint)
    return signing_secret(endpoint.secret_salt)


def set_endpoint_disabled(
    session: Session, *, user_id: int, endpoint_id: object, disabled: bool
) -> WebhookEndpointView:
    """Pause (no new events, pending deliveries wait) or resume an endpoint."""
    endpoint = _owned(session, user_id=user_id, endpoint_id=endpoint_id)
    if disabled and endpoint.disabled_at is None:
        endpoint.disabled_at = utcnow()
    elif not disabled:
        endpoint.disabled_at = None
    session.add(endpoint)
    session.flush()
    return _view(endpoint, _counts(session, [endpoint.id] if endpoint.id else []))


def delete_endpoint(session: Session, *, user_id: int, endpoint_id: object) -> None:
    """Delete the endpoint and its deliveries: nothing more is sent to it."""
    endpoint = _owned(session, user_id=user_id, endpoint_id=endpoint_id)
    _audit(session, user_id=user_id, action="webhook_endpoint.delete", endpoint=endpoint)
    session.execute(
        sa.delete(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint.id)
    )
    session.delete(endpoint)
    session.flush()
