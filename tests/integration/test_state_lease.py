"""The state lease writes through: with Reflex's opportunistic lock on, a backend process
keeps a tab's state (and its Redis lock) between events, and each event's changes are in
Redis when the event ends — so a process killed with -9 loses nothing an event finished.
Reflex's own lease manager, the control, keeps them in memory until the lease ends."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis
import redis.asyncio as aioredis
import reflex as rx
from reflex.istate.manager.redis import StateManagerRedis

from stylestudio.state.state_lease import WriteThroughStateManagerRedis
from stylestudio.state.studio import StudioState

REDIS_URL = os.environ.get("STYLESTUDIO_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def _require_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis is required under CI=true but {REDIS_URL} is not reachable")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")


@pytest.fixture
async def client() -> AsyncIterator[aioredis.Redis]:
    _require_redis()
    connection = aioredis.Redis.from_url(REDIS_URL)
    yield connection
    await connection.aclose()


def _manager(
    cls: Callable[..., StateManagerRedis], client: aioredis.Redis, *, lease: bool
) -> StateManagerRedis:
    manager = cls(
        redis=client,
        lock_expiration=10_000,
        lock_warning_threshold=1_000,
        oplock_hold_time_ms=5_000,
    )
    manager._oplock_enabled = lease
    return manager


async def _set_prompt(manager: StateManagerRedis, token: rx.BaseStateToken, prompt: str) -> None:
    async with manager.modify_state(token) as root:
        studio = await root.get_state(StudioState)
        studio.prompt = prompt


async def _prompt_in_redis(client: aioredis.Redis, token: rx.BaseStateToken) -> str:
    """What another process would read: a manager of its own, no lease, no cache."""
    reader = _manager(StateManagerRedis, client, lease=False)
    root = await reader.get_state(token)
    return (await root.get_state(StudioState)).prompt


async def _leased_prompts(
    cls: Callable[..., StateManagerRedis], client: aioredis.Redis
) -> list[str]:
    """Three events of one tab under a lease; what Redis holds after each."""
    manager = _manager(cls, client, lease=True)
    token = rx.BaseStateToken(ident=str(uuid.uuid4()), cls=StudioState)
    try:
        # The lease starts once the process listens for contention (a moment after its
        # first lock): until then events are written and unlocked as without a lease.
        for attempt in range(50):
            await _set_prompt(manager, token, f"warming up {attempt}")
            if token.lock_key in manager._local_leases:
                break
            await asyncio.sleep(0.05)
        assert token.lock_key in manager._local_leases, "no lease was taken"
        seen = []
        for prompt in ("a red mug", "a red mug on oak", "a red mug on oak, morning light"):
            await _set_prompt(manager, token, prompt)
            assert token.lock_key in manager._local_leases  # still leased: no lock round trip
            seen.append(await _prompt_in_redis(client, token))
        return seen
    finally:
        await manager.close()
        await client.delete(*[key async for key in client.scan_iter(f"{token.ident}*")])


async def test_each_events_changes_are_in_redis_while_the_lease_holds(
    client: aioredis.Redis,
) -> None:
    assert await _leased_prompts(WriteThroughStateManagerRedis, client) == [
        "a red mug",
        "a red mug on oak",
        "a red mug on oak, morning light",
    ]


async def test_control_reflexs_lease_keeps_them_in_memory_until_it_ends(
    client: aioredis.Redis,
) -> None:
    seen = await _leased_prompts(StateManagerRedis, client)
    assert not any(prompt.startswith("a red mug") for prompt in seen)
