"""Dead consumers leave their groups (`consumers.liveness.forget_dead_consumers`, run by the
runner after each XAUTOCLAIM), on real Redis: only a consumer whose worker's heartbeat is
gone and who holds nothing pending; a live one, idle or not, stays."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace

import pytest
from redis.asyncio import Redis

from consumers.liveness import forget_dead_consumers
from consumers.runner import Consumer, Runner
from core.heartbeats import Role, beat, worker_key
from tests.consumers.test_runner import GROUP, add, recorder, until


@pytest.fixture
async def stream(redis: Redis) -> str:
    name = f"test:liveness:{uuid.uuid4().hex[:8]}"
    await redis.xgroup_create(name, GROUP, id="0", mkstream=True)
    return name


async def _consumers(redis: Redis, stream: str) -> dict[str, int]:
    return {c["name"]: c["pending"] for c in await redis.xinfo_consumers(stream, GROUP)}


async def _heartbeat(redis: Redis, worker_id: str) -> None:
    await redis.set(worker_key(worker_id), beat([Role("webhooks")]), px=10_000)


@pytest.mark.parametrize(
    ("label", "heartbeat", "pending", "removed"),
    [
        ("dead, nothing pending", False, 0, True),
        ("dead, entries not yet taken over", False, 2, False),
        ("live and idle", True, 0, False),
        ("live and busy", True, 2, False),
    ],
)
async def test_only_a_dead_consumer_with_nothing_pending_leaves(
    redis: Redis, stream: str, label: str, heartbeat: bool, pending: int, removed: bool
) -> None:
    await add(redis, stream, pending)
    await redis.xgroup_createconsumer(stream, GROUP, "w1")
    await redis.xreadgroup(GROUP, "w1", {stream: ">"}, count=10)
    if heartbeat:
        await _heartbeat(redis, "w1")

    assert await forget_dead_consumers(redis, stream, GROUP, "me") == (["w1"] if removed else [])
    assert await _consumers(redis, stream) == ({} if removed else {"w1": pending})


async def test_the_caller_itself_is_never_removed(redis: Redis, stream: str) -> None:
    await redis.xgroup_createconsumer(stream, GROUP, "me")  # no heartbeat: a test's name
    assert await forget_dead_consumers(redis, stream, GROUP, "me") == []
    assert await _consumers(redis, stream) == {"me": 0}


async def test_no_group_yet_is_nothing_to_forget(redis: Redis) -> None:
    assert await forget_dead_consumers(redis, "test:liveness:none", GROUP, "me") == []


async def test_survivor_takes_over_then_the_dead_consumer_leaves_and_the_idle_live_one_stays(
    redis: Redis, stream: str
) -> None:
    await add(redis, stream, 3)
    await redis.xreadgroup(GROUP, "crashed", {stream: ">"}, count=10)  # read, never acked
    await redis.xgroup_createconsumer(stream, GROUP, "idle")  # nothing left for it
    await _heartbeat(redis, "idle")
    batches, handle = recorder()
    runner = Runner(
        Consumer("test", stream, GROUP, handle),
        SimpleNamespace(redis=redis),
        "survivor",
        asyncio.Event(),
        block_ms=20,
        idle_timeout_s=0.2,
    )
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: sum(map(len, batches)) == 3)
        await until(lambda: _left(redis, stream, "crashed"))
        await asyncio.sleep(0.5)  # a few more takeovers: the live idle consumer stays
        assert await _consumers(redis, stream) == {"idle": 0, "survivor": 0}
    finally:
        runner.stop.set()
        await asyncio.wait_for(task, 2)


async def _left(redis: Redis, stream: str, name: str) -> bool:
    return name not in await _consumers(redis, stream)


async def test_entries_delivered_after_the_look_keep_the_consumer(
    redis: Redis, stream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pending count is checked again in the same step as the delete: entries delivered
    to a stopped worker's blocked read between the look and the delete are never dropped."""
    await redis.xgroup_createconsumer(stream, GROUP, "w1")
    stale = await redis.xinfo_consumers(stream, GROUP)  # w1 holds nothing, it seems
    await add(redis, stream, 2)
    await redis.xreadgroup(GROUP, "w1", {stream: ">"}, count=10)  # ...then it gets two

    async def look(*args: object) -> list[dict[str, object]]:
        return stale

    monkeypatch.setattr(redis, "xinfo_consumers", look)
    assert await forget_dead_consumers(redis, stream, GROUP, "me") == []
    assert (await redis.xpending(stream, GROUP))["pending"] == 2
