"""`stylestudio bootstrap` (what `make run` calls): a demo admin only when there is no
admin at all, and never by promoting an account someone already holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from stylestudio import cli, runtime
from stylestudio.db import dispose_engines, session_scope
from stylestudio.models import User, UserRole
from stylestudio.services.accounts import accounts
from stylestudio.settings import get_settings


@pytest.fixture
def configured(db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("STYLESTUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("STYLESTUDIO_ADMIN_EMAILS", cli.DEMO_ADMIN_EMAIL)

    def reset() -> None:
        get_settings.cache_clear()
        runtime.reset()
        dispose_engines()

    reset()
    try:
        yield db
    finally:
        monkeypatch.undo()
        reset()


def _role(db: Engine, email: str) -> UserRole | None:
    with session_scope(db, write=False) as session:
        user = session.exec(select(User).where(User.email == email)).first()
        return UserRole(user.role) if user else None


def test_bootstrap_twice_leaves_an_existing_demo_address_account_as_it_was(
    configured: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    # Someone signed up with the demo address (listed as an admin address, too) first.
    accounts.register(
        db=configured,
        email=cli.DEMO_ADMIN_EMAIL,
        password="someone-elses-password",
        request=accounts.SessionRequest(),
    )
    for _ in range(2):
        assert cli.main(["bootstrap"]) == 0
        assert "ordinary account" in capsys.readouterr().out
        assert _role(configured, cli.DEMO_ADMIN_EMAIL) == UserRole.USER
    with session_scope(configured, write=False) as session:
        assert accounts.count_admins(session) == 0


def test_bootstrap_creates_the_demo_admin_once(
    configured: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["bootstrap"]) == 0
    assert "Demo admin created" in capsys.readouterr().out
    assert _role(configured, cli.DEMO_ADMIN_EMAIL) == UserRole.ADMIN
    assert cli.main(["bootstrap"]) == 0
    assert "An admin account exists." in capsys.readouterr().out
    with session_scope(configured, write=False) as session:
        assert len(session.exec(select(User)).all()) == 1
