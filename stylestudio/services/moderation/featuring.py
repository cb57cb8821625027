"""Featuring and moderation: owners ask, admins decide, everything is audited.

States of an image (``images.moderation_status``): ``none`` → (owner asks) ``pending`` →
(admin) ``approved`` (featured on /explore) or ``rejected`` (with a reason). An approved
image can be taken down by an admin (``is_disabled_by_admin`` with a reason) and withdrawn by
its owner at any time (back to ``none``). An admin can suspend a user's right to publish:
their requests are refused and their images leave /explore until it is restored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, func, select

from stylestudio.models import (
    AuditLogEntry,
    Generation,
    GenerationStatus,
    Image,
    ImageCategory,
    ModerationStatus,
    User,
    utc_iso,
    utcnow,
)
from stylestudio.services.accounts.admin_rights import AdminProof
from stylestudio.services.billing import pricing
from stylestudio.services.errors import NotFoundError, ValidationError
from stylestudio.services.ids import is_row_id
from stylestudio.services.media.media import media_url
from stylestudio.settings import get_settings

MAX_TITLE = 120
MAX_REASON = 500

FEATURE_APPROVED = "feature.approved"
FEATURE_REJECTED = "feature.rejected"
FEATURE_TAKEN_DOWN = "feature.taken_down"
FEATURE_REQUESTED = "feature.requested"
FEATURE_WITHDRAWN = "feature.withdrawn"
PUBLISHING_SUSPENDED = "user.publishing_suspended"
PUBLISHING_RESTORED = "user.publishing_restored"

DESCRIPTIONS = {
    FEATURE_APPROVED: "Featuring approved",
    FEATURE_REJECTED: "Featuring rejected",
    FEATURE_TAKEN_DOWN: "Featured image taken down",
    FEATURE_REQUESTED: "Featuring requested",
    FEATURE_WITHDRAWN: "Withdrawn from Explore by its owner",
    PUBLISHING_SUSPENDED: "Publishing suspended",
    PUBLISHING_RESTORED: "Publishing restored",
}


def _text(value: object, *, limit: int, label: str, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(f"The {label} must be text.")
    if len(value) > limit * 4:
        raise ValidationError(f"The {label} is too long (at most {limit} characters).")
    text = " ".join(value.split())
    if len(text) > limit:
        raise ValidationError(f"The {label} is too long (at most {limit} characters).")
    if required and not text:
        raise ValidationError(f"Give a {label}.")
    return text


def _owned_result(session: Session, *, user_id: int, image_id: object) -> Image:
    """One of the user's generated images; anything else is 'not found' (never 'forbidden':
    another user's ids must not be probeable)."""
    if not is_row_id(image_id):
        raise NotFoundError("That image does not exist.")
    image = session.get(Image, image_id)
    if image is None or image.user_id != user_id or image.category != ImageCategory.GENERATED:
        raise NotFoundError("That image does not exist.")
    return image


def _image_for_admin(session: Session, image_id: object) -> Image:
    if not is_row_id(image_id):
        raise NotFoundError("That image does not exist.")
    image = session.get(Image, image_id)
    if image is None:
        raise NotFoundError("That image does not exist.")
    return image


