"""Builds the configured adapters once per process (storage, generation engine)."""

from __future__ import annotations

from functools import lru_cache

from stylestudio.adapters.generation_engine import GenerationEngine
from stylestudio.adapters.storage import LocalStorage, MediaStorage
from stylestudio.settings import get_settings


@lru_cache
def get_storage() -> MediaStorage:
    return LocalStorage(get_settings().media_dir)


@lru_cache
def get_generation_engine() -> GenerationEngine:
    name = get_settings().generation_engine
    if name == "local":
        from stylestudio.adapters.local_engine import LocalEngine

        return LocalEngine()
    raise RuntimeError(
        f"generation engine {name!r} is not available yet; use STYLESTUDIO_GENERATION_ENGINE=local"
    )


def reset() -> None:
    """Forget cached adapters (tests that change settings call this)."""
    get_storage.cache_clear()
    get_generation_engine.cache_clear()
