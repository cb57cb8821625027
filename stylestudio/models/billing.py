"""Money: the credit ledger, packs, purchases, checkout sessions and billing settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from stylestudio.models.base import created_at_field, enum_field, utcnow
from stylestudio.models.enums import CheckoutStatus, LedgerKind, PaymentProvider, PurchaseStatus


class CreditLedgerEntry(SQLModel, table=True):
    """Append-only: every change to a balance, keyed so that a replay adds nothing."""

    __tablename__ = "credit_ledger"
    __table_args__ = (
        sa.Index("ix_credit_ledger_user_id_created_at", "user_id", "created_at"),
        sa.CheckConstraint("balance_after >= 0", name="balance_after_non_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    kind: LedgerKind = enum_field(LedgerKind, LedgerKind.GRANT)
    amount: int  # signed: positive adds credits, negative takes them
    balance_after: int
    idempotency_key: str = Field(max_length=200, unique=True)
    generation_id: int | None = Field(
        default=None, foreign_key="generations.id", index=True, ondelete="SET NULL"
    )
    purchase_id: int | None = Field(
        default=None, foreign_key="purchases.id", index=True, ondelete="SET NULL"
    )
    description: str = Field(default="", max_length=500)
    created_at: datetime = created_at_field()


class CreditPack(SQLModel, table=True):
    """A pack on sale. Prices and sizes are billing settings an admin can edit."""

    __tablename__ = "credit_packs"
    __table_args__ = (
        sa.CheckConstraint("credits > 0", name="credits_positive"),
        sa.CheckConstraint("price_cents >= 0", name="price_non_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=50, unique=True)
    display_name: str = Field(max_length=100)
    credits: int
    price_cents: int
    currency: str = Field(default="usd", max_length=3)
    is_active: bool = Field(default=True)
    sort_order: int = Field(default=0)
    updated_at: datetime = Field(default_factory=utcnow)


class BillingSettings(SQLModel, table=True):
    """A single row (id = 1) of rules an admin can change without a deploy."""

    __tablename__ = "billing_settings"

    id: int | None = Field(default=None, primary_key=True)
    free_trial_credits: int = Field(default=10)
    refund_on_failure: bool = Field(default=True)
    # Price multiplier per model key (see pricing.model_multiplier); a missing model is 1.0.
    model_multipliers: dict[str, Any] = Field(
        default_factory=dict,
        sa_type=sa.JSON,
        nullable=False,
        sa_column_kwargs={"server_default": "{}"},
    )
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")


class Purchase(SQLModel, table=True):
    __tablename__ = "purchases"
    __table_args__ = (sa.Index("ix_purchases_user_id_status", "user_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    pack_code: str = Field(max_length=50)
    pack_display_name: str = Field(max_length=100)
    amount_cents: int
    currency: str = Field(default="usd", max_length=3)
    credits: int
    status: PurchaseStatus = enum_field(PurchaseStatus, PurchaseStatus.PENDING, index=True)
    provider: PaymentProvider = enum_field(PaymentProvider, PaymentProvider.OFFLINE)
    transaction_id: str = Field(max_length=100, unique=True)
    stripe_checkout_session_id: str | None = Field(default=None, max_length=255, unique=True)
    stripe_payment_intent_id: str | None = Field(default=None, max_length=255, unique=True)
    payment_method: str | None = Field(default=None, max_length=50)
    error: str | None = Field(default=None, max_length=500)
    refund_reason: str | None = Field(default=None, max_length=500)
    # Reversals (services/billing/payment_reversals.py): money refunded so far, credits taken back,
    # and credits a refund or dispute should have taken back but the balance no longer held.
    refunded_cents: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    clawed_back_credits: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    uncollected_credits: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = created_at_field()
    completed_at: datetime | None = None


class CheckoutSession(SQLModel, table=True):
    __tablename__ = "checkout_sessions"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    purchase_id: int = Field(foreign_key="purchases.id", index=True, ondelete="CASCADE")
    provider: PaymentProvider = enum_field(PaymentProvider, PaymentProvider.OFFLINE)
    provider_session_id: str = Field(max_length=255, unique=True)
    status: CheckoutStatus = enum_field(CheckoutStatus, CheckoutStatus.PENDING, index=True)
    url: str = Field(default="", max_length=2000)
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = created_at_field()
    expires_at: datetime | None = None
    completed_at: datetime | None = None


class ProcessedWebhookEvent(SQLModel, table=True):
    """Provider events already handled; the unique pair makes redelivery a no-op."""

    __tablename__ = "processed_webhook_events"
    __table_args__ = (sa.UniqueConstraint("provider", "event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=50)
    event_id: str = Field(max_length=255)
    event_type: str = Field(default="", max_length=100)
    received_at: datetime = created_at_field()
