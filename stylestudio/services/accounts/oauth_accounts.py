"""Sign-in with a provider (Google, GitHub, any OpenID Connect issuer): the sign-ins in
flight, and the rules that turn the identity a provider vouches for into an account.

A sign-in is an `OAuthLogin` row: the SHA-256 of its `state`, the `nonce` and the PKCE
verifier, valid for ten minutes and claimed once. The account rules trust an email address
only when the provider says it verified it: only then may it reach an existing account.

An account can be made by an identity whose provider did not verify its address (anyone can
type any address there). When an identity whose provider did verify it arrives, the account
is *claimed*: every identity whose address was never verified is removed from it, and, if
nobody had proved the address yet, the unproven password and every session end too. And an
identity whose address was never verified does not sign in to an account another identity
has verified. Both are recorded in the audit log.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from stylestudio.adapters.oauth import ProviderIdentity, provider_configs
from stylestudio.db import session_scope
from stylestudio.models import (
    AuditLogEntry,
    OAuthIdentity,
    OAuthLogin,
    User,
    UserSession,
    utcnow,
)
from stylestudio.services.accounts import accounts
from stylestudio.services.errors import DomainError, EmailAlreadyRegisteredError, ValidationError
from stylestudio.settings import Settings, get_settings

LOGIN_TTL = timedelta(minutes=10)
MAX_STATE_LENGTH = 200  # ours are 43 characters; anything far longer is not one of them
MAX_SUBJECT_LENGTH = 255  # OpenID Connect's limit, and the column's

# The message the login page shows for each `/login?error=<code>`.
OAUTH_ERRORS: dict[str, str] = {
    "provider_unknown": "This sign-in option is not available. Choose another way to sign in.",
    "provider_unavailable": "We could not reach the sign-in provider. Please try again shortly.",
    "provider_error": "The sign-in was cancelled or refused by the provider.",
    "state_mismatch": (
        "This sign-in was started in another browser or tab. Start again from this page."
    ),
    "state_expired": "This sign-in has expired or was already used. Please start again.",
    "login_invalid": "This sign-in could not be verified. Please start again.",
    "exchange_failed": "The provider did not confirm this sign-in. Please start again.",
    "token_invalid": "The provider's answer could not be verified. Please start again.",
    "no_email": (
        "The provider did not share an email address. Allow access to your email address, "
        "or sign up with a password."
    ),
    "email_in_use": (
        "An account with this email exists, and this provider did not confirm the address. "
        "Sign in the way you signed up (your password, or the provider you used then)."
    ),
    "account_disabled": "This account is suspended. Contact support if you think it is a mistake.",
    "identity_unverified": (
        "This provider has not verified your email address, and the account with it has been "
        "confirmed another way since. Sign in with your password or another provider."
    ),
}
ACCOUNT_CLAIMED = "account_claimed"


class OAuthSignInError(DomainError):
    """A refused sign-in: `error` is a key of OAUTH_ERRORS, `reason` is for the log only."""

    code = "OAUTH_SIGN_IN"

    def __init__(self, error: str, reason: str) -> None:
        super().__init__(OAUTH_ERRORS[error])
        self.error = error
        self.reason = reason


@dataclass(frozen=True)
class ProviderInfo:
    """A sign-in button: the provider's key (in `/api/auth/oauth/<key>/start`) and label."""

    key: str
    label: str


def configured_providers(settings: Settings | None = None) -> list[ProviderInfo]:
    """The providers whose client id and secret are set, in display order."""
    return [
        ProviderInfo(key=config.key, label=config.label)
        for config in provider_configs(settings or get_settings())
    ]


@dataclass(frozen=True)
class ProviderButton:
    """A sign-in page's button for a provider: its key, label and where it starts."""

    key: str
    label: str
    url: str  # `<api_url>/api/auth/oauth/<key>/start?next=...`


def provider_buttons(*, api_url: str, next_path: str = "/upload") -> list[ProviderButton]:
    """A button per configured provider, each starting that provider's sign-in."""
    base = api_url.rstrip("/")
    return [
        ProviderButton(
            key=p.key, label=p.label, url=f"{base}/api/auth/oauth/{p.key}/start?next={next_path}"
        )
        for p in configured_providers()
    ]


@dataclass(frozen=True)
class PendingLogin:
    """What the redirect to the provider carries; `state` also goes in the browser's cookie."""

    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class ClaimedLogin:
    nonce: str
    code_verifier: str
    next_path: str


def new_pending_login() -> PendingLogin:
    """Fresh secrets for a sign-in (nothing stored yet)."""
    return PendingLogin(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(24),
        # RFC 7636: 43 to 128 characters of [A-Za-z0-9-._~]; this gives 64.
        code_verifier=secrets.token_urlsafe(48),
    )


