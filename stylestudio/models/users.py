"""Accounts: users, their OAuth identities and their server-side sessions."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from stylestudio.models.base import created_at_field, enum_field, utcnow
from stylestudio.models.enums import UserRole


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint("credits >= 0", name="credits_non_negative"),
        sa.CheckConstraint("total_credits_purchased >= 0", name="purchased_non_negative"),
        sa.CheckConstraint("total_credits_used >= 0", name="used_non_negative"),
        sa.CheckConstraint("free_credits_granted >= 0", name="free_non_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    name: str = Field(default="", max_length=200)
    profile_image_url: str | None = Field(default=None, max_length=2000)
    email_verified_at: datetime | None = None
    password_hash: str | None = Field(default=None, max_length=255)
    role: UserRole = enum_field(UserRole, UserRole.USER)
    is_disabled: bool = Field(default=False)  # suspended by an admin: no sign-in, no generating
    disabled_reason: str | None = Field(default=None, max_length=500)
    # Set by a payment dispute; an admin reviews the account ('0' is false on both databases).
    flagged_for_review: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    flag_reason: str | None = Field(default=None, max_length=500)
    publishing_suspended: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    publishing_suspended_reason: str | None = Field(default=None, max_length=500)

    credits: int = Field(default=0)
    total_credits_purchased: int = Field(default=0)
    total_credits_used: int = Field(default=0)
    free_credits_granted: int = Field(default=0)

    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == UserRole.ADMIN


class OAuthIdentity(SQLModel, table=True):
    __tablename__ = "oauth_identities"
    __table_args__ = (sa.UniqueConstraint("provider", "subject"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    provider: str = Field(max_length=50)
    subject: str = Field(max_length=255)
    email: str | None = Field(default=None, max_length=320)
    # Whether the provider has said it verified the address at a sign-in of this identity
    # (only then does it link to an account; once set it stays: the identity was proven).
    email_verified: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = created_at_field()
    last_login_at: datetime | None = None


class UserSession(SQLModel, table=True):
    """A signed-in browser. Only the SHA-256 of the bearer token is stored."""

    __tablename__ = "user_sessions"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = created_at_field()
    expires_at: datetime
    last_seen_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
    ip_address: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=500)


class AccountToken(SQLModel, table=True):
    """A one-time link sent by email (verify an address, reset a password): single use,
    short-lived; only the SHA-256 of the token is stored."""

    __tablename__ = "account_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    purpose: str = Field(max_length=30)  # verify_email | reset_password
    token_hash: str = Field(max_length=64, unique=True)
    email: str = Field(max_length=320)  # the address it was sent to
    created_at: datetime = created_at_field()
    expires_at: datetime
    used_at: datetime | None = None


class OAuthLogin(SQLModel, table=True):
    """A sign-in sent to a provider and not back yet: what the callback must match (state,
    nonce) and prove (the PKCE verifier). Only the SHA-256 of the state is stored."""

    __tablename__ = "oauth_logins"

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=50)
    state_hash: str = Field(max_length=64, unique=True)
    nonce: str = Field(max_length=128)
    code_verifier: str = Field(max_length=128)
    next_path: str = Field(default="/upload", max_length=500)
    created_at: datetime = created_at_field()
    expires_at: datetime
    used_at: datetime | None = None
