"""Generations, the images they were made from, and the durable jobs that run them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from stylestudio.models.base import created_at_field, enum_field, json_field, utcnow
from stylestudio.models.enums import GenerationInputRole, GenerationStatus, JobKind, JobStatus


class Generation(SQLModel, table=True):
    __tablename__ = "generations"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "idempotency_key"),
        sa.Index("ix_generations_user_id_created_at", "user_id", "created_at"),
        sa.Index("ix_generations_user_id_status", "user_id", "status"),
        # The gallery's keyset: one user's generations by id (PostgreSQL would otherwise
        # walk the primary key backwards past every other user's rows).
        sa.Index("ix_generations_user_id_id", "user_id", "id"),
        sa.CheckConstraint("credits_used >= 0", name="credits_used_non_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    status: GenerationStatus = enum_field(GenerationStatus, GenerationStatus.PENDING, index=True)
    prompt: str = Field(default="", sa_type=sa.Text)
    negative_prompt: str = Field(default="", sa_type=sa.Text)

    model: str = Field(max_length=100)
    style: str = Field(max_length=50)
    quality: str = Field(max_length=20)
    strength: float = Field(default=0.8)
    aspect_ratio: str = Field(max_length=10)
    guidance_scale: float = Field(default=7.5)
    num_inference_steps: int = Field(default=30)
    seed: int
    # Results from one generation (1-4), seeds `seed`, `seed + 1`, ...
    variations: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    # Generations started together (several styles of the same inputs) share this key.
    batch_key: str | None = Field(default=None, max_length=100)

    credits_used: int = Field(default=0)
    processing_ms: int | None = None
    error: str | None = Field(default=None, sa_type=sa.Text)
    retry_count: int = Field(default=0)
    engine: str = Field(default="local", max_length=50)
    provider_prediction_id: str | None = Field(default=None, max_length=255, unique=True)
    idempotency_key: str = Field(max_length=100)

    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    completed_at: datetime | None = None


class GenerationInput(SQLModel, table=True):
    """An uploaded image a generation was made from (products and model/scene photos)."""

    __tablename__ = "generation_inputs"

    generation_id: int = Field(foreign_key="generations.id", primary_key=True, ondelete="CASCADE")
    image_id: int = Field(foreign_key="images.id", primary_key=True, ondelete="CASCADE")
    role: GenerationInputRole = enum_field(GenerationInputRole, GenerationInputRole.PRODUCT)
    position: int = Field(default=0)


class Job(SQLModel, table=True):
    """Durable background work, claimed by one worker at a time under a lease."""

    __tablename__ = "jobs"
    __table_args__ = (sa.Index("ix_jobs_status_run_after", "status", "run_after"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: JobKind = enum_field(JobKind, JobKind.GENERATE)
    payload: dict[str, Any] = json_field()
    status: JobStatus = enum_field(JobStatus, JobStatus.QUEUED)
    attempts: int = Field(default=0)
    max_attempts: int = Field(default=2)
    run_after: datetime = Field(default_factory=utcnow)
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_expires_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    generation_id: int | None = Field(
        default=None, foreign_key="generations.id", index=True, ondelete="CASCADE"
    )
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
