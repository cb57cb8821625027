"""Ids the database hands out are never handed out again, so the ledger keys built from them
stay unique: deleting a generation or an account never makes a later generation free, nor
stops anyone from generating (issue 14, defects 1 and 2)."""

from __future__ import annotations

import re
import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, col, select

import stylestudio.models  # noqa: F401  (registers every table)
from stylestudio.adapters.local_engine.engine import LocalEngine
from stylestudio.adapters.storage import LocalStorage
from stylestudio.db import create_db_engine, session_scope
from stylestudio.models import (
    CreditLedgerEntry,
    Generation,
    GenerationStatus,
    Image,
    LedgerKind,
    User,
)
from stylestudio.services.accounts import account_self_service
from stylestudio.services.billing import credits
from stylestudio.services.generation import generations
from stylestudio.services.generation.generation_worker import run_next_generation_job
from tests.support.builders import new_generation, new_upload, new_user
from tests.support.databases import alembic_config, empty_database, migrated_engine
from tests.support.lookups import balance

ROOT = Path(__file__).resolve().parents[2]


def _run(db: Engine, storage: LocalStorage) -> None:
    while run_next_generation_job(db=db, storage=storage, engine=LocalEngine(), worker_id="w"):
        pass


def _booksbalance(db: Engine) -> None:
    """Ledger sum equals balance for every user, deleted accounts included."""
    with session_scope(db, write=False) as session:
        for user in session.exec(select(User)).all():
            assert user.id is not None
            assert credits.balance(session, user_id=user.id) == credits.ledger_sum(
                session, user_id=user.id
            ), f"books of {user.email} do not balance"


def _spends_of(db: Engine, generation_id: int) -> list[CreditLedgerEntry]:
    with session_scope(db, write=False) as session:
        return list(
            session.exec(
                select(CreditLedgerEntry).where(
                    CreditLedgerEntry.generation_id == generation_id,
                    CreditLedgerEntry.kind == LedgerKind.SPEND,
                )
            ).all()
        )


def _delete(db: Engine, *, user_id: int, generation_id: int) -> None:
    with session_scope(db) as session:
        generations.delete_generation(session, user_id=user_id, generation_id=generation_id)


def test_deleting_the_newest_generation_then_generating_charges_the_cost(
    db: Engine, storage: LocalStorage
) -> None:
    user = new_user(db)
    image = new_upload(db, storage, user)
    first = new_generation(db, user_id=user, image_id=image, key="one")
    _run(db, storage)
    _delete(db, user_id=user, generation_id=first)
    before = balance(db, user)

    second = new_generation(db, user_id=user, image_id=image, key="two")
    _run(db, storage)

    assert second != first, "the deleted generation's id was handed out again"
    cost = _spends_of(db, second)
    assert len(cost) == 1 and cost[0].amount < 0
    assert balance(db, user) == before + cost[0].amount
    with session_scope(db, write=False) as session:
        made = session.get(Generation, second)
        assert made is not None and made.status == GenerationStatus.COMPLETED
        assert -cost[0].amount == made.credits_used
    _booksbalance(db)


def test_a_deleted_account_does_not_stop_anyone_from_generating(
    db: Engine, storage: LocalStorage
) -> None:
    leaver = new_user(db, "leaver@example.com")
    image = new_upload(db, storage, leaver)
    gone = new_generation(db, user_id=leaver, image_id=image, key="leaver-1")
    _run(db, storage)
    with session_scope(db) as session:
        account_self_service.delete_account(
            session, user_id=leaver, confirm_email="leaver@example.com"
        )

    stayer = new_user(db, "stayer@example.com")
    photo = new_upload(db, storage, stayer)
    before = balance(db, stayer)
    made = new_generation(db, user_id=stayer, image_id=photo, key="stayer-1")
    _run(db, storage)

    assert made != gone
    spent = _spends_of(db, made)
    assert len(spent) == 1 and spent[0].user_id == stayer
    assert balance(db, stayer) == before + spent[0].amount < before
    _booksbalance(db)


