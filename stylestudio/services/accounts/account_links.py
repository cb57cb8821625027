"""One-time links sent by email: confirm an address, reset a forgotten password.

A link carries 32 random bytes; only their SHA-256 is stored (AccountToken). Each works
once (taken with a compare-and-set on `used_at IS NULL`, so of two concurrent uses exactly
one wins), for one hour, and only for the address it was sent to.

The functions that send mail or hash a password take the engine and keep their
transactions short: no SMTP round trip or argon2 hash runs while SQLite's write lock is
held (as `accounts.sign_in` and `accounts.register` do).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from stylestudio.adapters.mailer import Mailer, MailerError
from stylestudio.db import session_scope
from stylestudio.models import AccountToken, AuditLogEntry, User, UserSession, utcnow
from stylestudio.services.accounts.accounts import (
    hash_password,
    hash_token,
    mark_email_verified,
    normalize_email,
)
from stylestudio.services.accounts.oauth_accounts import (
    ACCOUNT_CLAIMED,
    remove_unverified_identities,
)
from stylestudio.services.errors import InvalidLinkError, MailNotSentError, NotFoundError

logger = logging.getLogger(__name__)

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"
LINK_LIFETIME = timedelta(hours=1)
_LIFETIME_IN_WORDS = "1 hour"
_MAX_TOKEN_LENGTH = 100  # token_urlsafe(32) is 43 characters


def send_verification(
    *, db: Engine, user_id: int, mailer: Mailer, base_url: str, now: datetime | None = None
) -> bool:
    """Email the user a link that confirms their current address (`<base_url>/verify-email
    ?token=...`). False, and nothing sent, when the address is already verified.

    MailNotSentError when the mail could not be handed over; the link is then never seen.
    """
    with session_scope(db) as session:
        user = session.get(User, user_id)
        if user is None or user.is_disabled:
            raise NotFoundError("No such account.")
        if user.email_verified_at is not None:
            return False
        email = user.email
        token = _issue(session, user_id=user_id, purpose=VERIFY_EMAIL, email=email, now=now)
    link = _link(base_url, "verify-email", token)
    text = (
        f"Confirm that {email} is your email address for Style Studio:\n\n"
        f"{link}\n\n"
        f"The link works once and expires in {_LIFETIME_IN_WORDS}. If you did not sign up "
        "for Style Studio, ignore this email.\n"
    )
    try:
        mailer.send(email, "Confirm your email address for Style Studio", text)
    except MailerError as exc:
        logger.warning("Verification mail for user %s not sent: %s", user_id, exc)
        raise MailNotSentError() from exc
    return True


def verify_email(session: Session, *, token: object, now: datetime | None = None) -> str:
    """Use a verification link: the account's address counts as verified from now on.
    Returns that address. InvalidLinkError if the link is unknown, used or expired, or was
    sent to an address the account no longer has."""
    now = now or utcnow()
    user_id, sent_to = _consume(session, token=token, purpose=VERIFY_EMAIL, now=now)
    user = session.get(User, user_id)
    if user is None:
        raise InvalidLinkError()
    if user.email != sent_to:
        raise InvalidLinkError(
            "This link was sent to an earlier address of your account. Request a new one."
        )
    mark_email_verified(session, user=user, now=now)
    return user.email


def request_password_reset(
    *, db: Engine, email: object, mailer: Mailer, base_url: str, now: datetime | None = None
) -> None:
    """Email a reset link (`<base_url>/reset-password?token=...`) if an active account has
    this address. Returns the same (nothing) whether or not one has, and whether or not the
    mail went out (a failure is logged), so the answer reveals no account. A malformed
    address is a ValidationError, which says nothing about accounts either."""
    address = normalize_email(email)
    with session_scope(db, write=False) as session:
        row = session.exec(
            select(User.id, User.is_disabled).where(col(User.email) == address)
        ).first()
    if row is None or row[0] is None or row[1]:
        return
    user_id = row[0]
    with session_scope(db) as session:
        token = _issue(session, user_id=user_id, purpose=RESET_PASSWORD, email=address, now=now)
    link = _link(base_url, "reset-password", token)
    text = (
        f"Someone asked to reset the password of the Style Studio account for {address}. "
        "To choose a new password, open:\n\n"
        f"{link}\n\n"
        f"The link works once and expires in {_LIFETIME_IN_WORDS}; using it signs you out "
        "everywhere. If you did not ask for this, ignore this email: your password stays "
        "as it is.\n"
    )
    try:
        mailer.send(address, "Reset your Style Studio password", text)
    except MailerError:
        logger.exception("Password reset mail for user %s not sent", user_id)


def reset_password(
    *, db: Engine, token: object, new_password: object, now: datetime | None = None
) -> int:
    """Use a reset link: set the new password, end every session of the account and void
    its other unused reset links. Returns the user's id.

    InvalidLinkError if the link is unknown, used or expired, or was sent to an address the
    account no longer has; ValidationError for an unacceptable password (the link still
    works then). The address counts as verified: the link proved it is the user's.
    """
    token_hash = _token_hash(token)
    with session_scope(db, write=False) as session:
        usable = session.exec(
            select(AccountToken.id).where(*_usable(token_hash, RESET_PASSWORD, now or utcnow()))
        ).first()
    if usable is None:
        raise InvalidLinkError()  # before hashing: a bad link costs no argon2
    password_hash = hash_password(new_password)  # ~50 ms, with no transaction open
    with session_scope(db) as session:
        when = now or utcnow()
        user_id, sent_to = _consume(session, token=token, purpose=RESET_PASSWORD, now=when)
        user = session.get(User, user_id)
        if user is None or user.is_disabled or user.email != sent_to:
            raise InvalidLinkError()
        user.password_hash = password_hash
        mark_email_verified(session, user=user, now=when)
        # The inbox's owner has claimed the account: a provider identity that never proved
        # the address (anyone can type it there) no longer opens it.
        dropped = remove_unverified_identities(session, user_id=user_id)
        if dropped:
            session.add(
                AuditLogEntry(
                    actor_user_id=user_id,
                    action=ACCOUNT_CLAIMED,
                    target_type="user",
                    target_id=str(user_id),
                    details={"by": "password reset", "identities_removed": dropped},
                    created_at=when,
                )
            )
        session.execute(
            sa.update(UserSession)
            .where(col(UserSession.user_id) == user_id, col(UserSession.revoked_at).is_(None))
            .values(revoked_at=when)
        )
        session.execute(
            sa.update(AccountToken)
            .where(
                col(AccountToken.user_id) == user_id,
                col(AccountToken.purpose) == RESET_PASSWORD,
                col(AccountToken.used_at).is_(None),
            )
            .values(used_at=when)
        )
        return user_id


def _issue(
    session: Session, *, user_id: int, purpose: str, email: str, now: datetime | None
) -> str:
    token = secrets.token_urlsafe(32)
    issued = now or utcnow()
    session.add(
        AccountToken(
            user_id=user_id,
            purpose=purpose,
            token_hash=hash_token(token),
            email=email,
            created_at=issued,
            expires_at=issued + LINK_LIFETIME,
        )
    )
    session.flush()
    return token


def _consume(session: Session, *, token: object, purpose: str, now: datetime) -> tuple[int, str]:
    """Mark the token used if it is usable, in one statement; (user id, address sent to)."""
    claimed = session.execute(
        sa.update(AccountToken)
        .where(*_usable(_token_hash(token), purpose, now))
        .values(used_at=now)
        .returning(col(AccountToken.user_id), col(AccountToken.email))
        .execution_options(synchronize_session=False)
    ).first()
    if claimed is None:
        raise InvalidLinkError()
    return claimed[0], claimed[1]


def _usable(token_hash: str, purpose: str, now: datetime) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        col(AccountToken.token_hash) == token_hash,
        col(AccountToken.purpose) == purpose,
        col(AccountToken.used_at).is_(None),
        col(AccountToken.expires_at) > now,
    )


def _token_hash(token: object) -> str:
    if not isinstance(token, str) or not token.strip() or len(token) > _MAX_TOKEN_LENGTH:
        raise InvalidLinkError()
    return hash_token(token.strip())


def _link(base_url: str, page: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/{page}?{urlencode({'token': token})}"
