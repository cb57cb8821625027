"""Share links: a random, expiring, revocable public link to one generated image.

The plain token is returned once, at creation, and never stored: the database holds its
SHA-256 only, so a leaked database reveals no working link. A link answers only while it is
live (not revoked, not expired), its image is not disabled by an admin and its owner may
publish; anything else looks exactly like a token that never existed.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

import sqlalchemy as sa
from sqlmodel import Session, col, select

from stylestudio.models import (
    Generation,
    GenerationStatus,
    Image,
    ImageCategory,
    ShareLink,
    User,
    utc_iso,
    utcnow,
)
from stylestudio.services.accounts.accounts import public_name
from stylestudio.services.billing import pricing
from stylestudio.services.errors import NotFoundError, ValidationError

ExpiresIn = Literal["1d", "7d", "never"]
EXPIRY_CHOICES: tuple[str, ...] = get_args(ExpiresIn)
EXPIRY_LABELS: dict[str, str] = {"1d": "1 day", "7d": "7 days", "never": "Never"}
_EXPIRY_DELTAS: dict[str, timedelta | None] = {
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "never": None,
}

TOKEN_BYTES = 32  # 256 bits of randomness
# What secrets.token_urlsafe(32) produces: 43 characters of the URL-safe base64 alphabet.
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")

_NOT_FOUND_IMAGE = "That image no longer exists."
_NOT_FOUND_LINK = "That share link does not exist."


@dataclass(frozen=True)
class CreatedShare:
    """A new link. `token` is shown once (its address: `share_url`)."""

    token: str
    link_id: int
    expires_at: datetime | None  # None: never expires

    @property
    def expires_at_iso(self) -> str:
        return utc_iso(self.expires_at)


@dataclass(frozen=True)
class ShareLinkView:
    """One link as the image card lists it (the token itself is never shown again)."""

    id: int
    created_at: str
    expires_at: str  # "" when it never expires
    status: Literal["active", "expired", "revoked"]
    view_count: int


@dataclass(frozen=True)
class SharedImage:
    """What the public share page shows."""

    storage_key: str
    thumbnail_key: str | None
    width: int
    height: int
    content_type: str
    prompt: str
    style: str  # the style preset's label ("" if unknown)
    title: str | None  # the image's feature title, if it has one
    author: str
    created_at: str


def hash_share_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_share_link(
    session: Session,
    *,
    user_id: int,
    image_id: int,
    expires_in: ExpiresIn,
    now: datetime | None = None,
) -> CreatedShare:
    """The owner shares one of their completed generated images; returns the plain token
    (only its hash is stored)."""
    if expires_in not in _EXPIRY_DELTAS:
        raise ValidationError("Choose when the link expires: in 1 day, in 7 days or never.")
    now = now or utcnow()
    image = _owned_image(session, user_id=user_id, image_id=image_id)
    owner = session.get(User, user_id)
    if owner is None:
        raise NotFoundError(_NOT_FOUND_IMAGE)
    if owner.publishing_suspended:
        reason = (owner.publishing_suspended_reason or "").strip() or "contact support"
        raise ValidationError(
            f"Publishing is suspended for your account: {reason}.".replace("..", ".")
        )
    if image.category != ImageCategory.GENERATED:
        raise ValidationError("Only images you generated can be shared.")
    generation = session.get(Generation, image.generation_id) if image.generation_id else None
    if generation is None or generation.status != GenerationStatus.COMPLETED:
        raise ValidationError("This image can be shared once its generation has completed.")
    if image.is_disabled_by_admin:
        raise ValidationError("This image was disabled by an administrator and cannot be shared.")

    delta = _EXPIRY_DELTAS[expires_in]
    expires_at = now + delta if delta is not None else None
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = ShareLink(
        image_id=image_id,
        created_by_id=user_id,
        token_hash=hash_share_token(token),
        expires_at=expires_at,
        created_at=now,
    )
    session.add(link)
    session.flush()
    assert link.id is not None
    _refresh_image_sharing(session, image=image, now=now)
    return CreatedShare(token=token, link_id=link.id, expires_at=expires_at)


def revoke_share_link(
    session: Session, *, user_id: int, link_id: int, now: datetime | None = None
) -> None:
    """The owner revokes one link; it answers 404 from this commit on. Revoking a revoked
    link changes nothing. Another user's link is reported as not found."""
    now = now or utcnow()
    row = session.exec(
        select(ShareLink, Image)
        .join(Image, col(Image.id) == ShareLink.image_id)
        .where(ShareLink.id == link_id)
    ).first()
    if row is None or row[1].user_id != user_id:
        raise NotFoundError(_NOT_FOUND_LINK)
    link, image = row
    if link.revoked_at is None:
        link.revoked_at = now
        session.add(link)
        session.flush()
    _refresh_image_sharing(session, image=image, now=now)


