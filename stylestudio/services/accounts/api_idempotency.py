"""`Idempotency-Key` for REST API requests that spend (draft-ietf-httpapi-idempotency-key-header).

The first successful answer to a keyed request is kept (per user and key) with a fingerprint
of the request; a retry of the same request gets that answer again, and the same key sent
with another request is refused. What makes a retry charge nothing is the operation's own
idempotency (a generation batch is keyed by the same key, see `batch_key_for`); the stored
answer only makes the retry answer alike. Refusals (an error answer) are not kept: nothing
was done, so the retry runs again, e.g. once credits were bought.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from stylestudio.models import ApiIdempotencyKey
from stylestudio.services.errors import ValidationError

KEY_MAX = 255
# How long a key's first answer is kept (as Stripe keeps keys, 24 hours): within it a retry
# gets that very answer and the key with another body is refused. After it the key still
# names its batch (`batch_key_for`), so a retry starts and charges nothing; its answer is
# read from the batch again.
ANSWER_RETENTION = timedelta(hours=24)


class IdempotencyKeyReusedError(ValidationError):
    """The key was first used for another request (another body, path or method)."""

    code = "IDEMPOTENCY_KEY_REUSED"

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was already used for a different request. "
            "Use a new key for a new request."
        )


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    body: dict[str, Any]


def fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 of the method, the path and the body, as sent."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def check_key(key: str) -> str:
    """The header's value, or ValidationError for one that is empty or too long."""
    key = key.strip()
    if not key or len(key) > KEY_MAX or not key.isprintable():
        raise ValidationError(
            f"An Idempotency-Key is 1 to {KEY_MAX} printable characters (a UUID, say)."
        )
    return key


def batch_key_for(*, user_id: int, key: str) -> str:
    """The generation batch key that a keyed request starts (at most 80 characters): the
    same key from the same user starts one batch, however often and concurrently it is
    sent."""
    return "api:" + hashlib.sha256(f"{user_id}\x1f{key}".encode()).hexdigest()[:48]


def stored_answer(
    session: Session, *, user_id: int, key: str, request_fingerprint: str
) -> StoredAnswer | None:
    """The answer kept for this key, None if there is none yet, or
    IdempotencyKeyReusedError if the key was used for another request."""
    row = session.exec(
        select(ApiIdempotencyKey).where(
            ApiIdempotencyKey.user_id == user_id, ApiIdempotencyKey.key == key
        )
    ).first()
    if row is None:
        return None
    if row.fingerprint != request_fingerprint:
        raise IdempotencyKeyReusedError()
    return StoredAnswer(row.status_code, dict(row.response))


def remember_answer(
    session: Session,
    *,
    user_id: int,
    key: str,
    request_fingerprint: str,
    answer: StoredAnswer,
) -> StoredAnswer:
    """Keep `answer` as the key's answer, unless a concurrent request with the key kept
    one first: then that one (or IdempotencyKeyReusedError if it was another request)."""
    try:
        with session.begin_nested():
            session.add(
                ApiIdempotencyKey(
                    user_id=user_id,
                    key=key,
                    fingerprint=request_fingerprint,
                    status_code=answer.status_code,
                    response=answer.body,
                )
            )
            session.flush()
    except IntegrityError:
        first = stored_answer(
            session, user_id=user_id, key=key, request_fingerprint=request_fingerprint
        )
        if first is None:
            raise
        return first
    return answer


def forget_old_answers(session: Session, *, now: datetime | None = None) -> int:
    """Delete the answers kept longer than ANSWER_RETENTION. Returns how many went."""
    cutoff = (now or datetime.now(UTC)) - ANSWER_RETENTION
    result = session.execute(
        sa.delete(ApiIdempotencyKey).where(col(ApiIdempotencyKey.created_at) < cutoff)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
