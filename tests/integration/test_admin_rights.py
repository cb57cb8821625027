"""Admin rights as a type: every admin operation asks for an `AdminProof`, and only
`require_admin` / `prove_admin` make one, after reading the role from the database."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest
from sqlalchemy.engine import Engine

from stylestudio.db import session_scope
from stylestudio.models import User, UserRole
from stylestudio.services.accounts.admin_rights import AdminProof, prove_admin, require_admin
from stylestudio.services.admin import (
    admin,
    admin_audit_log,
    admin_purchases,
    admin_users,
    billing_admin,
)
from stylestudio.services.errors import ForbiddenError, UnauthorizedError
from stylestudio.services.moderation import featuring

# Helpers that only read a form's text, not the database: nothing to guard.
FORM_PARSERS = {"parse_dollars", "parse_whole_number"}
# What a user (not an admin) does with featuring: ask, withdraw, see their own state.
USER_FEATURING = {"request_featuring", "withdraw", "featured_state_label"}


def _public_functions(module: ModuleType) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(fn)
        for name, fn in vars(module).items()
        if inspect.isfunction(fn) and fn.__module__ == module.__name__ and not name.startswith("_")
    }


@pytest.mark.parametrize(
    "module", [admin, admin_audit_log, admin_purchases, admin_users, billing_admin, featuring]
)
def test_every_admin_operation_requires_the_proof(module: ModuleType) -> None:
    missing = []
    for name, signature in _public_functions(module).items():
        if name in FORM_PARSERS | USER_FEATURING:
            continue
        param = signature.parameters.get("admin")
        if (
            param is None
            or param.annotation not in (AdminProof, "AdminProof")
            or param.default is not inspect.Parameter.empty
        ):
            missing.append(name)
    assert missing == []


def test_a_proof_cannot_be_made_by_hand() -> None:
    with pytest.raises(TypeError):
        AdminProof(user_id=1, email="me@example.com")
    with pytest.raises(TypeError):
        AdminProof(1, "me@example.com", object())


def _user(db: Engine, email: str, role: UserRole, *, disabled: bool = False) -> int:
    with session_scope(db) as session:
        user = User(email=email, role=role, is_disabled=disabled)
        session.add(user)
        session.flush()
        assert user.id is not None
        return user.id


def test_only_an_active_admin_gets_a_proof(db: Engine) -> None:
    boss = _user(db, "boss@example.com", UserRole.ADMIN)
    shopper = _user(db, "shopper@example.com", UserRole.USER)
    suspended = _user(db, "former@example.com", UserRole.ADMIN, disabled=True)
    with session_scope(db, write=False) as session:
        proof = prove_admin(session, user_id=boss)
        assert (proof.user_id, proof.email) == (boss, "boss@example.com")
        for refused in (shopper, suspended, 10**9):
            with pytest.raises(ForbiddenError):
                prove_admin(session, user_id=refused)
        with pytest.raises(UnauthorizedError):
            require_admin(session, token=None)
        with pytest.raises(UnauthorizedError):
            require_admin(session, token="made-up")