def revoke_all_for_image(
    session: Session, *, user_id: int, image_id: int, now: datetime | None = None
) -> int:
    """The owner turns sharing off for an image: every live link is revoked. Returns how
    many were."""
    now = now or utcnow()
    image = _owned_image(session, user_id=user_id, image_id=image_id)
    result = session.execute(
        sa.update(ShareLink)
        .where(col(ShareLink.image_id) == image_id, col(ShareLink.revoked_at).is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    )
    _refresh_image_sharing(session, image=image, now=now)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def list_share_links(
    session: Session, *, user_id: int, image_id: int, now: datetime | None = None
) -> list[ShareLinkView]:
    """The image's links, newest first, for its owner."""
    now = now or utcnow()
    _owned_image(session, user_id=user_id, image_id=image_id)
    links = session.exec(
        select(ShareLink)
        .where(ShareLink.image_id == image_id)
        .order_by(col(ShareLink.id).desc())
        .limit(100)
    ).all()
    views = []
    for link in links:
        assert link.id is not None
        views.append(
            ShareLinkView(
                id=link.id,
                created_at=utc_iso(link.created_at),
                expires_at=utc_iso(link.expires_at),
                status=_status(link, now=now),
                view_count=link.view_count,
            )
        )
    return views


def resolve_share(
    session: Session, *, token: str, now: datetime | None = None
) -> SharedImage | None:
    """The image behind a live link, counting the view; None for anything else (unknown,
    revoked, expired, image disabled, owner suspended) — the caller cannot tell which."""
    row = _live_share(session, token=token, now=now)
    if row is None:
        return None
    link, image, owner, generation = row
    session.execute(
        sa.update(ShareLink)
        .where(col(ShareLink.id) == link.id)
        .values(view_count=ShareLink.view_count + 1)
        .execution_options(synchronize_session=False)
    )
    preset = pricing.STYLE_PRESETS.get(generation.style)
    return SharedImage(
        storage_key=image.storage_key,
        thumbnail_key=image.thumbnail_key,
        width=image.width,
        height=image.height,
        content_type=image.content_type,
        prompt=generation.prompt,
        style=preset.label if preset else "",
        title=image.feature_title or None,
        author=public_name(owner.name, owner.email),
        created_at=utc_iso(image.created_at),
    )


@dataclass(frozen=True)
class SharedFile:
    """The stored file a live link's image URL serves."""

    storage_key: str
    content_type: str


def shared_image_file(
    session: Session, *, token: str, now: datetime | None = None
) -> SharedFile | None:
    """The file behind a live link, looked up on every request (no view counted), so the
    image's URL dies with its link: None after a revoke, an expiry, an admin's disabling or
    the owner's suspension, exactly when `resolve_share` answers None."""
    row = _live_share(session, token=token, now=now)
    if row is None:
        return None
    image = row[1]
    return SharedFile(storage_key=image.storage_key, content_type=image.content_type)


def _live_share(
    session: Session, *, token: str, now: datetime | None
) -> tuple[ShareLink, Image, User, Generation] | None:
    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
        return None  # neither a prefix nor a stored hash is ever a token
    now = now or utcnow()
    row = session.exec(
        select(ShareLink, Image, User, Generation)
        .join(Image, col(Image.id) == ShareLink.image_id)
        .join(User, col(User.id) == Image.user_id)
        .join(Generation, col(Generation.id) == Image.generation_id)
        .where(
            ShareLink.token_hash == hash_share_token(token),
            col(ShareLink.revoked_at).is_(None),
            sa.or_(col(ShareLink.expires_at).is_(None), col(ShareLink.expires_at) > now),
            col(Image.is_disabled_by_admin).is_(False),
            Image.category == ImageCategory.GENERATED,
            col(User.publishing_suspended).is_(False),
            col(User.is_disabled).is_(False),
            Generation.status == GenerationStatus.COMPLETED,
        )
    ).first()
    if row is None:
        return None
    link, image, owner, generation = row
    return link, image, owner, generation


def _owned_image(session: Session, *, user_id: int, image_id: int) -> Image:
    image = session.get(Image, image_id)
    if image is None or image.user_id != user_id:
        raise NotFoundError(_NOT_FOUND_IMAGE)
    return image


def _status(link: ShareLink, *, now: datetime) -> Literal["active", "expired", "revoked"]:
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at is not None and link.expires_at <= now:
        return "expired"
    return "active"


def _refresh_image_sharing(session: Session, *, image: Image, now: datetime) -> None:
    """`images.sharing_enabled` is true while the image has a live link;
    `images.share_expires_at` is when the last of them expires (None: never, or not shared).

    Expiry alone does not rewrite these columns (nothing runs at that moment): they are a
    hint for listings, and `resolve_share` checks each link itself.
    """
    live = session.exec(
        select(ShareLink.expires_at).where(
            ShareLink.image_id == image.id,
            col(ShareLink.revoked_at).is_(None),
            sa.or_(col(ShareLink.expires_at).is_(None), col(ShareLink.expires_at) > now),
        )
    ).all()
    image.sharing_enabled = bool(live)
    if not live or any(e is None for e in live):
        image.share_expires_at = None
    else:
        image.share_expires_at = max(e for e in live if e is not None)
    session.add(image)
    session.flush()


def share_url(token: str, *, base_url: str) -> str:
    """The public address of a share link on the backend at `base_url` (served by
    api/share_page.py)."""
    return f"{base_url.rstrip('/')}/s/{token}"


def shared_image_url(token: str, *, base_url: str) -> str:
    """The address of a live link's image, served through the token itself (see
    `shared_image_file`) rather than a signed media URL that would outlive a revoke."""
    return f"{base_url.rstrip('/')}/api/share/{token}/image"
