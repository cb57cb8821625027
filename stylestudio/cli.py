"""`stylestudio ...`: set-up, users, admins and the worker, from the command line."""

from __future__ import annotations

import argparse
import contextlib
import logging
import secrets
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlmodel import Session, select

from stylestudio.db import session_scope
from stylestudio.models import User, UserRole
from stylestudio.services import accounts
from stylestudio.services.errors import DomainError
from stylestudio.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
DEMO_ADMIN_EMAIL = "admin@stylestudio.local"


def migrate() -> None:
    """Bring the configured database to the newest schema."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.set_main_option("sqlalchemy.url", settings.effective_database_url)
    command.upgrade(cfg, "head")


def ensure_demo_admin() -> str:
    """Create the demo admin when there is no admin at all; say what happened."""
    settings = get_settings()
    with session_scope() as session:
        if accounts.count_admins(session) > 0:
            return "An admin account exists."
        password = secrets.token_urlsafe(12)
        existing = session.exec(select(User).where(User.email == DEMO_ADMIN_EMAIL)).first()
        if existing is not None:
            accounts.set_role(session, email=DEMO_ADMIN_EMAIL, role=UserRole.ADMIN)
            return f"Promoted {DEMO_ADMIN_EMAIL} to admin."
        accounts.sign_up(
            session,
            email=DEMO_ADMIN_EMAIL,
            password=password,
            name="Demo admin",
            admin_emails=frozenset({DEMO_ADMIN_EMAIL}),
        )
    if settings.environment == "development":
        return f"Demo admin created: {DEMO_ADMIN_EMAIL} / {password}"
    return f"Demo admin created: {DEMO_ADMIN_EMAIL} (password not shown outside development)"


def _create_user(session: Session, email: str, password: str | None, admin: bool) -> str:
    password = password or secrets.token_urlsafe(12)
    admins = frozenset({accounts.normalize_email(email)}) if admin else frozenset()
    user = accounts.sign_up(session, email=email, password=password, admin_emails=admins)
    return f"Created {user.email} ({user.role}) with password: {password}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stylestudio", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("bootstrap", help="migrate, then create a demo admin if there is none")
    sub.add_parser("worker", help="run a generation worker until interrupted")

    users = sub.add_parser("users", help="manage users").add_subparsers(
        dest="action", required=True
    )
    create = users.add_parser("create", help="create a user with a password")
    create.add_argument("email")
    create.add_argument("--password", help="default: a random one, printed")
    create.add_argument("--admin", action="store_true")

    admin = sub.add_parser("admin", help="manage admins").add_subparsers(
        dest="action", required=True
    )
    for name in ("promote", "demote"):
        admin.add_parser(name).add_argument("email")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        if args.command == "migrate":
            migrate()
            print("Database is up to date.")
        elif args.command == "bootstrap":
            migrate()
            print(ensure_demo_admin())
        elif args.command == "worker":
            from stylestudio.worker import run_forever

            with contextlib.suppress(KeyboardInterrupt):
                run_forever()
        elif args.command == "users":
            with session_scope() as session:
                print(_create_user(session, args.email, args.password, args.admin))
        elif args.command == "admin":
            role = UserRole.ADMIN if args.action == "promote" else UserRole.USER
            with session_scope() as session:
                user = accounts.set_role(session, email=args.email, role=role)
                print(f"{user.email} is now {'an admin' if role == UserRole.ADMIN else 'a user'}.")
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
