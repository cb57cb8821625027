"""Administering users: search, credit adjustments with a reason (ledger `adjustment`,
audited, once per request), suspend and restore. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from stylestudio.db import session_scope
from stylestudio.models import AuditLogEntry, CreditLedgerEntry, LedgerKind
from stylestudio.services.accounts import accounts, sign_in_tickets
from stylestudio.services.admin import admin_users
from stylestudio.services.billing import credits
from stylestudio.services.errors import (
    DomainError,
    InsufficientCreditsError,
    InvalidCredentialsError,
    NotFoundError,
    ValidationError,
)
from tests.support.admins import admin_proof, make_admin
from tests.support.builders import PASSWORD, new_user


def _adjust(
    db: Engine, admin: int, email: str, change: object, key: str, reason: str = "goodwill"
) -> int:
    with session_scope(db) as session:
        return admin_users.adjust_credits(
            session,
            admin=admin_proof(session, admin),
            email=email,
            change=change,
            reason=reason,
            request_key=key,
        )


def test_search_finds_by_email_or_name(db: Engine) -> None:
    make_admin(db)  # the one who reads what the admin page shows
    new_user(db, "ada@example.com")
    new_user(db, "bob@shop.example")
    with session_scope(db, write=False) as session:
        assert [
            u.email
            for u in admin_users.search_users(session, admin=admin_proof(session), query="SHOP")
        ] == ["bob@shop.example"]
        assert len(admin_users.search_users(session, admin=admin_proof(session), query="")) == 3
        assert (
            admin_users.search_users(session, admin=admin_proof(session), query="%") == []
        )  # a literal, not a wildcard


def test_adjustments_are_ledger_lines_audited_once_and_never_overdraw(db: Engine) -> None:
    admin = make_admin(db)
    user = new_user(db, "ada@example.com")  # 10 free credits
    assert _adjust(db, admin, "ada@example.com", "25", "k1") == 35
    assert _adjust(db, admin, "ada@example.com", "25", "k1") == 35  # the same submit again
    assert _adjust(db, admin, "ada@example.com", -5, "k2", "correction") == 30
    with pytest.raises(InsufficientCreditsError):
        _adjust(db, admin, "ada@example.com", -31, "k3")
    for bad in ("", "1.5", "abc", 0, True, 10**6):
        with pytest.raises(ValidationError):
            _adjust(db, admin, "ada@example.com", bad, "k4")
    with pytest.raises(ValidationError):
        _adjust(db, admin, "ada@example.com", 5, "k5", reason="  ")
    with pytest.raises(NotFoundError):
        _adjust(db, admin, "nobody@example.com", 5, "k6")
    with session_scope(db, write=False) as session:
        assert credits.balance(session, user_id=user) == 30
        assert credits.ledger_sum(session, user_id=user) == 30
        lines = session.exec(
            select(CreditLedgerEntry.amount, CreditLedgerEntry.description)
            .where(col(CreditLedgerEntry.kind) == LedgerKind.ADJUSTMENT)
            .order_by(col(CreditLedgerEntry.id))
        ).all()
        audit = session.exec(select(AuditLogEntry).order_by(col(AuditLogEntry.id))).all()
    assert [a for a, _ in lines] == [25, -5]
    assert lines[1][1].endswith("correction")
    assert [(e.action, e.actor_user_id, e.details) for e in audit] == [
        (admin_users.CREDITS_ADJUSTED, admin, {"change": 25, "reason": "goodwill"}),
        (admin_users.CREDITS_ADJUSTED, admin, {"change": -5, "reason": "correction"}),
    ]


def test_a_suspended_user_cannot_sign_in_and_their_sessions_end(db: Engine) -> None:
    admin = make_admin(db)
    user = new_user(db, "ada@example.com")
    with session_scope(db) as session:
        token = accounts.start_session(session, user_id=user)
    with session_scope(db) as session:
        admin_users.set_suspended(
            session,
            admin=admin_proof(session, admin),
            email="ada@example.com",
            suspended=True,
            reason="spam",
        )
    with session_scope(db, write=False) as session:
        assert accounts.resolve_session(session, token=token) is None
        [row] = admin_users.search_users(session, admin=admin_proof(session), query="ada")
    assert row.suspended and row.suspended_reason == "spam"
    with pytest.raises(InvalidCredentialsError):
        sign_in_tickets.password_sign_in(db=db, email="ada@example.com", password=PASSWORD)
    with session_scope(db) as session, pytest.raises(DomainError):
        sign_in_tickets.issue_ticket(
            session, user_id=user, browser_nonce=sign_in_tickets.new_browser_nonce()
        )
    with session_scope(db) as session, pytest.raises(ValidationError):
        admin_users.set_suspended(
            session,
            admin=admin_proof(session, admin),
            email="admin@example.com",
            suspended=True,
            reason="x",
        )

    with session_scope(db) as session:
        admin_users.set_suspended(
            session,
            admin=admin_proof(session, admin),
            email="ada@example.com",
            suspended=False,
            reason="ok",
        )
    assert (
        sign_in_tickets.password_sign_in(db=db, email="ada@example.com", password=PASSWORD) == user
    )
    with session_scope(db, write=False) as session:
        actions = [e.action for e in session.exec(select(AuditLogEntry)).all()]
    assert actions == [admin_users.SUSPENDED, admin_users.RESTORED]


def test_the_audit_log_names_users_by_email(db: Engine) -> None:
    from stylestudio.models import User, UserRole
    from stylestudio.services.admin import admin_audit_log
    from stylestudio.services.moderation import featuring

    admin = make_admin(db)
    user = new_user(db, "ada@example.com")
    with session_scope(db) as session:  # moderation checks the role itself
        row = session.get(User, admin)
        assert row is not None
        row.role = UserRole.ADMIN
        session.add(row)
    _adjust(db, admin, "ada@example.com", 5, "k1")
    with session_scope(db) as session:
        admin_users.set_suspended(
            session,
            admin=admin_proof(session, admin),
            email="ada@example.com",
            suspended=True,
            reason="x",
        )
    with session_scope(db) as session:
        featuring.set_publishing(
            session,
            admin=admin_proof(session, admin),
            email="ada@example.com",
            suspended=True,
            reason="spam",
        )
    with session_scope(db, write=False) as session:
        described = [
            row.what for row in admin_audit_log.list_audit_log(session, admin=admin_proof(session))
        ]
    assert described == [
        "Publishing suspended: ada@example.com",
        "User suspended: ada@example.com",
        "Credits adjusted: ada@example.com",
    ]
    assert not any(f"user {user}" in what for what in described)


def test_last_sign_in_is_known_for_every_way_in(db: Engine) -> None:
    make_admin(db)  # the one who reads what the admin page shows
    """Sign-up, a password sign-in and a session opened any other way all count; accounts
    whose sign-ins were never recorded on the user show their newest session."""
    from stylestudio.models import User

    user = new_user(db, "ada@example.com")
    with session_scope(db) as session:
        assert (
            admin_users.search_users(session, admin=admin_proof(session), query="ada")[
                0
            ].last_login_at
            == ""
        )
        accounts.start_session(session, user_id=user)  # e.g. right after sign-up
    with session_scope(db, write=False) as session:
        first = admin_users.search_users(session, admin=admin_proof(session), query="ada")[
            0
        ].last_login_at
    assert first != ""
    with session_scope(db) as session:  # an account from before: nothing on the user row
        row = session.get(User, user)
        assert row is not None
        row.last_login_at = None
        session.add(row)
    with session_scope(db, write=False) as session:
        assert (
            admin_users.search_users(session, admin=admin_proof(session), query="ada")[
                0
            ].last_login_at
            == first
        )
