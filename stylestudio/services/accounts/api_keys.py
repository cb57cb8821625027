"""REST API keys: created with a name and scopes, shown once, kept only as a hash.

A key is `ss_live_` followed by 43 URL-safe characters (256 random bits). The database
holds its SHA-256 and its first 16 characters (to tell keys apart on the page), so a leaked
database holds no working key. A key works while it is not revoked and its account exists
and is not suspended: authority is read from the database on every request, so a revoke or
a suspension takes effect at the next request. Creating and revoking are audited.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from stylestudio.db import session_scope
from stylestudio.models import ApiKey, AuditLogEntry, User, utc_iso, utcnow
from stylestudio.services.errors import (
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
    ValidationError,
)
from stylestudio.settings import get_settings

KEY_MARK = "ss_live_"
SECRET_BYTES = 32  # 256 bits
PREFIX_LENGTH = 16  # what the page shows: "ss_live_" and 8 characters of the secret
NAME_MAX = 100
# What each scope lets a key do.
SCOPES: dict[str, str] = {
    "generate": "Start and cancel generations (spends credits)",
    "read": "Read generations and their result images",
    "library:write": "Upload photos and delete generations",
    "credits:read": "Read the credit balance and ledger",
}
# Writing `last_used_at` on every request would turn every API call into a write (on SQLite,
# every request would queue for the one write lock); once a minute per key (or when the
# address changes) says what a person needs to know.
LAST_USED_EVERY = timedelta(seconds=60)

_REFUSED = "This API key is not valid. Create a key on your account page."


@dataclass(frozen=True)
class CreatedApiKey:
    """A new key. `secret` is shown once and never again."""

    id: int
    name: str
    prefix: str
    secret: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class ApiKeyView:
    """One key as the account page lists it (never the secret)."""

    id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: str
    last_used_at: str  # "" when never used
    last_used_ip: str
    status: str  # "active" | "revoked"


@dataclass(frozen=True)
class ApiPrincipal:
    """Who a request with a valid key acts for, and what the key may do."""

    key_id: int
    user_id: int
    scopes: frozenset[str]

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise ForbiddenError(f"This API key lacks the '{scope}' scope.")


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(scopes: str) -> tuple[str, ...]:
    return tuple(s for s in scopes.split() if s in SCOPES)


def create_api_key(
    session: Session,
    *,
    user_id: int,
    name: str,
    scopes: list[str] | tuple[str, ...],
    address: str | None = None,
    now: datetime | None = None,
) -> CreatedApiKey:
    """A new key for the user, with a name and at least one known scope."""
    now = now or utcnow()
    name = " ".join(name.split())
    if not name:
        raise ValidationError("Give the key a name, e.g. the script or system that uses it.")
    if len(name) > NAME_MAX:
        raise ValidationError(f"A key's name is at most {NAME_MAX} characters.")
    unknown = sorted(set(scopes) - SCOPES.keys())
    if unknown:
        raise ValidationError(f"Unknown scope: {', '.join(unknown)}.")
    chosen = tuple(s for s in SCOPES if s in scopes)  # in a fixed order, without repeats
    if not chosen:
        raise ValidationError("Choose at least one scope for the key.")
    user = session.get(User, user_id)
    if user is None or user.is_disabled:
        raise ForbiddenError("This account cannot create API keys.")
    limit = get_settings().api_keys_per_user
    active = session.exec(
        select(sa.func.count())
        .select_from(ApiKey)
        .where(ApiKey.user_id == user_id, col(ApiKey.revoked_at).is_(None))
    ).one()
    if active >= limit:
        raise ValidationError(
            f"You have {limit} API keys, the most an account may hold. Revoke one first."
        )
    secret = KEY_MARK + secrets.token_urlsafe(SECRET_BYTES)
    key = ApiKey(
        user_id=user_id,
        name=name,
        prefix=secret[:PREFIX_LENGTH],
        key_hash=hash_key(secret),
        scopes=" ".join(chosen),
        created_at=now,
    )
    session.add(key)
    session.flush()
    assert key.id is not None
    _audit(session, user_id, "api_key.create", key, address, {"scopes": list(chosen)})
    return CreatedApiKey(id=key.id, name=name, prefix=key.prefix, secret=secret, scopes=chosen)


def list_api_keys(session: Session, *, user_id: int) -> list[ApiKeyView]:
    """The user's keys, newest first (revoked ones too, marked so)."""
    keys = session.exec(
        select(ApiKey).where(ApiKey.user_id == user_id).order_by(col(ApiKey.id).desc()).limit(200)
    ).all()
    views = []
    for key in keys:
        assert key.id is not None
        views.append(
            ApiKeyView(
                id=key.id,
                name=key.name,
                prefix=key.prefix,
                scopes=parse_scopes(key.scopes),
                created_at=utc_iso(key.created_at),
                last_used_at=utc_iso(key.last_used_at),
                last_used_ip=key.last_used_ip or "",
                status="revoked" if key.revoked_at is not None else "active",
            )
        )
    return views


