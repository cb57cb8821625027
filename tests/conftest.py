from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from stylestudio.adapters.storage import LocalStorage
from tests.support.databases import migrated_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A freshly migrated database, once on SQLite and once on PostgreSQL."""
    with migrated_engine(request.param, tmp_path) as engine:
        yield engine


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine("sqlite", tmp_path) as engine:
        yield engine


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media")
