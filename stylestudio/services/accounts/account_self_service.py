"""What users do to their own account on /account: name, password, sessions, sign-in
methods, taking their data with them, and deleting the account."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from stylestudio.adapters.storage import MediaStorage, StorageError, StorageUnavailable
from stylestudio.models import (
    AccountToken,
    ApiIdempotencyKey,
    ApiKey,
    AuditLogEntry,
    Collection,
    CreditLedgerEntry,
    Generation,
    Image,
    OAuthIdentity,
    Purchase,
    ShareLink,
    User,
    UserSession,
    utc_iso,
    utcnow,
)
from stylestudio.services.accounts import accounts
from stylestudio.services.accounts.oauth_accounts import configured_providers
from stylestudio.services.errors import NotFoundError, ValidationError

MAX_SESSIONS_LISTED = 50


@dataclass(frozen=True)
class SessionRow:
    id: int
    device: str
    ip_address: str
    created_at: str
    last_seen_at: str
    current: bool


def _device(user_agent: str | None) -> str:
    """A readable name for a browser from its user agent ("Chrome on Linux")."""
    ua = user_agent or ""
    browser = next(
        (
            name
            for token, name in (
                ("Edg/", "Edge"),
                ("Firefox/", "Firefox"),
                ("Chrome/", "Chrome"),
                ("Safari/", "Safari"),
                ("python-httpx", "a script (httpx)"),
            )
            if token in ua
        ),
        "A browser",
    )
    system = next(
        (
            name
            for token, name in (
                ("Android", "Android"),
                ("iPhone", "iPhone"),
                ("iPad", "iPad"),
                ("Windows", "Windows"),
                ("Mac OS X", "macOS"),
                ("Linux", "Linux"),
            )
            if token in ua
        ),
        "",
    )
    return f"{browser} on {system}" if system else browser


def list_sessions(session: Session, *, user_id: int, current_session_id: int) -> list[SessionRow]:
    """The user's open sessions, most recently seen first; the current one is marked."""
    now = utcnow()
    rows = session.exec(
        select(UserSession)
        .where(
            UserSession.user_id == user_id,
            col(UserSession.revoked_at).is_(None),
            col(UserSession.expires_at) > now,
        )
        .order_by(col(UserSession.last_seen_at).desc(), col(UserSession.id).desc())
        .limit(MAX_SESSIONS_LISTED)
    ).all()
    return [
        SessionRow(
            id=r.id or 0,
            device=_device(r.user_agent),
            ip_address=r.ip_address or "",
            created_at=utc_iso(r.created_at),
            last_seen_at=utc_iso(r.last_seen_at),
            current=r.id == current_session_id,
        )
        for r in rows
    ]