def begin_login(session: Session, *, provider: str, pending: PendingLogin, next_path: str) -> None:
    """Record a sign-in sent to `provider`, valid for LOGIN_TTL. `next_path` must already be
    a safe, same-site path. Sign-ins past their expiry are deleted on the way."""
    now = utcnow()
    session.execute(sa.delete(OAuthLogin).where(col(OAuthLogin.expires_at) < now))
    session.add(
        OAuthLogin(
            provider=provider,
            state_hash=accounts.hash_token(pending.state),
            nonce=pending.nonce,
            code_verifier=pending.code_verifier,
            next_path=next_path[:500],
            created_at=now,
            expires_at=now + LOGIN_TTL,
        )
    )


def claim_login(
    *, db: Engine, provider: str, state: str | None, browser_state: str | None
) -> ClaimedLogin:
    """The sign-in a callback's `state` names, marked used (it is claimed at most once, by
    one atomic update), or OAuthSignInError. The state must equal the one in this browser's
    cookie: a callback URL taken to another browser signs nobody in there."""
    if not state or len(state) > MAX_STATE_LENGTH:
        raise OAuthSignInError("state_mismatch", "the callback has no state")
    if not browser_state or not hmac.compare_digest(state.encode(), browser_state.encode()):
        raise OAuthSignInError("state_mismatch", "the state is not the one of this browser")
    now = utcnow()
    state_hash = accounts.hash_token(state)
    with session_scope(db) as session:
        claimed = session.execute(
            sa.update(OAuthLogin)
            .where(
                col(OAuthLogin.state_hash) == state_hash,
                col(OAuthLogin.provider) == provider,
                col(OAuthLogin.used_at).is_(None),
                col(OAuthLogin.expires_at) > now,
            )
            .values(used_at=now)
            .returning(
                col(OAuthLogin.nonce), col(OAuthLogin.code_verifier), col(OAuthLogin.next_path)
            )
        ).first()
        if claimed is None:
            raise OAuthSignInError("state_expired", _why_unclaimed(session, state_hash, provider))
    login = ClaimedLogin(nonce=claimed[0], code_verifier=claimed[1], next_path=claimed[2])
    if not login.code_verifier:
        # Claimed (so burnt) all the same: without a verifier the code is not bound to us.
        raise OAuthSignInError("login_invalid", "the sign-in has no PKCE code verifier")
    return login


def _why_unclaimed(session: Session, state_hash: str, provider: str) -> str:
    row = session.exec(select(OAuthLogin).where(OAuthLogin.state_hash == state_hash)).first()
    if row is None:
        return "no sign-in has this state"
    if row.provider != provider:
        return f"the state belongs to a sign-in with {row.provider}"
    if row.used_at is not None:
        return "the state was already used"
    return "the sign-in expired"


def finish_login(
    *,
    db: Engine,
    provider: str,
    identity: ProviderIdentity,
    request: accounts.SessionRequest,
) -> str:
    """Find or create the account for `identity` (see `resolve_account`) and open a session
    for it; return the session token. A refusal writes nothing."""
    with session_scope(db) as session:
        user_id = resolve_account(
            session, provider=provider, identity=identity, ip_address=request.ip_address
        )
        accounts.record_login(
            session, login=accounts.VerifiedLogin(user_id=user_id, new_password_hash=None)
        )
        return accounts.start_session(
            session,
            user_id=user_id,
            days=request.days,
            ip_address=request.ip_address,
            user_agent=request.user_agent,
        )


def resolve_account(
    session: Session, *, provider: str, identity: ProviderIdentity, ip_address: str | None
) -> int:
    """The account this provider identity signs in to, linking or creating it:

    - an identity seen before: its account (its email is refreshed; its verified flag, once
      set, stays) — unless its address was never verified and another identity of the
      account has verified it (`identity_unverified`);
    - else a verified email of an existing account: that account, linked to the identity,
      and claimed by it (see `claim_account`);
    - else a verified, unused email: a new account (no password, free trial) and identity;
    - else an unverified email: a new account only if no account has that email — never a
      link, since anyone can claim an address they do not own (`email_in_use`).

    A suspended account is refused.
    """
    if not identity.subject or len(identity.subject) > MAX_SUBJECT_LENGTH:
        raise OAuthSignInError("token_invalid", f"unusable subject {identity.subject[:40]!r}")
    now = utcnow()
    email = _provider_email(identity.email)
    verified = identity.email_verified and email is not None
    known = session.exec(
        select(OAuthIdentity).where(
            OAuthIdentity.provider == provider, OAuthIdentity.subject == identity.subject
        )
    ).first()
    if known is not None:
        user = _usable_user(session.get(User, known.user_id))
        if not verified and not known.email_verified and _verified_elsewhere(session, known):
            raise OAuthSignInError(
                "identity_unverified",
                f"{provider} never verified {email!r}; another identity of user {user.id} did",
            )
        known.email, known.last_login_at = email, now
        known.email_verified = known.email_verified or verified
        session.add(known)
        if verified and user.email == email and user.email_verified_at is None:
            claim_account(session, user=user, by=known, now=now)
        assert user.id is not None
        return user.id

    if email is None:
        raise OAuthSignInError("no_email", f"{provider} gave no usable email address")
    existing = session.exec(select(User).where(User.email == email)).first()
    if existing is not None:
        if not verified:
            raise OAuthSignInError(
                "email_in_use", f"{provider} did not verify an email that user {existing.id} has"
            )
        user = _usable_user(existing)
        linked = _link(session, user, provider, identity.subject, email, verified, now)
        claim_account(session, user=user, by=linked, now=now)
    else:
        user = _create_account(session, email=email, identity=identity, ip_address=ip_address)
        if verified:
            _mark_verified(session, user, now)
        _link(session, user, provider, identity.subject, email, verified, now)
    assert user.id is not None
    return user.id


