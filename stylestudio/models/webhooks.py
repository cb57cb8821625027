"""Outgoing webhooks: the endpoints a user registers, and one delivery row per event and
endpoint (the outbox the worker sends from)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from stylestudio.models.base import created_at_field, enum_field, json_field
from stylestudio.models.enums import WebhookDeliveryStatus


class WebhookEndpoint(SQLModel, table=True):
    """A URL of the user's own system and the events it wants.

    The signing secret is not stored: it is derived from the app's secret key and the
    random `secret_salt` (a leaked database alone signs nothing); rotating draws a new salt.
    """

    __tablename__ = "webhook_endpoints"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    url: str = Field(max_length=500)
    # Space-separated event types: "generation.completed credits.purchased".
    events: str = Field(max_length=200)
    secret_salt: str = Field(max_length=64)
    created_at: datetime = created_at_field()
    disabled_at: datetime | None = None


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint, with its attempts so far.

    Due while pending and `next_attempt_at` has passed and no live lease holds it; a worker
    leases it (`lease_owner`, `leased_until`) for the time of one attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("endpoint_id", "event_id"),
        sa.Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(foreign_key="webhook_endpoints.id", index=True, ondelete="CASCADE")
    event_id: str = Field(max_length=64)  # `msg_…`: the `webhook-id` header, same on retries
    event_type: str = Field(max_length=64)
    payload: dict[str, Any] = json_field()
    status: WebhookDeliveryStatus = enum_field(WebhookDeliveryStatus, WebhookDeliveryStatus.PENDING)
    attempts: int = Field(default=0)
    next_attempt_at: datetime
    retry_until: datetime  # past it, a failed attempt fails the delivery for good
    lease_owner: str | None = Field(default=None, max_length=100)
    leased_until: datetime | None = None
    last_status_code: int | None = None
    last_latency_ms: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    created_at: datetime = created_at_field()
