"""Page states in a test's own Reflex state tree: the app configured with the test's database,
an in-memory state manager, and a way to run one event handler as the page would.

Import the fixtures with a redundant alias, e.g.
`from tests.support.app_states import state_manager as state_manager`.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from reflex.istate.manager import StateManager
from reflex.istate.manager.memory import StateManagerMemory
from reflex.state import BaseState
from reflex_base.config import get_config
from reflex_base.constants import StateManagerMode
from sqlalchemy.engine import Engine

from stylestudio.settings import get_settings


@pytest.fixture
def app_db(db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The app's configured database is the test's."""
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("STYLESTUDIO_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield db
    get_settings.cache_clear()


@pytest.fixture
async def state_manager(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[StateManager]:
    """Reflex's in-memory state manager, as the app creates it."""
    monkeypatch.setattr(get_config(), "state_manager_mode", StateManagerMode.MEMORY)
    manager = StateManager.create()
    assert type(manager) is StateManagerMemory
    yield manager
    await manager.close()


async def run_handler(state: BaseState, handler: str, *args: object) -> None:
    """Run one of the state's event handlers, by name, as an event from the page would."""
    result = type(state).event_handlers[handler].fn(state, *args)
    if inspect.isasyncgen(result):
        async for _ in result:
            pass
    elif inspect.isawaitable(result):
        await result
