"""The proof of admin rights that every admin operation takes.

An admin service function asks for an `AdminProof` in its signature, and only this module
makes one, after reading the user's role from the database: a caller that forgot to check is
a type error (mypy), and a forged proof fails when it is built. A proof is for the transaction
that made it: take it inside the same session as the operation (the pages do, every event)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session

from stylestudio.models import User, UserRole
from stylestudio.services.accounts.accounts import require_user
from stylestudio.services.errors import ForbiddenError

_MINT = object()  # only this module holds it


@dataclass(frozen=True, slots=True)
class AdminProof:
    """An administrator, as read from the database in the current transaction."""

    user_id: int
    email: str
    _mint: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._mint is not _MINT:
            raise TypeError("An AdminProof comes from require_admin or prove_admin only.")


def require_admin(session: Session, *, token: str | None) -> AdminProof:
    """The signed-in admin behind a session token, re-read from the database on every call."""
    user = require_user(session, token=token)
    if not user.is_admin:
        raise ForbiddenError("This page is for administrators.")
    return AdminProof(user_id=user.id, email=user.email, _mint=_MINT)


def prove_admin(session: Session, *, user_id: int) -> AdminProof:
    """An admin by account id (the command line and jobs act for a named admin): the account
    must exist, be an admin and not be suspended."""
    user = session.get(User, user_id)
    if user is None or user.id is None or user.role != UserRole.ADMIN or user.is_disabled:
        raise ForbiddenError("Only administrators can do this.")
    return AdminProof(user_id=user.id, email=user.email, _mint=_MINT)