def revoke_api_key(
    session: Session,
    *,
    user_id: int,
    key_id: int,
    address: str | None = None,
    now: datetime | None = None,
) -> None:
    """The owner revokes a key; it fails from this commit on. Revoking twice changes
    nothing; another user's key is not found."""
    key = session.get(ApiKey, key_id)
    if key is None or key.user_id != user_id:
        raise NotFoundError("That API key does not exist.")
    if key.revoked_at is not None:
        return
    key.revoked_at = now or utcnow()
    session.add(key)
    session.flush()
    _audit(session, user_id, "api_key.revoke", key, address, {})


def authenticate_api_request(
    db: Engine, secret: str, *, address: str | None = None, now: datetime | None = None
) -> ApiPrincipal:
    """`authenticate_api_key` as a request does it: the key is checked in a read-only
    session, so that on SQLite API requests do not queue one by one behind the single write
    lock; only when its last use is due to be recorded (see LAST_USED_EVERY) does a second,
    short write transaction record it."""
    now = now or utcnow()
    with session_scope(db, write=False) as session:
        who, due = _check_key(session, secret, address=address, now=now)
    if due:
        with session_scope(db) as session:
            record_key_use(session, key_id=who.key_id, address=address, now=now)
    return who


def authenticate_api_key(
    session: Session, secret: str, *, address: str | None = None, now: datetime | None = None
) -> ApiPrincipal:
    """The principal a request's key acts for, or UnauthorizedError: an unknown, malformed or
    revoked key, or one whose account is suspended or gone, all look alike. Records the key's
    use in `session` (a write session) when it is due."""
    now = now or utcnow()
    who, due = _check_key(session, secret, address=address, now=now)
    if due:
        record_key_use(session, key_id=who.key_id, address=address, now=now)
    return who


def record_key_use(
    session: Session, *, key_id: int, address: str | None, now: datetime | None = None
) -> None:
    """Set the key's last use to `now` from `address`, unless another request has just done
    so (two requests that both found it due: the second changes nothing)."""
    now = now or utcnow()
    session.execute(
        sa.update(ApiKey)
        .where(
            col(ApiKey.id) == key_id,
            sa.or_(
                col(ApiKey.last_used_at).is_(None),
                col(ApiKey.last_used_at) <= now - LAST_USED_EVERY,
                col(ApiKey.last_used_ip).is_distinct_from(address or None),
            ),
        )
        .values(last_used_at=now, last_used_ip=(address or None))
    )


def _check_key(
    session: Session, secret: str, *, address: str | None, now: datetime
) -> tuple[ApiPrincipal, bool]:
    """The key's principal (or UnauthorizedError), and whether its use is due to be recorded:
    never recorded, recorded over LAST_USED_EVERY ago, or from another address."""
    if not secret.startswith(KEY_MARK) or len(secret) > 200:
        raise UnauthorizedError(_REFUSED)
    row = session.exec(
        select(ApiKey, User)
        .join(User, col(User.id) == ApiKey.user_id)
        .where(ApiKey.key_hash == hash_key(secret))
    ).first()
    if row is None:
        raise UnauthorizedError(_REFUSED)
    key, user = row
    if key.revoked_at is not None or user.is_disabled:
        raise UnauthorizedError(_REFUSED)
    if key.expires_at is not None and _aware(key.expires_at) <= now:
        raise UnauthorizedError(_REFUSED)
    assert key.id is not None
    last = _aware(key.last_used_at) if key.last_used_at is not None else None
    due = last is None or now - last >= LAST_USED_EVERY or key.last_used_ip != (address or None)
    who = ApiPrincipal(
        key_id=key.id, user_id=user.id or 0, scopes=frozenset(parse_scopes(key.scopes))
    )
    return who, due


def _aware(value: datetime) -> datetime:
    """SQLite returns zone-less datetimes; they are UTC by construction (models.utcnow)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _audit(
    session: Session,
    user_id: int,
    action: str,
    key: ApiKey,
    address: str | None,
    extra: dict[str, object],
) -> None:
    session.add(
        AuditLogEntry(
            actor_user_id=user_id,
            action=action,
            target_type="api_key",
            target_id=str(key.id),
            details={"name": key.name, "prefix": key.prefix, **extra},
            ip_address=address,
        )
    )
