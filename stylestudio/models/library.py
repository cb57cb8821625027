"""How users organise and share images: collections, share links, API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from stylestudio.models.base import created_at_field, json_field, utcnow


class Collection(SQLModel, table=True):
    __tablename__ = "collections"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    is_public: bool = Field(default=False)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow)


class CollectionItem(SQLModel, table=True):
    __tablename__ = "collection_items"

    collection_id: int = Field(foreign_key="collections.id", primary_key=True, ondelete="CASCADE")
    image_id: int = Field(foreign_key="images.id", primary_key=True, ondelete="CASCADE")
    position: int = Field(default=0)
    added_at: datetime = created_at_field()


class ShareLink(SQLModel, table=True):
    """A random, expiring, revocable link to one image. Only the token's hash is stored."""

    __tablename__ = "share_links"

    id: int | None = Field(default=None, primary_key=True)
    image_id: int = Field(foreign_key="images.id", index=True, ondelete="CASCADE")
    created_by_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    view_count: int = Field(default=0)
    created_at: datetime = created_at_field()


class ApiKey(SQLModel, table=True):
    """Shown once at creation; only the prefix (for display) and the hash are kept."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16, unique=True)
    key_hash: str = Field(max_length=64, unique=True)
    # Space-separated, as OAuth scopes are: "generate read library:write credits:read".
    scopes: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    created_at: datetime = created_at_field()
    last_used_at: datetime | None = None
    last_used_ip: str | None = Field(default=None, max_length=64)
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiIdempotencyKey(SQLModel, table=True):
    """The first answer to a REST API request sent with an `Idempotency-Key` header, kept
    so that a retry of the same request gets the same answer (and is charged once)."""

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("user_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=255)
    # SHA-256 of the method, path and body: the same key with another request is refused.
    fingerprint: str = Field(max_length=64)
    status_code: int
    response: dict[str, Any] = json_field()
    created_at: datetime = created_at_field()