def test_a_replay_that_is_not_the_same_movement_is_refused(db: Engine) -> None:
    """Defence in depth: a key already used for another movement is a conflict, never a
    silent replay (that is how the reused ids gave free generations)."""
    from stylestudio.services.errors import IdempotencyConflictError

    user = new_user(db)
    with session_scope(db) as session:
        credits.spend(session, user_id=user, amount=2, idempotency_key="k", generation_id=None)
    with session_scope(db) as session, pytest.raises(IdempotencyConflictError):
        credits.spend(session, user_id=user, amount=3, idempotency_key="k")
    with session_scope(db) as session:
        assert not credits.spend(session, user_id=user, amount=2, idempotency_key="k").applied
    _booksbalance(db)


# ------------------------------------------------------------------- every key pattern

# Every ledger/provider idempotency key the code builds, and what makes it unique. A new
# pattern must be added here with its reason, or this test fails.
KEY_PATTERNS = {
    'f"free-trial:user:{user_id}"': "users.id (AUTOINCREMENT; users are anonymised, not deleted)",
    'f"spend:generation:{generation.id}"': "generations.id (AUTOINCREMENT)",
    'f"refund:generation:{generation_id}"': "generations.id (AUTOINCREMENT)",
    'f"checkout:{purchase.transaction_id}"': "a random transaction id (uuid4)",
    'f"purchase:{remote.id}"': "the provider's checkout session id",
    'f"clawback:refund:{refund_id}"': "the provider's refund id",
    'f"clawback:refund:{charge_id}:{refunded_total}"': "the provider's charge id and total",
    'f"clawback:dispute:{dispute_id}"': "the provider's dispute id",
    'f"{idempotency_key}:{style}"': "the request's random batch key (uuid4) and its style",
    'f"adjustment:{request_key}"': "the admin form's random request key (uuid4)",
}


def _key_expressions() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "stylestudio").rglob("*.py"):
        text = path.read_text()
        found.update(re.findall(r'idempotency_key=(f"[^"]*")', text))
        found.update(re.findall(r'key = (f"[a-z-]+:[^"]*")', text))
    return found


def test_every_idempotency_key_pattern_is_listed_with_what_makes_it_unique() -> None:
    found = _key_expressions()
    assert found, "the scan found no key at all: the pattern is broken"
    unlisted = found - KEY_PATTERNS.keys()
    assert not unlisted, f"idempotency keys nobody checked for reuse: {sorted(unlisted)}"
    stale = KEY_PATTERNS.keys() - found
    assert not stale, f"listed keys the code no longer builds: {sorted(stale)}"


def test_every_table_keyed_by_an_integer_id_never_reuses_ids_on_sqlite(tmp_path: Path) -> None:
    with migrated_engine("sqlite", tmp_path) as engine, engine.connect() as conn:
        schema: dict[str, str] = dict(
            conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'").all()
        )
    keyed = [
        t.name
        for t in SQLModel.metadata.sorted_tables
        if [c.name for c in t.primary_key.columns] == ["id"]
    ]
    assert "generations" in keyed and "users" in keyed and "purchases" in keyed
    missing = [name for name in keyed if "AUTOINCREMENT" not in schema[name].upper()]
    assert not missing, f"tables that would hand a deleted row's id out again: {missing}"


@pytest.fixture(scope="module")
def three_users(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[int]]:
    """A migrated SQLite file with three users and a photo each, copied for every example
    (migrating and hashing passwords anew would cost most of the test's time)."""
    folder = tmp_path_factory.mktemp("unique-ids")
    storage = LocalStorage(folder / "media")
    with empty_database("sqlite", folder) as url:
        command.upgrade(alembic_config(url), "head")
        db = create_db_engine(url)
        users = [new_user(db, f"u{i}@example.com") for i in range(3)]
        for user in users:
            new_upload(db, storage, user)
        db.dispose()
        return Path(url.removeprefix("sqlite:///")), folder / "media", users


