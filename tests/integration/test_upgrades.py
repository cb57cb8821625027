"""Upgrading: a database left at any earlier migration, holding data, migrates to head with
every row and every balance intact, and the app carries on with it.

Each earlier revision gets its own database (cloned from a template at that revision), the
same shop written into it with plain SQL: only the columns that revision has (a column added
later is left to its migration's default), as a release of that time would have written them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import SQLModel

import stylestudio.models  # noqa: F401  (registers every table on SQLModel.metadata)
from stylestudio.db import create_db_engine, session_scope
from stylestudio.models import User
from stylestudio.services.billing import credits
from stylestudio.services.library.search import search_generations
from tests.support.databases import alembic_config, database_at, revisions

KINDS = ["sqlite", "postgresql"]
EARLIER = revisions()[:-1]

T0 = "2026-10-01 09:00:00.000000"
T1 = "2026-10-02 10:30:00.000000"
T2 = "2026-10-03 11:45:00.000000"

# Balances the ledger below adds up to: alice 10 + 50 - 2 - 2 + 2, bob 10 + 200 - 200 - 1,
# the admin 10 + 5 - 3.
BALANCES = {1: 58, 2: 9, 3: 12}


def _user(uid: int, email: str, role: str, credits_: int, **totals: Any) -> dict[str, Any]:
    return {
        "id": uid,
        "email": email,
        "name": email.split("@")[0].capitalize(),
        "password_hash": f"$argon2id$v=19$m=65536,t=3,p=4$salt{uid}$hash{uid}",
        "role": role,
        "is_disabled": False,
        "credits": credits_,
        "total_credits_purchased": totals.get("purchased", 0),
        "total_credits_used": totals.get("used", 0),
        "free_credits_granted": 10,
        "created_at": T0,
        "updated_at": T1,
        "last_login_at": T2,
        # 0002
        "flagged_for_review": uid == 2,
        "flag_reason": "Refunded a pack after spending it" if uid == 2 else None,
        # 0003
        "publishing_suspended": uid == 2,
        "publishing_suspended_reason": "Spam" if uid == 2 else None,
        # 0006
        "disabled_reason": None,
    }


def _generation(gid: int, uid: int, status: str, prompt: str, cost: int) -> dict[str, Any]:
    return {
        "id": gid,
        "user_id": uid,
        "status": status,
        "prompt": prompt,
        "negative_prompt": "blurry",
        "model": "local-studio",
        "style": "studio",
        "quality": "standard",
        "strength": 0.75,
        "aspect_ratio": "4:5",
        "guidance_scale": 7.5,
        "num_inference_steps": 30,
        "seed": 1000 + gid,
        "credits_used": cost,
        "processing_ms": 1200 if status == "completed" else None,
        "error": "provider failed" if status == "failed" else None,
        "retry_count": 1 if status == "failed" else 0,
        "engine": "local",
        "provider_prediction_id": f"pred-{gid}",
        "idempotency_key": f"request-{gid}:studio",
        "created_at": T1,
        "updated_at": T1,
        "started_at": T1,
        "completed_at": T1,
        # 0005
        "variations": 2 if gid == 1 else 1,
        "batch_key": f"request-{gid}",
    }


def _image(iid: int, uid: int, category: str, **links: Any) -> dict[str, Any]:
    return {
        "id": iid,
        "user_id": uid,
        "category": category,
        "filename": f"photo-{iid}.jpg",
        "content_type": "image/jpeg",
        "size_bytes": 20_000 + iid,
        "width": 800,
        "height": 1000,
        "storage_key": f"users/{uid}/{category}/{iid}.jpg",
        "thumbnail_key": f"users/{uid}/{category}/{iid}.thumb.webp",
        "blur_data_url": "data:image/webp;base64,UklGRg==",
        "source_image_id": links.get("source"),
        "generation_id": links.get("generation"),
        "image_order": 0,
        "is_primary": True,
        "sharing_enabled": iid == 2,
        "share_expires_at": None,
        "is_featured": iid == 2,
        "featured_at": T2 if iid == 2 else None,
        "feature_requested_at": T2 if iid == 2 else None,
        "moderation_status": "approved" if iid == 2 else "none",
        "moderated_by_id": 3 if iid == 2 else None,
        "moderated_at": T2 if iid == 2 else None,
        "is_disabled_by_admin": False,
        "disabled_by_admin_at": None,
        "disabled_reason": None,
        "created_at": T1,
        # 0003
        "feature_title": "Linen by the sea" if iid == 2 else None,
        "moderation_reason": "Lovely" if iid == 2 else None,
    }


def _entry(
    eid: int, uid: int, kind: str, amount: int, after: int, key: str, **links: Any
) -> dict[str, Any]:
    return {
        "id": eid,
        "user_id": uid,
        "kind": kind,
        "amount": amount,
        "balance_after": after,
        "idempotency_key": key,
        "generation_id": links.get("generation"),
        "purchase_id": links.get("purchase"),
        "description": f"{kind} {amount:+d}",
        "created_at": T1,
    }


def _purchase(
    pid: int, uid: int, pack: str, credits_: int, cents: int, status: str
) -> dict[str, Any]:
    return {
        "id": pid,
        "user_id": uid,
        "pack_code": pack,
        "pack_display_name": pack.capitalize(),
        "amount_cents": cents,
        "currency": "usd",
        "credits": credits_,
        "status": status,
        "provider": "stripe" if pid == 2 else "offline",
        "transaction_id": f"txn-{pid}",
        "stripe_checkout_session_id": "cs_test_2" if pid == 2 else None,
        "stripe_payment_intent_id": "pi_test_2" if pid == 2 else None,
        "payment_method": "card",
        "error": None,
        "refund_reason": "requested_by_customer" if status == "refunded" else None,
        "created_at": T0,
        "completed_at": T1,
        # 0002
        "refunded_cents": cents if status == "refunded" else 0,
        "clawed_back_credits": credits_ if status == "refunded" else 0,
        "uncollected_credits": 0,
    }


# Parents before children. Keys of a column a revision does not have yet are left out there.
SHOP: list[tuple[str, list[dict[str, Any]]]] = [
    (
        "users",
        [
            _user(1, "alice@example.com", "user", 58, purchased=50, used=2),
            _user(2, "bob@example.com", "user", 9, purchased=200, used=1),
            _user(3, "admin@example.com", "admin", 12),
        ],
    ),
    (
        "purchases",
        [
            _purchase(1, 1, "standard", 50, 999, "completed"),
            _purchase(2, 2, "pro", 200, 2999, "refunded"),
        ],
    ),
    (
        "generations",
        [
            _generation(1, 1, "completed", "Linen summer dress on a sunny beach", 2),
            _generation(2, 1, "failed", "Wool coat in falling snow", 2),
            _generation(3, 2, "completed", "Leather boots on a city street", 1),
        ],
    ),
    (
        "credit_ledger",
        [
            _entry(1, 1, "grant", 10, 10, "free-trial:user:1"),
            _entry(2, 2, "grant", 10, 10, "free-trial:user:2"),
            _entry(3, 3, "grant", 10, 10, "free-trial:user:3"),
            _entry(4, 1, "purchase", 50, 60, "checkout:purchase:1", purchase=1),
            _entry(5, 2, "purchase", 200, 210, "checkout:purchase:2", purchase=2),
            _entry(6, 1, "spend", -2, 58, "spend:generation:1", generation=1),
            _entry(7, 1, "spend", -2, 56, "spend:generation:2", generation=2),
            _entry(8, 1, "refund", 2, 58, "refund:generation:2", generation=2),
            _entry(9, 2, "clawback", -200, 10, "clawback:refund:re_test_2", purchase=2),
            _entry(10, 2, "spend", -1, 9, "spend:generation:3", generation=3),
            _entry(11, 3, "adjustment", 5, 15, "admin:grant:1"),
            _entry(12, 3, "adjustment", -3, 12, "admin:take:1"),
        ],
    ),
    (
        "images",
        [
            _image(1, 1, "product"),
            _image(2, 1, "generated", source=1, generation=1),
            _image(3, 2, "product"),
            _image(4, 2, "generated", source=3, generation=3),
        ],
    ),
    (
        "generation_inputs",
        [
            {"generation_id": 1, "image_id": 1, "role": "product", "position": 0},
            {"generation_id": 2, "image_id": 1, "role": "product", "position": 0},
            {"generation_id": 3, "image_id": 3, "role": "product", "position": 0},
        ],
    ),
    (
        "jobs",
        [
            {
                "id": gid,
                "kind": "generate",
                "payload": f'{{"generation_id": {gid}}}',
                "status": status,
                "attempts": 1,
                "max_attempts": 3,
                "run_after": T1,
                "lease_owner": None,
                "lease_expires_at": None,
                "last_error": "provider failed" if status == "failed" else None,
                "generation_id": gid,
                "created_at": T1,
                "updated_at": T1,
                "finished_at": T1,
            }
            for gid, status in ((1, "succeeded"), (2, "failed"), (3, "succeeded"))
        ],
    ),
    (
        "collections",
        [
            {
                "id": 1,
                "user_id": 1,
                "name": "Summer",
                "description": "Looks for the shop window",
                "is_public": True,
                "created_at": T2,
                "updated_at": T2,
            }
        ],
    ),
    ("collection_items", [{"collection_id": 1, "image_id": 2, "position": 0, "added_at": T2}]),
    (
        "share_links",
        [
            {
                "id": 1,
                "image_id": 2,
                "created_by_id": 1,
                "token_hash": "a" * 64,
                "expires_at": None,
                "revoked_at": None,
                "view_count": 7,
                "created_at": T2,
            }
        ],
    ),
    (
        "checkout_sessions",
        [
            {
                "id": 1,
                "user_id": 2,
                "purchase_id": 2,
                "provider": "stripe",
                "provider_session_id": "cs_test_2",
                "status": "completed",
                "url": "https://checkout.stripe.com/c/pay/cs_test_2",
                "error": None,
                "created_at": T0,
                "expires_at": T2,
                "completed_at": T1,
            }
        ],
    ),
    (
        "processed_webhook_events",
        [
            {
                "id": 1,
                "provider": "stripe",
                "event_id": "evt_test_1",
                "event_type": "checkout.session.completed",
                "received_at": T1,
            }
        ],
    ),
    (
        "oauth_identities",
        [
            {
                "id": 1,
                "user_id": 2,
                "provider": "github",
                "subject": "4242",
                "email": "bob@example.com",
                "created_at": T0,
                "last_login_at": T2,
                "email_verified": True,  # 0006
            }
        ],
    ),
    (
        "user_sessions",
        [
            {
                "id": 1,
                "user_id": 1,
                "token_hash": "b" * 64,
                "created_at": T2,
                "expires_at": "2026-11-03 11:45:00.000000",
                "last_seen_at": T2,
                "revoked_at": None,
                "ip_address": "203.0.113.9",
                "user_agent": "Mozilla/5.0",
            }
        ],
    ),
    (
        "audit_log",
        [
            {
                "id": 1,
                "actor_user_id": 3,
                "action": "credits.adjust",
                "target_type": "user",
                "target_id": "3",
                "details": '{"amount": 5}',
                "ip_address": None,
                "created_at": T1,
            }
        ],
    ),
    (
        "usage_events",
        [
            {
                "id": 1,
                "user_id": 1,
                "action": "generation_started",
                "details": '{"generation_id": 1}',
                "ip_address": None,
                "session_id": 1,
                "created_at": T1,
            }
        ],
    ),
    (
        "usage_daily",
        [
            {
                "id": 1,
                "day": "2026-10-02",
                "user_id": 1,
                "action": "generation_started",
                "count": 2,
                "credits": 4,
            }
        ],
    ),
    (
        "account_tokens",  # 0006
        [
            {
                "id": 1,
                "user_id": 1,
                "purpose": "verify_email",
                "token_hash": "c" * 64,
                "email": "alice@example.com",
                "created_at": T2,
                "expires_at": "2026-10-04 11:45:00.000000",
                "used_at": None,
            }
        ],
    ),
]


def _columns(conn: sa.Connection) -> dict[str, list[str]]:
    """Each table of the database as it stands, with its columns."""
    inspector = sa.inspect(conn)
    return {
        table: [c["name"] for c in inspector.get_columns(table)]
        for table in inspector.get_table_names()
        if table != "alembic_version" and not table.startswith("generations_fts")
    }


def _write_shop(conn: sa.Connection) -> None:
    schema = _columns(conn)
    for table, rows in SHOP:
        if table not in schema:
            continue  # a table of a later revision
        for row in rows:
            present = {k: v for k, v in row.items() if k in schema[table]}
            names = ", ".join(present)
            marks = ", ".join(f":{k}" for k in present)
            conn.execute(sa.text(f"INSERT INTO {table} ({names}) VALUES ({marks})"), present)
        if conn.dialect.name == "postgresql" and "id" in schema[table]:
            # Where its sequence stood after the app inserted those rows.
            conn.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            )


def _rows(conn: sa.Connection, schema: dict[str, list[str]]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in `schema`, in its columns of `schema`, in key order."""
    inspector = sa.inspect(conn)
    found = {}
    for table, columns in schema.items():
        key = inspector.get_pk_constraint(table)["constrained_columns"] or columns
        listed = ", ".join(columns)
        order = ", ".join(key)
        found[table] = [
            tuple(r)
            for r in conn.execute(sa.text(f"SELECT {listed} FROM {table} ORDER BY {order}"))
        ]
    return found


