"""`stylestudio ...`: set-up, users, admins and the worker, from the command line."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from pydantic import ValidationError
from sqlmodel import Session, select

from stylestudio import production
from stylestudio.db import session_scope
from stylestudio.log_output import configure_logging
from stylestudio.models import User, UserRole
from stylestudio.runtime import get_storage
from stylestudio.services.accounts import accounts
from stylestudio.services.errors import DomainError
from stylestudio.services.media import media_sweep
from stylestudio.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
DEMO_ADMIN_EMAIL = "admin@stylestudio.local"
log = logging.getLogger(__name__)


def migrate(*, alembic_logging: bool = True) -> None:
    """Bring the configured database to the newest schema. `alembic_logging=False` keeps the
    process's own logging (alembic.ini's would reset the root logger to warnings only)."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.storage == "local":
        settings.media_dir.mkdir(parents=True, exist_ok=True)
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.set_main_option("sqlalchemy.url", settings.effective_database_url)
    cfg.attributes["configure_logger"] = alembic_logging
    command.upgrade(cfg, "head")


def ensure_demo_admin() -> str:
    """Create the demo admin when there is no admin at all; say what happened.

    An existing account is never promoted here: whoever signed up with the demo address
    first is not proof of anything. `stylestudio admin promote` does that, deliberately.
    """
    settings = get_settings()
    with session_scope() as session:
        if accounts.count_admins(session) > 0:
            return "An admin account exists."
        existing = session.exec(select(User.id).where(User.email == DEMO_ADMIN_EMAIL)).first()
        if existing is not None:
            return (
                f"No admin yet, and {DEMO_ADMIN_EMAIL} is an ordinary account; "
                "make someone an admin with: stylestudio admin promote <email>"
            )
        password = secrets.token_urlsafe(12)
        accounts.sign_up(
            session,
            email=DEMO_ADMIN_EMAIL,
            password=password,
            name="Demo admin",
            role=UserRole.ADMIN,
        )
    if settings.environment == "development":
        return f"Demo admin created: {DEMO_ADMIN_EMAIL} / {password}"
    return f"Demo admin created: {DEMO_ADMIN_EMAIL} (password not shown outside development)"


def _create_user(session: Session, email: str, password: str | None, admin: bool) -> str:
    password = password or secrets.token_urlsafe(12)
    role = UserRole.ADMIN if admin else UserRole.USER
    user = accounts.sign_up(session, email=email, password=password, role=role)
    return f"Created {user.email} ({user.role}) with password: {password}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stylestudio", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("bootstrap", help="migrate, then create a demo admin if there is none")
    sub.add_parser("worker", help="run a generation worker until interrupted")
    serve_parser = sub.add_parser(
        "serve",
        help="production: check the settings, migrate, build the frontend, then run and "
        "supervise the backend processes and the generation workers on one address",
    )
    serve_parser.add_argument(
        "--prod", action="store_true", help="required: production mode (development: make run)"
    )
    serve_parser.add_argument(
        "--web-processes", type=int, help="default: STYLESTUDIO_WEB_PROCESSES"
    )
    serve_parser.add_argument("--workers", type=int, help="default: STYLESTUDIO_WORKER_PROCESSES")
    serve_parser.add_argument("--host", help="default: STYLESTUDIO_HOST")
    serve_parser.add_argument("--port", type=int, help="default: STYLESTUDIO_PORT")
    serve_parser.add_argument(
        "--backend-only",
        action="store_true",
        help="build no frontend and serve the backend (websocket, API) only: for pages "
        "served from elsewhere, and for fault tests that only speak the websocket",
    )

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

    media = sub.add_parser("media", help="maintain stored media files").add_subparsers(
        dest="action", required=True
    )
    sweep = media.add_parser(
        "sweep", help="list stored files no image refers to (a dry run unless --delete)"
    )
    sweep.add_argument("--delete", action="store_true", help="remove them")
    sweep.add_argument(
        "--older-than-minutes",
        type=_minutes,
        default=int(media_sweep.DEFAULT_GRACE.total_seconds() // 60),
        help="skip files younger than this, which may belong to an upload still committing "
        "(default: %(default)s)",
    )

    args = parser.parse_args(argv)
    try:
        get_settings()
    except ValidationError as exc:
        for error in exc.errors():
            print(f"refused: {error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    configure_logging()
    if args.command == "serve":
        return serve(args)
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
        elif args.command == "media":
            print(sweep_media(delete=args.delete, older_than_minutes=args.older_than_minutes))
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


def serve(args: argparse.Namespace) -> int:
    """`serve --prod`: refuse a configuration that would break, migrate, then supervise."""
    if not args.prod:
        print(
            "error: serve runs production only: pass --prod (development: make run)",
            file=sys.stderr,
        )
        return 2
    settings = get_settings()
    default = production.Plan.from_settings(settings)
    plan = production.Plan(
        web_processes=default.web_processes if args.web_processes is None else args.web_processes,
        worker_processes=default.worker_processes if args.workers is None else args.workers,
        host=args.host or default.host,
        port=args.port or default.port,
        backend_only=args.backend_only,
    )
    if plan.web_processes < 1 or plan.worker_processes < 0:
        print("error: at least one backend process, and zero or more workers", file=sys.stderr)
        return 2
    problems = production.refusals(settings, plan)
    for problem in problems:
        print(f"refused: {problem}", file=sys.stderr)
    if problems:
        return 2
    log.info(
        "production: %s backend and %s worker processes on %s:%s; migrating",
        plan.web_processes,
        plan.worker_processes,
        plan.host,
        plan.port,
    )
    try:
        migrate(alembic_logging=False)
    except Exception:
        log.exception("could not migrate the database: nothing was started")
        return 1
    log.info("database is up to date; building the frontend and starting the processes")
    production.empty_metrics_folder(os.environ)
    supervisor = production.Supervisor(
        children=production.children_for(plan),
        env=production.child_environment(plan, os.environ, state_lease_ms=settings.state_lease_ms),
        cwd=ROOT,
        health_url=production.health_url(plan),
    )
    return supervisor.run()


def sweep_media(*, delete: bool, older_than_minutes: int) -> str:
    """List (or delete) the stored files no image refers to, one line each, then a summary."""
    storage = get_storage()
    older_than = timedelta(minutes=older_than_minutes)
    with session_scope(write=False) as session:
        if delete:
            files = media_sweep.sweep_orphans(session, storage=storage, older_than=older_than)
        else:
            files = media_sweep.find_orphans(session, storage=storage, older_than=older_than)
    verb = "deleted" if delete else "would delete"
    lines = [
        f"{verb} {f.key} ({f.size_bytes:,} bytes, modified {f.modified_at:%Y-%m-%d %H:%M} UTC)"
        for f in files
    ]
    total = f"{len(files)} orphaned file{'' if len(files) == 1 else 's'}, "
    total += f"{sum(f.size_bytes for f in files):,} bytes"
    skipped = f"files younger than {older_than_minutes} min were left alone"
    if delete:
        lines.append(f"Deleted {total} ({skipped}).")
    else:
        lines.append(f"Found {total} ({skipped}); nothing deleted, pass --delete to remove them.")
    return "\n".join(lines)


def _minutes(value: str) -> int:
    try:
        minutes = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number of minutes") from None
    if minutes < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return minutes


if __name__ == "__main__":
    raise SystemExit(main())