def _link(
    session: Session,
    user: User,
    provider: str,
    subject: str,
    email: str,
    verified: bool,
    now: datetime,
) -> OAuthIdentity:
    assert user.id is not None
    linked = OAuthIdentity(
        user_id=user.id,
        provider=provider,
        subject=subject,
        email=email,
        email_verified=verified,
        created_at=now,
        last_login_at=now,
    )
    session.add(linked)
    session.flush()
    return linked


def claim_account(session: Session, *, user: User, by: OAuthIdentity, now: datetime) -> None:
    """`by`, an identity whose provider verified the account's address, claims the account:
    every identity whose address was never verified goes (whoever typed the address
    there may not own it); if nobody had proved the address yet, so do the password and
    every session (the owner can set a password again by the emailed reset link), and the
    address becomes verified. Audited when anything went."""
    assert user.id is not None
    dropped = remove_unverified_identities(session, user_id=user.id)
    password_dropped, sessions_ended = False, 0
    if user.email_verified_at is None:
        password_dropped = user.password_hash is not None
        user.password_hash = None
        ended = session.execute(
            sa.update(UserSession)
            .where(col(UserSession.user_id) == user.id, col(UserSession.revoked_at).is_(None))
            .values(revoked_at=now)
        )
        sessions_ended = int(ended.rowcount or 0)  # type: ignore[attr-defined]
        _mark_verified(session, user, now)
    if dropped or password_dropped or sessions_ended:
        session.add(
            AuditLogEntry(
                actor_user_id=None,
                action=ACCOUNT_CLAIMED,
                target_type="user",
                target_id=str(user.id),
                details={
                    "by": f"{by.provider}:{by.subject}",
                    "identities_removed": dropped,
                    "password_removed": password_dropped,
                    "sessions_ended": sessions_ended,
                },
                created_at=now,
            )
        )
    session.flush()


def remove_unverified_identities(session: Session, *, user_id: int) -> list[str]:
    """Unlink every identity of the user whose provider never verified its address (the
    account's address has just been proved another way); "provider:subject" of each."""
    dropped = session.exec(
        select(OAuthIdentity).where(
            OAuthIdentity.user_id == user_id, col(OAuthIdentity.email_verified).is_(False)
        )
    ).all()
    for identity in dropped:
        session.delete(identity)
    return [f"{i.provider}:{i.subject}" for i in dropped]


def _verified_elsewhere(session: Session, identity: OAuthIdentity) -> bool:
    """Whether another identity of the same account had its address verified."""
    return (
        session.exec(
            select(OAuthIdentity.id).where(
                OAuthIdentity.user_id == identity.user_id,
                OAuthIdentity.id != identity.id,
                col(OAuthIdentity.email_verified).is_(True),
            )
        ).first()
        is not None
    )


def _create_account(
    session: Session, *, email: str, identity: ProviderIdentity, ip_address: str | None
) -> User:
    try:
        user = accounts.create_account(
            session, email=email, password_hash="", name=identity.name, ip_address=ip_address
        )
    except EmailAlreadyRegisteredError:  # registered between our read and our insert
        raise OAuthSignInError("email_in_use", "the email was registered meanwhile") from None
    user.password_hash = None  # no password: signing in with one is refused, not just wrong
    session.add(user)
    return user


def _usable_user(user: User | None) -> User:
    if user is None:
        raise OAuthSignInError("login_invalid", "the linked account no longer exists")
    if user.is_disabled:
        raise OAuthSignInError("account_disabled", f"user {user.id} is suspended")
    return user


def _mark_verified(session: Session, user: User, now: datetime) -> None:
    accounts.mark_email_verified(session, user=user, now=now)


def _provider_email(email: str | None) -> str | None:
    if not email:
        return None
    try:
        return accounts.normalize_email(email)
    except ValidationError:
        return None
