"""Accounts: sign-up, password sign-in, server-side sessions and the admin role."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from stylestudio.models import UsageAction, User, UserRole, UserSession, utcnow
from stylestudio.services import credits
from stylestudio.services.billing import get_billing_settings
from stylestudio.services.errors import (
    EmailAlreadyRegisteredError,
    ForbiddenError,
    InvalidCredentialsError,
    NotFoundError,
    UnauthorizedError,
    ValidationError,
)
from stylestudio.services.usage import record_usage

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the email is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class CurrentUser:
    """What the UI may know about the signed-in user (never used as authority)."""

    id: int
    email: str
    name: str
    credits: int
    is_admin: bool
    session_id: int


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not _EMAIL_RE.match(email) or len(email) > 320:
        raise ValidationError("Enter a valid email address.")
    return email


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_up(
    session: Session,
    *,
    email: str,
    password: str,
    name: str = "",
    admin_emails: frozenset[str] = frozenset(),
    ip_address: str | None = None,
) -> User:
    """Create an account with a password and its one-time free-trial credits."""
    email = normalize_email(email)
    _check_password(password)
    if session.exec(select(User.id).where(User.email == email)).first() is not None:
        raise EmailAlreadyRegisteredError()
    user = User(
        email=email,
        name=name.strip()[:200] or email.split("@")[0],
        password_hash=_hasher.hash(password),
        role=UserRole.ADMIN if email in admin_emails else UserRole.USER,
    )
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        raise EmailAlreadyRegisteredError() from None
    assert user.id is not None
    grant_free_trial(session, user_id=user.id)
    record_usage(session, action=UsageAction.SIGNUP, user_id=user.id, ip_address=ip_address)
    session.refresh(user)
    return user


def grant_free_trial(session: Session, *, user_id: int) -> None:
    """The free-trial credits from billing settings, once per user whatever happens."""
    amount = get_billing_settings(session).free_trial_credits
    if amount > 0:
        credits.grant(
            session,
            user_id=user_id,
            amount=amount,
            idempotency_key=f"free-trial:user:{user_id}",
            description="Free trial credits",
        )


def authenticate(session: Session, *, email: str, password: str) -> User:
    """The user with this email and password, or InvalidCredentialsError (one message)."""
    try:
        email = normalize_email(email)
    except ValidationError:
        raise InvalidCredentialsError() from None
    user = session.exec(select(User).where(User.email == email)).first()
    if user is None or not user.password_hash:
        _verify(_DUMMY_HASH, password)
        raise InvalidCredentialsError()
    if not _verify(user.password_hash, password) or user.is_disabled:
        raise InvalidCredentialsError()
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    session.add(user)
    return user


def start_session(
    session: Session,
    *,
    user_id: int,
    days: int = 30,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> str:
    """Open a server-side session and return its bearer token (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    row = UserSession(
        user_id=user_id,
        token_hash=hash_token(token),
        expires_at=utcnow() + timedelta(days=days),
        ip_address=ip_address,
        user_agent=(user_agent or "")[:500] or None,
    )
    session.add(row)
    session.flush()
    record_usage(
        session, action=UsageAction.LOGIN, user_id=user_id, ip_address=ip_address, session_id=row.id
    )
    return token


def resolve_session(session: Session, *, token: str | None) -> CurrentUser | None:
    """The user behind a session token, or None if it is unknown, expired or revoked."""
    if not token:
        return None
    row = session.exec(
        select(UserSession, User)
        .join(User, col(User.id) == UserSession.user_id)
        .where(UserSession.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    user_session, user = row
    if (
        user_session.revoked_at is not None
        or user_session.expires_at <= utcnow()
        or user.is_disabled
    ):
        return None
    assert user.id is not None and user_session.id is not None
    return CurrentUser(
        id=user.id,
        email=user.email,
        name=user.name,
        credits=user.credits,
        is_admin=user.is_admin,
        session_id=user_session.id,
    )


def require_user(session: Session, *, token: str | None) -> CurrentUser:
    user = resolve_session(session, token=token)
    if user is None:
        raise UnauthorizedError()
    return user


def require_admin(session: Session, *, token: str | None) -> CurrentUser:
    """The signed-in admin, re-read from the database on every call."""
    user = require_user(session, token=token)
    if not user.is_admin:
        raise ForbiddenError("This page is for administrators.")
    return user


def end_session(session: Session, *, token: str | None) -> None:
    if not token:
        return
    row = session.exec(
        select(UserSession).where(UserSession.token_hash == hash_token(token))
    ).first()
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        record_usage(session, action=UsageAction.LOGOUT, user_id=row.user_id, session_id=row.id)


def set_role(session: Session, *, email: str, role: UserRole) -> User:
    user = session.exec(select(User).where(User.email == normalize_email(email))).first()
    if user is None:
        raise NotFoundError(f"No account with email {email}.")
    user.role = role
    user.updated_at = utcnow()
    session.add(user)
    return user


def count_admins(session: Session) -> int:
    return session.exec(
        select(func.count()).select_from(User).where(User.role == UserRole.ADMIN)
    ).one()


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"Use a password of at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(f"Use a password of at most {MAX_PASSWORD_LENGTH} characters.")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