def test_the_shop_names_only_columns_of_the_current_schema() -> None:
    """A misspelt column would be left out at every revision, so guard against it here."""
    for table, rows in SHOP:
        known = set(SQLModel.metadata.tables[table].columns.keys())
        for row in rows:
            assert set(row) <= known, f"{table}: {sorted(set(row) - known)}"


@pytest.mark.parametrize("revision", EARLIER)
@pytest.mark.parametrize("kind", KINDS)
def test_a_database_at_an_earlier_revision_upgrades_with_its_data(
    kind: str, revision: str, tmp_path: Path
) -> None:
    with database_at(kind, tmp_path, revision) as url:
        engine = create_db_engine(url)
        try:
            with engine.begin() as conn:
                _write_shop(conn)
            with engine.connect() as conn:
                schema = _columns(conn)
                before = _rows(conn, schema)
        finally:
            engine.dispose()
        assert len(before["users"]) == 3 and len(before["credit_ledger"]) == 12

        command.upgrade(alembic_config(url), "head")

        engine = create_db_engine(url)
        try:
            with engine.connect() as conn:
                after = _rows(conn, schema)
            for table, rows in before.items():  # every row, in every column it had
                assert after[table] == rows, f"{table} changed upgrading from {revision}"
            with session_scope(engine, write=False) as session:
                for user_id, held in BALANCES.items():
                    assert credits.balance(session, user_id=user_id) == held
                    assert credits.ledger_sum(session, user_id=user_id) == held
                # Prompts written before search existed are found.
                assert search_generations(session, user_id=1, query="linen") == [1]

            # The app carries on: a replayed old key adds nothing, new rows get new ids.
            with session_scope(engine) as session:
                again = credits.spend(
                    session,
                    user_id=1,
                    amount=2,
                    idempotency_key="spend:generation:1",
                    generation_id=1,
                )
                assert (again.applied, again.entry_id, again.balance) == (False, 6, 58)
                spent = credits.spend(
                    session, user_id=2, amount=4, idempotency_key=f"upgrade:{revision}"
                )
                assert spent.applied and spent.balance == 5 and spent.entry_id > 12
                newcomer = User(email="carol@example.com", name="Carol")
                session.add(newcomer)
                session.flush()
                assert newcomer.id is not None and newcomer.id > 3
            with session_scope(engine, write=False) as session:
                assert credits.ledger_sum(session, user_id=2) == credits.balance(session, user_id=2)
        finally:
            engine.dispose()
