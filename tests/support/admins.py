"""Admin rights in tests: the same proof the pages get, made the same way."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from stylestudio.db import session_scope
from stylestudio.models import User, UserRole
from stylestudio.services.accounts import accounts
from stylestudio.services.accounts.admin_rights import AdminProof, prove_admin


def make_admin(db: Engine, email: str = "admin@example.com") -> int:
    """A new account with the admin role; its id."""
    with session_scope(db) as session:
        user = accounts.sign_up(session, email=email, password="admin password 1")
        assert user.id is not None
        accounts.set_role(session, email=email, role=UserRole.ADMIN)
        return user.id


def admin_proof(session: Session, user_id: int | None = None) -> AdminProof:
    """The proof for admin `user_id`, or for the database's first admin."""
    if user_id is None:
        user_id = session.exec(
            select(User.id).where(User.role == UserRole.ADMIN).order_by(col(User.id))
        ).first()
        assert user_id is not None, "no admin in this database: make one with make_admin(db)"
    return prove_admin(session, user_id=user_id)