def revoke_session(session: Session, *, user_id: int, session_id: object) -> None:
    """End one of the user's sessions (another user's is "not found")."""
    row = session.get(UserSession, session_id) if isinstance(session_id, int) else None
    if row is None or row.user_id != user_id:
        raise NotFoundError("That session does not exist.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)


def rename(session: Session, *, user_id: int, name: object) -> str:
    """Set the name shown on public pages ("" shows none)."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError("That account no longer exists.")
    user.name = accounts.clean_name(name)
    user.updated_at = utcnow()
    session.add(user)
    return user.name


def set_password(
    session: Session, *, user_id: int, password_hash: str, keep_session_id: int
) -> None:
    """A new password (hashed by the caller, outside the transaction); every other session of
    the user ends, this one stays."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError("That account no longer exists.")
    user.password_hash = password_hash
    user.updated_at = utcnow()
    session.add(user)
    session.execute(
        sa.update(UserSession)
        .where(
            col(UserSession.user_id) == user_id,
            col(UserSession.id) != keep_session_id,
            col(UserSession.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow())
    )


def is_verified(session: Session, *, user_id: int) -> bool:
    user = session.get(User, user_id)
    return user is not None and user.email_verified_at is not None


@dataclass(frozen=True)
class SignInMethod:
    """One way to sign in, as /account lists it. `key` names it for `remove_sign_in_method`:
    "password" or "identity-<id>"."""

    key: str
    provider: str  # "Password", or the provider's button label ("Google", "GitHub", ...)
    email: str
    subject: str  # the provider's id of the person ("" for the password)
    verified: bool  # the provider verified the address (the password: the account's address)
    added_at: str  # UTC ISO 8601 ("" for the password: not recorded)
    last_used_at: str
    removable: bool  # never the last way to sign in


PASSWORD_METHOD = "password"
METHOD_REMOVED = "sign_in_method_removed"
ONLY_METHOD = "This is your only way to sign in: add another before removing it."


def sign_in_methods(session: Session, *, user_id: int) -> list[SignInMethod]:
    """How the user can sign in: the password (if set), then each linked provider identity,
    oldest first — each distinct (provider, the provider's id of the person, when added)."""
    user = session.get(User, user_id)
    if user is None:
        return []
    identities = session.exec(
        select(OAuthIdentity)
        .where(OAuthIdentity.user_id == user_id)
        .order_by(col(OAuthIdentity.created_at), col(OAuthIdentity.id))
    ).all()
    count = len(identities) + (1 if user.password_hash else 0)
    labels = {p.key: p.label for p in configured_providers()}
    methods: list[SignInMethod] = []
    if user.password_hash:
        methods.append(
            SignInMethod(
                key=PASSWORD_METHOD,
                provider="Password",
                email=user.email,
                subject="",
                verified=user.email_verified_at is not None,
                added_at="",
                last_used_at="",
                removable=count > 1,
            )
        )
    methods += [
        SignInMethod(
            key=f"identity-{i.id}",
            provider=labels.get(i.provider, i.provider),
            email=i.email or "",
            subject=i.subject,
            verified=i.email_verified,
            added_at=utc_iso(i.created_at),
            last_used_at=utc_iso(i.last_login_at) if i.last_login_at else "",
            removable=count > 1,
        )
        for i in identities
    ]
    return methods


def remove_sign_in_method(
    session: Session, *, user_id: int, key: object, keep_session_id: int
) -> str:
    """Remove one of the user's ways to sign in (never the last one); every other session of
    the user ends, since one of them may have come in that way. Audited. Returns what was
    removed, for the message."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError("That account no longer exists.")
    methods = {m.key: m for m in sign_in_methods(session, user_id=user_id)}
    method = methods.get(key) if isinstance(key, str) else None
    if method is None:
        raise NotFoundError("That sign-in method does not exist.")
    if not method.removable:
        raise ValidationError(ONLY_METHOD)
    if method.key == PASSWORD_METHOD:
        user.password_hash = None
        user.updated_at = utcnow()
        session.add(user)
        what = "password"
    else:
        identity = session.get(OAuthIdentity, int(method.key.removeprefix("identity-")))
        assert identity is not None and identity.user_id == user_id
        what = f"{identity.provider}:{identity.subject}"
        session.delete(identity)
    ended = session.execute(
        sa.update(UserSession)
        .where(
            col(UserSession.user_id) == user_id,
            col(UserSession.id) != keep_session_id,
            col(UserSession.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow())
    )
    session.add(
        AuditLogEntry(
            actor_user_id=user_id,
            action=METHOD_REMOVED,
            target_type="user",
            target_id=str(user_id),
            details={"method": what, "sessions_ended": int(ended.rowcount or 0)},  # type: ignore[attr-defined]
        )
    )
    session.flush()
    return f"{method.provider} ({method.email})" if method.email else method.provider


def export_zip(session: Session, *, user_id: int, storage: MediaStorage) -> bytes:
    """Everything of the user's: every image file (uploads and results) and a JSON of the
    account, generations, purchases and credit ledger."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError("That account no longer exists.")
    images = session.exec(
        select(Image).where(Image.user_id == user_id).order_by(col(Image.id))
    ).all()
    generations = session.exec(
        select(Generation).where(Generation.user_id == user_id).order_by(col(Generation.id))
    ).all()
    purchases = session.exec(
        select(Purchase).where(Purchase.user_id == user_id).order_by(col(Purchase.id))
    ).all()
    ledger = session.exec(
        select(CreditLedgerEntry)
        .where(CreditLedgerEntry.user_id == user_id)
        .order_by(col(CreditLedgerEntry.id))
    ).all()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:  # images are compressed
        files = []
        for image in images:
            name = (
                f"images/{image.id}-{image.category.value}.{image.storage_key.rsplit('.', 1)[-1]}"
            )
            try:
                archive.writestr(name, storage.get(image.storage_key))
            except StorageUnavailable:
                raise  # a store that does not answer: try again later, not a thinner export
            except StorageError:  # a missing file is listed, not fatal
                name = ""
            files.append(_row(image) | {"file": name})
        data = {
            "account": {
                "email": user.email,
                "name": user.name,
                "created_at": utc_iso(user.created_at),
                "credits": user.credits,
            },
            "images": files,
            "generations": [_row(g) for g in generations],
            "purchases": [_row(p) for p in purchases],
            "credit_ledger": [_row(e) for e in ledger],
        }
        archive.writestr(
            "style-studio.json",
            json.dumps(data, indent=2, default=str, ensure_ascii=False),
            compress_type=zipfile.ZIP_DEFLATED,
        )
    return out.getvalue()


def _row(model: Any) -> dict[str, Any]:
    return {k: v for k, v in model.model_dump().items() if k not in _PRIVATE_FIELDS}


_PRIVATE_FIELDS = {"password_hash", "token_hash", "idempotency_key", "storage_key", "thumbnail_key"}


def delete_account(session: Session, *, user_id: int, confirm_email: object) -> list[str]:
    """Delete the account: images (rows here, files by the caller after commit — returned),
    generations, collections, share links, sessions, identities and links go; purchases and
    the credit ledger stay for the books, on an anonymous account that cannot sign in."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError("That account no longer exists.")
    if not isinstance(confirm_email, str) or (confirm_email.strip().lower() != user.email.lower()):
        raise ValidationError("Type your email address exactly to confirm.")
    keys = [
        k
        for image in session.exec(select(Image).where(Image.user_id == user_id)).all()
        for k in (image.storage_key, image.thumbnail_key)
        if k
    ]
    image_ids = select(Image.id).where(Image.user_id == user_id)
    session.execute(sa.delete(ShareLink).where(col(ShareLink.image_id).in_(image_ids)))
    for table in (
        Collection,
        Image,
        Generation,
        UserSession,
        OAuthIdentity,
        AccountToken,
        ApiKey,
        ApiIdempotencyKey,
    ):
        owner = sa.inspect(table).local_table.c.user_id
        session.execute(sa.delete(table).where(owner == user_id))
    user.email = f"deleted-{user_id}@deleted.invalid"
    user.name = ""
    user.password_hash = None
    user.profile_image_url = None
    user.email_verified_at = None
    user.is_disabled = True
    user.disabled_reason = "account deleted by its owner"
    user.updated_at = utcnow()
    session.add(user)
    return keys
