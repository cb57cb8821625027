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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`--dist loadgroup`), every browser test runs on one worker: they
    share one running app on fixed ports and one Redis database. The rest spread out."""
    e2e = Path(__file__).parent / "e2e"
    for item in items:
        if e2e in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.xdist_group("browser"))