def _audit(
    session: Session,
    *,
    actor_user_id: int | None,
    action: str,
    target_type: str,
    target_id: int,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    session.add(
        AuditLogEntry(
            actor_user_id=actor_user_id,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            details={"before": before, "after": after},
        )
    )


def _state(image: Image) -> dict[str, Any]:
    return {
        "moderation_status": ModerationStatus(image.moderation_status).value,
        "featured": bool(image.is_featured and not image.is_disabled_by_admin),
    }


# --------------------------------------------------------------------------- owners


def request_featuring(
    session: Session, *, user_id: int, image_id: object, title: object = ""
) -> None:
    """The owner asks for a completed result to be featured on /explore."""
    image = _owned_result(session, user_id=user_id, image_id=image_id)
    clean_title = _text(title, limit=MAX_TITLE, label="title", required=False)
    owner = session.get(User, user_id)
    if owner is None:
        raise NotFoundError("That image does not exist.")
    if owner.publishing_suspended:
        reason = owner.publishing_suspended_reason or "ask an administrator"
        raise ValidationError(f"Publishing is suspended for your account: {reason}.")
    if owner.email_verified_at is None and get_settings().verified_email_required:
        raise ValidationError(
            "Verify your email address to publish: open the link we sent you "
            "(or ask for a new one on your account page)."
        )
    generation = session.get(Generation, image.generation_id or 0)
    if generation is None or generation.status != GenerationStatus.COMPLETED:
        raise ValidationError("Only finished images can be featured.")
    status = ModerationStatus(image.moderation_status)
    if status == ModerationStatus.PENDING:
        raise ValidationError("This image is already waiting for review.")
    if status == ModerationStatus.APPROVED and not image.is_disabled_by_admin:
        raise ValidationError("This image is already featured.")
    if image.is_disabled_by_admin:
        raise ValidationError("An administrator took this image down; it cannot be featured.")
    before = _state(image)
    now = utcnow()
    image.moderation_status = ModerationStatus.PENDING
    image.feature_requested_at = now
    image.feature_title = clean_title or None
    image.moderation_reason = None
    image.is_featured = False
    session.add(image)
    assert image.id is not None
    _audit(
        session,
        actor_user_id=user_id,
        action=FEATURE_REQUESTED,
        target_type="image",
        target_id=image.id,
        before=before,
        after={**_state(image), "title": clean_title},
    )


def withdraw(session: Session, *, user_id: int, image_id: object) -> None:
    """The owner takes the image off /explore (or out of the queue), at any time."""
    image = _owned_result(session, user_id=user_id, image_id=image_id)
    status = ModerationStatus(image.moderation_status)
    if status not in (ModerationStatus.PENDING, ModerationStatus.APPROVED):
        raise ValidationError("This image is not featured or waiting for review.")
    before = _state(image)
    image.moderation_status = ModerationStatus.NONE
    image.is_featured = False
    image.featured_at = None
    session.add(image)
    assert image.id is not None
    _audit(
        session,
        actor_user_id=user_id,
        action=FEATURE_WITHDRAWN,
        target_type="image",
        target_id=image.id,
        before=before,
        after=_state(image),
    )


# --------------------------------------------------------------------------- admins


def approve(session: Session, *, admin: AdminProof, image_id: object) -> None:
    actor_user_id = admin.user_id
    image = _image_for_admin(session, image_id)
    if image.moderation_status != ModerationStatus.PENDING:
        raise ValidationError("This image is not waiting for review (it may have been withdrawn).")
    before = _state(image)
    now = utcnow()
    image.moderation_status = ModerationStatus.APPROVED
    image.is_featured = True
    image.featured_at = now
    image.moderated_by_id = actor_user_id
    image.moderated_at = now
    image.moderation_reason = None
    session.add(image)
    assert image.id is not None
    _audit(
        session,
        actor_user_id=actor_user_id,
        action=FEATURE_APPROVED,
        target_type="image",
        target_id=image.id,
        before=before,
        after=_state(image),
    )


def reject(session: Session, *, admin: AdminProof, image_id: object, reason: object) -> None:
    actor_user_id = admin.user_id
    why = _text(reason, limit=MAX_REASON, label="reason", required=True)
    image = _image_for_admin(session, image_id)
    if image.moderation_status != ModerationStatus.PENDING:
        raise ValidationError("This image is not waiting for review (it may have been withdrawn).")
    before = _state(image)
    image.moderation_status = ModerationStatus.REJECTED
    image.is_featured = False
    image.moderated_by_id = actor_user_id
    image.moderated_at = utcnow()
    image.moderation_reason = why
    session.add(image)
    assert image.id is not None
    _audit(
        session,
        actor_user_id=actor_user_id,
        action=FEATURE_REJECTED,
        target_type="image",
        target_id=image.id,
        before=before,
        after={**_state(image), "reason": why},
    )


def take_down(session: Session, *, admin: AdminProof, image_id: object, reason: object) -> None:
    """An approved image leaves /explore with a reason the owner sees."""
    actor_user_id = admin.user_id
    why = _text(reason, limit=MAX_REASON, label="reason", required=True)
    image = _image_for_admin(session, image_id)
    if image.moderation_status != ModerationStatus.APPROVED or image.is_disabled_by_admin:
        raise ValidationError("Only a featured image can be taken down.")
    before = _state(image)
    now = utcnow()
    image.is_disabled_by_admin = True
    image.disabled_by_admin_at = now
    image.disabled_reason = why
    image.is_featured = False
    image.moderated_by_id = actor_user_id
    image.moderated_at = now
    session.add(image)
    assert image.id is not None
    _audit(
        session,
        actor_user_id=actor_user_id,
        action=FEATURE_TAKEN_DOWN,
        target_type="image",
        target_id=image.id,
        before=before,
        after={**_state(image), "reason": why},
    )


def set_publishing(
    session: Session, *, admin: AdminProof, email: object, suspended: bool, reason: object = ""
) -> None:
    """Suspend (with a reason) or restore a user's right to publish."""
    actor_user_id = admin.user_id
    if not isinstance(email, str) or not email.strip() or len(email) > 320:
        raise NotFoundError("No account has that email.")
    user = session.exec(select(User).where(User.email == email.strip().lower())).first()
    if user is None or user.id is None:
        raise NotFoundError("No account has that email.")
    why = _text(reason, limit=MAX_REASON, label="reason", required=suspended)
    before = {"publishing_suspended": user.publishing_suspended}
    user.publishing_suspended = suspended
    user.publishing_suspended_reason = why if suspended else None
    session.add(user)
    after: dict[str, Any] = {"publishing_suspended": suspended}
    if suspended:
        after["reason"] = why
    _audit(
        session,
        actor_user_id=actor_user_id,
        action=PUBLISHING_SUSPENDED if suspended else PUBLISHING_RESTORED,
        target_type="user",
        target_id=user.id,
        before=before,
        after=after,
    )


# --------------------------------------------------------------------------- the queue


@dataclass(frozen=True)
class QueueItem:
    id: int
    image_url: str
    thumb_url: str
    title: str
    prompt: str
    style: str
    owner: str
    owner_suspended: bool
    owner_approved: int
    owner_rejected: int
    owner_generations: int
    requested_at: str


def pending_count(session: Session, *, admin: AdminProof) -> int:
    """How many featuring requests wait for a decision (the whole queue, not one page)."""
    return int(
        session.exec(
            select(func.count())
            .select_from(Image)
            .where(Image.moderation_status == ModerationStatus.PENDING)
        ).one()
    )


def moderation_queue(
    session: Session, *, admin: AdminProof, base_url: str, limit: int = 50
) -> list[QueueItem]:
    """Pending requests, oldest first, with what an admin needs to decide."""
    rows = session.exec(
        select(Image, User, Generation)
        .join(User, col(User.id) == Image.user_id)
        .join(Generation, col(Generation.id) == Image.generation_id, isouter=True)
        .where(Image.moderation_status == ModerationStatus.PENDING)
        .order_by(col(Image.feature_requested_at), col(Image.id))
        .limit(max(1, min(limit, 100)))
    ).all()
    owners = {user.id for _, user, _ in rows}
    history: dict[tuple[int, str], int] = {}
    generations: dict[int, int] = {}
    if owners:
        for owner_id, status, count in session.exec(
            select(Image.user_id, Image.moderation_status, func.count())
            .where(col(Image.user_id).in_(owners))
            .group_by(col(Image.user_id), col(Image.moderation_status))
        ).all():
            history[(owner_id, str(status))] = int(count)
        for owner_id, count in session.exec(
            select(Generation.user_id, func.count())
            .where(col(Generation.user_id).in_(owners))
            .group_by(col(Generation.user_id))
        ).all():
            generations[owner_id] = int(count)
    items = []
    for image, user, generation in rows:
        assert image.id is not None and user.id is not None
        preset = pricing.STYLE_PRESETS.get(generation.style if generation else "")
        items.append(
            QueueItem(
                id=image.id,
                image_url=media_url(image.storage_key, base_url=base_url),
                thumb_url=media_url(image.thumbnail_key or image.storage_key, base_url=base_url),
                title=image.feature_title or "",
                prompt=generation.prompt if generation else "",
                style=preset.label if preset else "",
                owner=user.email,
                owner_suspended=user.publishing_suspended,
                owner_approved=history.get((user.id, ModerationStatus.APPROVED.value), 0),
                owner_rejected=history.get((user.id, ModerationStatus.REJECTED.value), 0),
                owner_generations=generations.get(user.id, 0),
                requested_at=utc_iso(image.feature_requested_at),
            )
        )
    return items


def featured_state_label(status: str, disabled: bool, reason: str | None) -> str:
    """What the owner reads on the card."""
    if disabled:
        return f"Taken down: {reason}" if reason else "Taken down by an administrator"
    if status == ModerationStatus.PENDING.value:
        return "Waiting for review"
    if status == ModerationStatus.APPROVED.value:
        return "Featured on Explore"
    if status == ModerationStatus.REJECTED.value:
        return f"Not featured: {reason}" if reason else "Not featured"
    return ""