@pytest.mark.slow
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.sampled_from(["generate", "generate", "delete", "leave"]), st.integers(0, 2)),
        min_size=1,
        max_size=12,
    )
)
def test_ids_stay_unique_across_random_deletes(
    tmp_path: Path, three_users: tuple[Path, Path, list[int]], steps: list[tuple[str, int]]
) -> None:
    """Random generations, deletions of the newest generation and deleted accounts on
    SQLite: no id is handed out twice, every generation is charged once, books balance."""
    template, media_dir, users = three_users
    copy = tmp_path / f"example-{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(template, copy)
    db = create_db_engine(f"sqlite:///{copy}")
    storage = LocalStorage(media_dir)
    try:
        with session_scope(db, write=False) as session:
            photos: dict[int, int] = {}
            for u in users:
                photo = session.exec(select(Image.id).where(Image.user_id == u)).one()
                assert photo is not None
                photos[u] = photo
        alive = set(users)
        seen: set[int] = set()
        made: dict[int, int] = {}
        for number, (action, who) in enumerate(steps):
            user = users[who]
            if user not in alive:
                continue
            if action == "generate" and balance(db, user) >= 1:
                generation = new_generation(
                    db, user_id=user, image_id=photos[user], key=f"k{number}"
                )
                _run(db, storage)
                assert generation not in seen, f"id {generation} handed out twice"
                seen.add(generation)
                made[generation] = user
                assert len(_spends_of(db, generation)) == 1, "a generation went uncharged"
            elif action == "delete":
                mine = [g for g, owner in made.items() if owner == user]
                if mine:
                    _delete(db, user_id=user, generation_id=max(mine))
                    del made[max(mine)]
            elif action == "leave":
                with session_scope(db) as session:
                    account_self_service.delete_account(
                        session, user_id=user, confirm_email=f"u{who}@example.com"
                    )
                alive.discard(user)
                made = {g: o for g, o in made.items() if o != user}
        _booksbalance(db)
    finally:
        db.dispose()


# ------------------------------------------------------------- repairing an old database


