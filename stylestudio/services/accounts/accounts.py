"""Accounts: sign-up, password sign-in, server-side sessions and the admin role."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from stylestudio.db import session_scope
from stylestudio.models import UsageAction, User, UserRole, UserSession, utcnow
from stylestudio.services.billing import credits
from stylestudio.services.billing.billing import get_billing_settings
from stylestudio.services.errors import (
    EmailAlreadyRegisteredError,
    InvalidCredentialsError,
    NotFoundError,
    UnauthorizedError,
    ValidationError,
)
from stylestudio.services.usage import record_usage
from stylestudio.settings import get_settings

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
MAX_EMAIL_LENGTH = 254  # the longest address SMTP can deliver to (RFC 5321 path limit)
MAX_NAME_LENGTH = 200
# Every label is separated from the next by exactly one dot and no class overlaps its
# neighbour, so a failed match backtracks at most a constant amount per character.
_EMAIL_RE = re.compile(r"[^@\s.][^@\s]*@(?:[^@\s.]+\.)+[^@\s.]+")
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Each hash takes ~50 ms of a core and 64 MiB. A burst of sign-ins hashing all at once would
# take every core (and a GiB of memory) from everything else the process does — spends,
# uploads, job claims — so hashes queue here and leave at least one core free.
_HASH_SLOTS = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) - 1))
# Verified against when the email is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CurrentUser:
    """What the UI may know about the signed-in user (never used as authority)."""

    id: int
    email: str
    name: str
    credits: int
    is_admin: bool
    session_id: int
    seen_recently: bool = True  # False: the session's last_seen_at is due an update


# A session's `last_seen_at` (shown on /account) is refreshed at most this often.
SEEN_EVERY = timedelta(minutes=5)


def touch_session(session: Session, *, session_id: int) -> None:
    """Record that a session was just used (for the account page's list of sessions)."""
    row = session.get(UserSession, session_id)
    if row is not None:
        row.last_seen_at = utcnow()
        session.add(row)


def mark_email_verified(session: Session, *, user: User, now: datetime | None = None) -> None:
    """The user proved their address (an emailed link, or a provider that verified it). An
    address listed in STYLESTUDIO_ADMIN_EMAILS becomes an admin only now, never at sign-up."""
    when = now or utcnow()
    if user.email_verified_at is None:
        user.email_verified_at = when
        if get_settings().verified_email_required and user.id is not None:
            grant_free_trial(session, user_id=user.id)  # held back until now (once per user)
    if user.email.lower() in get_settings().admin_email_set and user.role != UserRole.ADMIN:
        user.role = UserRole.ADMIN
        log.info("user %s promoted to admin: a listed address, now verified", user.id)
    user.updated_at = when
    session.add(user)


def normalize_email(email: object) -> str:
    """The address in canonical form, or ValidationError. The length is checked first, so
    whatever a client sends costs at most a few hundred characters of work."""
    if not isinstance(email, str) or len(email) > MAX_EMAIL_LENGTH + 64:
        raise ValidationError(
            f"Enter a valid email address (at most {MAX_EMAIL_LENGTH} characters)."
        )
    email = email.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValidationError(
            f"Enter a valid email address (at most {MAX_EMAIL_LENGTH} characters)."
        )
    if not _EMAIL_RE.fullmatch(email):
        raise ValidationError("Enter a valid email address.")
    return email


def clean_name(name: object) -> str:
    """A display name: trimmed, at most MAX_NAME_LENGTH characters (longer input is cut)."""
    if not isinstance(name, str):
        return ""
    return name[: MAX_NAME_LENGTH * 2].strip()[:MAX_NAME_LENGTH]


def hash_password(password: object) -> str:
    """Check the password's length, then hash it (argon2id, ~50 ms: never inside a write
    transaction)."""
    password = _check_password(password)
    with _HASH_SLOTS:
        return _hasher.hash(password)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_up(
    session: Session,
    *,
    email: str,
    password: str,
    name: str = "",
    role: UserRole = UserRole.USER,
    ip_address: str | None = None,
) -> User:
    """Create an account with a password and its one-time free-trial credits.

    Hashes inside the caller's transaction: for scripts and tests. Request paths use
    `register`, which hashes before it takes the write lock.
    """
    email = normalize_email(email)
    return create_account(
        session,
        email=email,
        password_hash=hash_password(password),
        name=name,
        role=role,
        ip_address=ip_address,
    )


def create_account(
    session: Session,
    *,
    email: str,
    password_hash: str,
    name: str = "",
    role: UserRole = UserRole.USER,
    ip_address: str | None = None,
) -> User:
    """Insert the account for an already normalized email and hashed password.

    Nobody becomes an admin by the address they sign up with: an address is not proof of
    ownership until it has been verified, so `role` is set only by trusted callers (the CLI).
    """
    email = normalize_email(email)
    if session.exec(select(User.id).where(User.email == email)).first() is not None:
        raise EmailAlreadyRegisteredError()
    user = User(
        email=email,
        name=clean_name(name) or email.split("@")[0][:MAX_NAME_LENGTH],
        password_hash=password_hash,
        role=role,
    )
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        raise EmailAlreadyRegisteredError() from None
    assert user.id is not None
    if not get_settings().verified_email_required:
        grant_free_trial(session, user_id=user.id)  # else once the address is verified
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


@dataclass(frozen=True)
class LoginAccount:
    """What checking a password needs of an account, read in a short read transaction."""

    user_id: int
    password_hash: str
    is_disabled: bool


@dataclass(frozen=True)
class VerifiedLogin:
    user_id: int
    new_password_hash: str | None  # set when the stored hash uses outdated parameters


def find_login(session: Session, *, email: object, password: object) -> LoginAccount | None:
    """The account a sign-in names, or None. Oversized or malformed input is refused before
    any query (InvalidCredentialsError, the one message every failed sign-in gets)."""
    if (
        not isinstance(email, str)
        or not isinstance(password, str)
        or len(email) > MAX_EMAIL_LENGTH + 64
        or len(password) > MAX_PASSWORD_LENGTH
    ):
        raise InvalidCredentialsError()
    try:
        email = normalize_email(email)
    except ValidationError:
        raise InvalidCredentialsError() from None
    row = session.exec(
        select(User.id, User.password_hash, User.is_disabled).where(User.email == email)
    ).first()
    if row is None or not row[1] or row[0] is None:
        return None
    return LoginAccount(user_id=row[0], password_hash=row[1], is_disabled=bool(row[2]))


def verify_login(account: LoginAccount | None, *, password: str) -> VerifiedLogin:
    """Check the password (argon2, ~50 ms; call it with no transaction open)."""
    if account is None:
        _verify(_DUMMY_HASH, password)  # unknown emails cost the same time as wrong passwords
        raise InvalidCredentialsError()
    if not _verify(account.password_hash, password) or account.is_disabled:
        raise InvalidCredentialsError()
    stale = _hasher.check_needs_rehash(account.password_hash)
    new_hash = hash_password(password) if stale else None
    return VerifiedLogin(user_id=account.user_id, new_password_hash=new_hash)


def record_login(session: Session, *, login: VerifiedLogin) -> None:
    """Write what a successful sign-in changes on the account (fast: no hashing here)."""
    user = session.get(User, login.user_id)
    if user is None:
        raise InvalidCredentialsError()
    if login.new_password_hash:
        user.password_hash = login.new_password_hash
    user.last_login_at = utcnow()
    session.add(user)


def authenticate(session: Session, *, email: str, password: str) -> User:
    """The user with this email and password, or InvalidCredentialsError (one message)."""
    account = find_login(session, email=email, password=password)
    login = verify_login(account, password=password)
    record_login(session, login=login)
    user = session.get(User, login.user_id)
    assert user is not None
    return user


@dataclass(frozen=True)
class SessionRequest:
    """Where a sign-in comes from, recorded on the session row."""

    days: int = 30
    ip_address: str | None = None
    user_agent: str | None = None


def sign_in(*, db: Engine, email: object, password: object, request: SessionRequest) -> str:
    """Verify the password, then open a session; return its token.

    The ~50 ms of argon2 run with no transaction open; only the session insert takes
    SQLite's write lock, so a burst of sign-ins does not stall spends, uploads or jobs.
    """
    with session_scope(db, write=False) as session:
        account = find_login(session, email=email, password=password)
    assert isinstance(password, str)  # find_login refused anything else
    login = verify_login(account, password=password)
    with session_scope(db) as session:
        record_login(session, login=login)
        return start_session(
            session,
            user_id=login.user_id,
            days=request.days,
            ip_address=request.ip_address,
            user_agent=request.user_agent,
        )


def register(
    *, db: Engine, email: object, password: object, name: object = "", request: SessionRequest
) -> str:
    """Create an account (with its free trial) and sign it in; return the session token.

    Input is checked and the password hashed before the write transaction begins.
    """
    email = normalize_email(email)
    password_hash = hash_password(password)
    with session_scope(db) as session:
        user = create_account(
            session,
            email=email,
            password_hash=password_hash,
            name=clean_name(name),
            ip_address=request.ip_address,
        )
        assert user.id is not None
        return start_session(
            session,
            user_id=user.id,
            days=request.days,
            ip_address=request.ip_address,
            user_agent=request.user_agent,
        )


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
    # Every way in (password, sign-up, OAuth, a sign-in ticket) opens a session here.
    session.execute(
        sa.update(User).where(col(User.id) == user_id).values(last_login_at=row.created_at)
    )
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
        seen_recently=_aware(user_session.last_seen_at) > utcnow() - SEEN_EVERY,
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def require_user(session: Session, *, token: str | None) -> CurrentUser:
    user = resolve_session(session, token=token)
    if user is None:
        raise UnauthorizedError()
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


def _check_password(password: object) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"Use a password of at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(f"Use a password of at most {MAX_PASSWORD_LENGTH} characters.")
    return password


def _verify(password_hash: str, password: str) -> bool:
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        with _HASH_SLOTS:
            return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


PUBLIC_AUTHOR_FALLBACK = "A Style Studio user"


def public_name(name: str | None, email: str) -> str:
    """The author shown on public pages (Explore, share links). A name that is only the
    email's local part — the default given at sign-up — would reveal part of the address,
    so it is not shown; a name the user chose is."""
    shown = (name or "").strip()
    local_part = email.split("@", 1)[0].strip().lower()
    if not shown or shown.lower() == local_part:
        return PUBLIC_AUTHOR_FALLBACK
    return shown
