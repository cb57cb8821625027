"""Signing in through an HTTP response of ours, so the session cookie can be HttpOnly.

A sign-in or sign-up form is checked in a Reflex event (password, limits, messages), which
ends by sending the browser to `<api>/api/auth/session?ticket=...`. The ticket is single
use, lives one minute and is stored only as a hash; redeeming it opens the session and sets
the cookie on that response. The session token itself never passes through Reflex state or
any page script.

The ticket is bound to the browser that asked for it (login CSRF). Anyone can get a ticket
for their own account and make someone else's browser open its URL; without a binding that
browser would be signed in to the attacker's account and upload into it. So:

1. Before a sign-in form is used, the browser holds a random *sign-in nonce* in a cookie
   that only our backend sets (`GET <api>/api/auth/begin`, also set on the way out of a
   sign-out): HttpOnly (no script reads it), SameSite=Strict, two hours. /login and
   /signup send a browser without one through that endpoint first, so the page's websocket
   handshake carries it; the form's button is enabled only then.
2. The sign-in event reads the nonce from its websocket handshake (like the session
   cookie) and issues the ticket against it: what is stored is the SHA-256 of the ticket
   *and* the nonce. No nonce, no ticket.
3. Redeeming needs both: the ticket from the URL and the nonce from the redeeming request's
   own cookie. A ticket URL opened in any other browser finds no row — refused, no cookie
   set, and the ticket stays usable by its own browser for its minute.

What an attacker who can make the victim open any URL of ours can do: open `begin` (the
victim gets a fresh random nonce — not one the attacker knows: the endpoint takes no value),
open the ticket URL (the victim's nonce is not the one the ticket was bound to; under
Strict it is not even sent on a navigation another site started). The nonce is never in a
URL, in Reflex state or in a page, and a redemption ends it (a new one comes with the next
sign-out or sign-in page). An attacker who can set cookies on our site (a compromised
sibling subdomain) is out of scope here, as for every cookie-based defence.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from stylestudio.db import session_scope
from stylestudio.models import AccountToken, UsageAction, User, UserSession, utcnow
from stylestudio.services.accounts import accounts
from stylestudio.services.errors import NotFoundError, ValidationError
from stylestudio.services.usage import record_usage

SIGN_IN = "sign_in"
TICKET_LIFETIME = timedelta(seconds=60)
EXPIRED = "This sign-in took too long or was already used. Sign in again."
NO_NONCE = "This page was open too long to sign in from. Reload it and sign in again."


def password_sign_in(*, db: Engine, email: object, password: object) -> int:
    """Check an email and password (argon2 outside any write transaction) and record the
    sign-in; the user's id, or InvalidCredentialsError (one message for every failure)."""
    with session_scope(db, write=False) as session:
        account = accounts.find_login(session, email=email, password=password)
    assert isinstance(password, str)  # find_login refused anything else
    login = accounts.verify_login(account, password=password)
    with session_scope(db) as session:
        accounts.record_login(session, login=login)
    return login.user_id


def password_sign_up(*, db: Engine, email: object, password: object, ip_address: str | None) -> int:
    """Create an account (with its free trial); the new user's id."""
    email = accounts.normalize_email(email)
    password_hash = accounts.hash_password(password)
    with session_scope(db) as session:
        user = accounts.create_account(
            session, email=email, password_hash=password_hash, ip_address=ip_address
        )
        assert user.id is not None
        return user.id


def new_browser_nonce() -> str:
    """A fresh sign-in nonce for a browser's cookie."""
    return secrets.token_urlsafe(32)


def usable_nonce(nonce: object) -> str | None:
    """`nonce` if it can be one of ours (a string of a plausible length), else None."""
    return nonce if isinstance(nonce, str) and 20 <= len(nonce) <= 100 else None


def _bound_hash(ticket: str, nonce: str) -> str:
    return accounts.hash_token(f"{ticket}.{nonce}")


def issue_ticket(session: Session, *, user_id: int, browser_nonce: object) -> str:
    """A one-minute, single-use ticket that opens a session for `user_id` when redeemed by
    the browser holding `browser_nonce` (its sign-in nonce cookie), and by no other."""
    nonce = usable_nonce(browser_nonce)
    if nonce is None:
        raise ValidationError(NO_NONCE)
    user = session.get(User, user_id)
    if user is None or user.is_disabled:
        raise NotFoundError(EXPIRED)
    ticket = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        AccountToken(
            user_id=user_id,
            purpose=SIGN_IN,
            token_hash=_bound_hash(ticket, nonce),
            email=user.email,
            created_at=now,
            expires_at=now + TICKET_LIFETIME,
        )
    )
    session.flush()
    return ticket


def redeem_ticket(
    session: Session,
    *,
    ticket: object,
    browser_nonce: object,
    request: accounts.SessionRequest,
) -> str:
    """Use a ticket in the browser holding `browser_nonce` (compare-and-set: two redemptions
    at once, one wins) and open a new session; its token. NotFoundError for an unknown, used
    or expired ticket, or one issued to another browser (which leaves it unused)."""
    nonce = usable_nonce(browser_nonce)
    if not isinstance(ticket, str) or not 20 <= len(ticket) <= 100 or nonce is None:
        raise NotFoundError(EXPIRED)
    now = utcnow()
    token_hash = _bound_hash(ticket, nonce)
    used = session.execute(
        sa.update(AccountToken)
        .where(
            col(AccountToken.token_hash) == token_hash,
            col(AccountToken.purpose) == SIGN_IN,
            col(AccountToken.used_at).is_(None),
            col(AccountToken.expires_at) > now,
        )
        .values(used_at=now)
    )
    if not used.rowcount:  # type: ignore[attr-defined]
        raise NotFoundError(EXPIRED)
    user_id = session.exec(
        select(AccountToken.user_id).where(AccountToken.token_hash == token_hash)
    ).one()
    user = session.get(User, user_id)
    if user is None or user.is_disabled:
        raise NotFoundError(EXPIRED)
    return accounts.start_session(
        session,
        user_id=user_id,
        days=request.days,
        ip_address=request.ip_address,
        user_agent=request.user_agent,
    )


def end_all_sessions(session: Session, *, user_id: int) -> int:
    """`Sign out everywhere`: every open session of the user ends; how many did."""
    now = utcnow()
    ended = session.execute(
        sa.update(UserSession)
        .where(col(UserSession.user_id) == user_id, col(UserSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    count = int(ended.rowcount or 0)  # type: ignore[attr-defined]
    record_usage(
        session,
        action=UsageAction.LOGOUT,
        user_id=user_id,
        details={"everywhere": True, "sessions": count},
    )
    return count
