"""The Alembic migrations build exactly the schema the models describe, with its seed rows."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

import stylestudio.models  # noqa: F401  (registers every table on SQLModel.metadata)
from stylestudio.db import create_db_engine
from stylestudio.services.library.search import include_name
from tests.support.databases import alembic_config, empty_database, migrate

KINDS = ["sqlite", "postgresql"]
EXPECTED_PACKS = [
    ("starter", 10, 299),
    ("standard", 50, 999),
    ("pro", 200, 2999),
    ("enterprise", 1000, 9999),
]


def _schema_diff(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": include_name}
        )
        return list(compare_metadata(context, SQLModel.metadata))


def _seed_rows(engine: sa.Engine) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with engine.connect() as conn:
        settings = [
            tuple(r)
            for r in conn.execute(
                sa.text("SELECT id, free_trial_credits, refund_on_failure FROM billing_settings")
            )
        ]
        packs = [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT code, credits, price_cents FROM credit_packs "
                    "WHERE is_active ORDER BY sort_order"
                )
            )
        ]
    return settings, packs


@pytest.mark.parametrize("kind", KINDS)
def test_migrated_schema_matches_the_models(kind: str, tmp_path: Path) -> None:
    with empty_database(kind, tmp_path) as url:
        migrate(url)
        engine = create_db_engine(url)
        try:
            diff = _schema_diff(engine)
        finally:
            engine.dispose()
    assert diff == [], f"models and migrations disagree on {kind}: {diff}"


@pytest.mark.parametrize("kind", KINDS)
def test_baseline_seeds_billing_settings_and_packs(kind: str, tmp_path: Path) -> None:
    with empty_database(kind, tmp_path) as url:
        migrate(url)
        engine = create_db_engine(url)
        try:
            settings, packs = _seed_rows(engine)
        finally:
            engine.dispose()
    assert len(settings) == 1
    row_id, free_trial, refund_on_failure = settings[0]
    assert row_id == 1
    assert free_trial == 10
    assert bool(refund_on_failure) is True
    # $2.99, $9.99, $29.99 and $99.99 are stored in cents.
    assert packs == EXPECTED_PACKS


@pytest.mark.slow
def test_downgrade_to_base_then_upgrade_again_on_sqlite(tmp_path: Path) -> None:
    with empty_database("sqlite", tmp_path) as url:
        cfg = alembic_config(url)
        command.upgrade(cfg, "head")
        command.downgrade(cfg, "base")
        engine = create_db_engine(url)
        try:
            left = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
            assert left == set(), f"downgrade left tables behind: {sorted(left)}"
        finally:
            engine.dispose()

        command.upgrade(cfg, "head")
        engine = create_db_engine(url)
        try:
            tables = set(sa.inspect(engine).get_table_names())
            assert set(SQLModel.metadata.tables) <= tables
            assert _schema_diff(engine) == []
            settings, packs = _seed_rows(engine)
        finally:
            engine.dispose()
    assert [(r[0], r[1]) for r in settings] == [(1, 10)]
    assert packs == EXPECTED_PACKS


@pytest.mark.parametrize("kind", KINDS)
def test_negative_credits_violate_the_check_constraint(kind: str, tmp_path: Path) -> None:
    insert = sa.text(
        "INSERT INTO users (email, name, role, is_disabled, credits, total_credits_purchased, "
        "total_credits_used, free_credits_granted, created_at, updated_at) VALUES "
        "(:email, 'x', 'user', false, :credits, 0, 0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    with empty_database(kind, tmp_path) as url:
        migrate(url)
        engine = create_db_engine(url)
        try:
            # The same statement with a valid balance works, so only the CHECK can refuse it.
            with engine.begin() as conn:
                conn.execute(insert, {"email": "ok@example.com", "credits": 0})
            with pytest.raises(IntegrityError), engine.begin() as conn:
                conn.execute(insert, {"email": "neg@example.com", "credits": -1})
            with engine.connect() as conn:
                emails = conn.execute(sa.text("SELECT email FROM users")).scalars().all()
        finally:
            engine.dispose()
    assert emails == ["ok@example.com"]