def _plant_collisions(url: str) -> None:
    """What the bug left behind, written at revision 0006 with plain SQL: generation 5 of
    user 1 was charged and deleted; user 2's next generation got id 5 and was not charged."""
    engine = create_db_engine(url)
    now, later = "2026-11-01 10:00:00.000000", "2026-11-02 10:00:00.000000"
    user_columns = (
        "email, name, role, is_disabled, credits, total_credits_purchased, "
        "total_credits_used, free_credits_granted, created_at, updated_at"
    )
    generation_columns = (
        "id, user_id, status, prompt, negative_prompt, model, style, quality, strength, "
        "aspect_ratio, guidance_scale, num_inference_steps, seed, credits_used, retry_count, "
        "engine, idempotency_key, created_at, updated_at, variations"
    )
    ledger_columns = (
        "user_id, kind, amount, balance_after, idempotency_key, generation_id, description, "
        "created_at"
    )
    with engine.begin() as conn:
        for n, email in ((1, "old@example.com"), (2, "new@example.com")):
            conn.exec_driver_sql(
                f"INSERT INTO users (id, {user_columns}) VALUES "
                f"({n}, '{email}', '', 'user', false, 9, 0, 1, 10, '{now}', '{now}')"
            )
            conn.exec_driver_sql(
                f"INSERT INTO credit_ledger ({ledger_columns}) VALUES "
                f"({n}, 'grant', 10, 10, 'free-trial:user:{n}', NULL, '', '{now}')"
            )
        # user 1's generation 5: charged, then deleted (the ledger keeps its row, id unset)
        conn.exec_driver_sql(
            f"INSERT INTO credit_ledger ({ledger_columns}) VALUES "
            f"(1, 'spend', -1, 9, 'spend:generation:5', NULL, '', '{now}')"
        )
        # user 2's generation got id 5 again: its spend was taken for a replay
        conn.exec_driver_sql(
            f"INSERT INTO generations ({generation_columns}) VALUES (5, 2, 'failed', 'p', '', "
            f"'local-studio', 'studio', 'standard', 0.8, '1:1', 7.5, 30, 1, 1, 0, 'local', "
            f"'req', '{later}', '{later}', 1)"
        )
        conn.exec_driver_sql("UPDATE users SET credits = 10, total_credits_used = 0 WHERE id = 2")
        if conn.dialect.name == "postgresql":  # where its sequences stood after those rows
            for table, last in (("users", 2), ("generations", 5), ("credit_ledger", 10)):
                conn.exec_driver_sql(f"SELECT setval('{table}_id_seq', {last})")
    engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_migration_repairs_a_database_holding_collisions(
    kind: str, tmp_path: Path, storage: LocalStorage
) -> None:
    with empty_database(kind, tmp_path) as url:
        command.upgrade(alembic_config(url), "0006")
        _plant_collisions(url)
        command.upgrade(alembic_config(url), "head")
        db = create_db_engine(url)
        try:
            with session_scope(db, write=False) as session:
                keys = {e.idempotency_key: e for e in session.exec(select(CreditLedgerEntry)).all()}
                held = session.get(Generation, 5)
                assert held is not None
                # the stale key is retired; generation 5 records that it cost its owner nothing
                assert "spend:generation:5" not in keys
                assert any(k.startswith("spend:generation:5:retired:") for k in keys)
                assert held.credits_used == 0
            _booksbalance(db)

            # user 2's failed generation 5 refunds nothing (nothing was spent) ...
            from stylestudio.services.generation.generation_endings import end_generation

            with session_scope(db) as session:
                generation = session.get(Generation, 5)
                assert generation is not None
                generation.status = GenerationStatus.PROCESSING
                session.add(generation)
            with session_scope(db) as session:
                end_generation(session, generation_id=5, error="provider failed")
            assert balance(db, 2) == 10

            # ... and user 2's next generation is a new id, charged once
            photo = new_upload(db, storage, 2)
            made = new_generation(db, user_id=2, image_id=photo, key="after")
            assert made > 5
            assert len(_spends_of(db, made)) == 1
            assert balance(db, 2) < 10
            _booksbalance(db)
        finally:
            db.dispose()


def test_the_migration_starts_sqlite_sequences_past_every_id_a_key_named(tmp_path: Path) -> None:
    """A deleted generation 9 whose spend is still in the ledger: the next generation is 10,
    even though no row past 5 exists any more."""
    with empty_database("sqlite", tmp_path) as url:
        command.upgrade(alembic_config(url), "0006")
        _plant_collisions(url)
        raw = sqlite3.connect(url.removeprefix("sqlite:///"))
        raw.execute(
            "INSERT INTO credit_ledger (user_id, kind, amount, balance_after, idempotency_key, "
            "description, created_at) VALUES (1, 'spend', -1, 8, 'spend:generation:9', '', "
            "'2026-11-01 11:00:00')"
        )
        raw.execute("UPDATE users SET credits = 8 WHERE id = 1")
        raw.commit()
        raw.close()
        command.upgrade(alembic_config(url), "head")
        db = create_db_engine(url)
        try:
            with db.begin() as conn:
                seq = conn.exec_driver_sql(
                    "SELECT seq FROM sqlite_sequence WHERE name = 'generations'"
                ).scalar_one()
                assert seq >= 9
                count = conn.execute(sa.select(sa.func.count()).select_from(Generation)).scalar()
                assert count == 1
            with session_scope(db, write=False) as session:
                rows = session.exec(select(User).order_by(col(User.id))).all()
                assert [u.email for u in rows] == ["old@example.com", "new@example.com"]
        finally:
            db.dispose()
