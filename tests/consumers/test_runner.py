"""consumers.runner.Runner against real Redis, with small handlers written here."""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from consumers.runner import Consumer, Entry, Runner
from core.names import LAST_ERRORS_KEY, dead_letter_stream

GROUP = "testers"


class PoisonError(Exception):
    """What a handler raises for an entry it can never process."""


@pytest.fixture
def stream() -> str:
    return f"test:runner:{uuid.uuid4().hex[:8]}"


async def until(condition: Callable[[], Any], timeout_s: float = 5.0) -> None:
    """Poll `condition` (plain or async) until it holds; fail after the deadline."""
    deadline = time.monotonic() + timeout_s
    while not await _value(condition()):
        if time.monotonic() > deadline:
            pytest.fail("condition not met before the deadline")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def running(
    redis: Redis,
    stream: str,
    handle: Callable[[Any, list[Entry]], Awaitable[dict[str, str] | None]],
    consumer_name: str = "test-consumer",
    **options: Any,
) -> AsyncIterator[Runner]:
    """A runner as a task, stopped (and awaited) when the block exits."""
    runner = Runner(
        Consumer("test", stream, GROUP, handle),
        SimpleNamespace(redis=redis),
        consumer_name,
        asyncio.Event(),
        block_ms=50,
        **options,
    )
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        runner.stop.set()
        await asyncio.wait_for(task, 2)


async def add(redis: Redis, stream: str, count: int) -> list[str]:
    return [await redis.xadd(stream, {"n": str(i)}) for i in range(count)]


async def pending_count(redis: Redis, stream: str) -> int:
    return (await redis.xpending(stream, GROUP))["pending"]


def recorder() -> tuple[list[list[str]], Callable[[Any, list[Entry]], Awaitable[None]]]:
    batches: list[list[str]] = []

    async def handle(ctx: Any, entries: list[Entry]) -> None:
        batches.append([e.fields["n"] for e in entries])

    return batches, handle


async def test_batches_are_handled_then_acked_and_deleted(redis: Redis, stream: str) -> None:
    await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    await add(redis, stream, 7)
    batches, handle = recorder()
    async with running(redis, stream, handle, batch_size=3):
        await until(lambda: sum(map(len, batches)) == 7)
        await until(lambda: _xlen_is(redis, stream, 0))
    assert [n for batch in batches for n in batch] == [str(i) for i in range(7)]
    assert max(map(len, batches)) == 3
    assert await pending_count(redis, stream) == 0


@pytest.mark.parametrize("group_exists", [False, True], ids=["group-missing", "group-exists"])
async def test_group_is_created_when_missing_and_kept_when_present(
    redis: Redis, stream: str, group_exists: bool
) -> None:
    if group_exists:
        await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    runner = Runner(
        Consumer("test", stream, GROUP, recorder()[1]),
        SimpleNamespace(redis=redis),
        "c",
        asyncio.Event(),
    )
    await runner.ensure_group()
    await runner.ensure_group()  # BUSYGROUP is not an error
    groups = await redis.xinfo_groups(stream)
    assert [g["name"] for g in groups] == [GROUP]


async def test_runner_creates_missing_group_and_then_reads(redis: Redis, stream: str) -> None:
    batches, handle = recorder()
    async with running(redis, stream, handle):
        await until(lambda: _exists(redis, stream))
        await add(redis, stream, 2)
        await until(lambda: sum(map(len, batches)) == 2)
    assert [n for batch in batches for n in batch] == ["0", "1"]


async def test_entries_the_handler_rejects_go_to_the_dead_stream(redis: Redis, stream: str) -> None:
    await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    ids = await add(redis, stream, 4)
    rejected = {ids[1]: "unknown message type", ids[3]: "payload is not JSON"}
    handled: list[str] = []

    async def handle(ctx: Any, entries: list[Entry]) -> dict[str, str]:
        handled.extend(e.id for e in entries)
        return {e.id: rejected[e.id] for e in entries if e.id in rejected}

    before = time.time()
    async with running(redis, stream, handle):
        await until(lambda: _xlen_is(redis, dead_letter_stream(stream), 2))
        await until(lambda: _xlen_is(redis, stream, 0))
    dead = await redis.xrange(dead_letter_stream(stream))
    assert [f["source_id"] for _, f in dead] == [ids[1], ids[3]]
    assert [f["error"] for _, f in dead] == [rejected[ids[1]], rejected[ids[3]]]
    assert [f["n"] for _, f in dead] == ["1", "3"]
    assert [f["deliveries"] for _, f in dead] == ["1", "1"]
    assert all(before <= float(f["failed_at"]) <= time.time() for _, f in dead)
    assert sorted(handled) == sorted(ids)
    assert await pending_count(redis, stream) == 0


async def test_poison_entry_fails_alone_and_is_dead_lettered_after_max_deliveries(
    redis: Redis, stream: str
) -> None:
    await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    ids = await add(redis, stream, 5)
    poison = ids[2]
    succeeded: list[str] = []
    poison_calls = 0

    async def handle(ctx: Any, entries: list[Entry]) -> None:
        nonlocal poison_calls
        if any(e.id == poison for e in entries):
            poison_calls += len(entries) == 1
            raise PoisonError(f"cannot handle entry {poison}, try {poison_calls}")
        succeeded.extend(e.id for e in entries)

    async with running(redis, stream, handle, idle_timeout_s=0.2, max_deliveries=3):
        await until(lambda: len(succeeded) == 4)
        assert await pending_count(redis, stream) == 1
        await until(lambda: _xlen_is(redis, dead_letter_stream(stream), 1))
    assert sorted(succeeded) == sorted(set(ids) - {poison})
    assert poison_calls == 3  # the first delivery plus two reclaims
    [(_, dead)] = await redis.xrange(dead_letter_stream(stream))
    assert dead["source_id"] == poison
    assert dead["deliveries"] == "4"  # Redis counts the reclaim that dead-lettered it
    assert "without success" in dead["error"]
    # the reason is the last error, whichever consumer saw it, not just the count
    assert dead["error"].endswith(f"last error: PoisonError: cannot handle entry {poison}, try 3")
    assert not await redis.hexists(LAST_ERRORS_KEY.format(stream=stream), poison)
    assert await redis.xlen(stream) == 0
    assert await pending_count(redis, stream) == 0


async def test_entries_left_pending_by_a_crashed_consumer_are_reclaimed(
    redis: Redis, stream: str
) -> None:
    await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    await add(redis, stream, 3)
    taken = await redis.xreadgroup(GROUP, "crashed", {stream: ">"}, count=10)
    assert len(taken[0][1]) == 3  # read, never acked: the consumer "died"
    batches, handle = recorder()
    async with running(redis, stream, handle, consumer_name="survivor", idle_timeout_s=0.2):
        await until(lambda: sum(map(len, batches)) == 3)
        await until(lambda: _xlen_is(redis, stream, 0))
    assert sorted(n for batch in batches for n in batch) == ["0", "1", "2"]
    assert await pending_count(redis, stream) == 0


@pytest.mark.parametrize(
    "outage",
    [RedisConnectionError("Connection refused"), OSError("Network is unreachable")],
    ids=["redis-connection-error", "os-error"],
)
@pytest.mark.slow
async def test_outage_in_handler_is_retried_without_counting_against_the_entry(
    redis: Redis, stream: str, outage: Exception
) -> None:
    await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    [entry_id] = await add(redis, stream, 1)
    calls: list[str] = []

    async def handle(ctx: Any, entries: list[Entry]) -> None:
        calls.append(entries[0].id)
        if len(calls) <= 2:
            raise outage

    async with running(redis, stream, handle, max_deliveries=1):
        await until(lambda: len(calls) == 3)
        await until(lambda: _xlen_is(redis, stream, 0))
    assert calls == [entry_id] * 3
    assert await redis.xlen(dead_letter_stream(stream)) == 0
    assert await pending_count(redis, stream) == 0


async def test_stop_makes_run_return_promptly(redis: Redis, stream: str) -> None:
    runner = Runner(
        Consumer("test", stream, GROUP, recorder()[1]),
        SimpleNamespace(redis=redis),
        "c",
        asyncio.Event(),
        block_ms=50,
    )
    task = asyncio.create_task(runner.run())
    await until(lambda: _exists(redis, stream))
    started = time.monotonic()
    runner.stop.set()
    await asyncio.wait_for(task, 1)
    assert time.monotonic() - started < 1


async def _value(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def _xlen_is(redis: Redis, stream: str, length: int) -> bool:
    return await redis.xlen(stream) == length


async def _exists(redis: Redis, stream: str) -> bool:
    return bool(await redis.exists(stream))


@pytest.mark.slow
async def test_loop_survives_an_unexpected_redis_error(redis: Redis, stream: str) -> None:
    await redis.set(stream, "not a stream")  # XREADGROUP now fails with WRONGTYPE
    batches, handle = recorder()
    async with running(redis, stream, handle) as runner:
        await asyncio.sleep(0.5)
        await redis.delete(stream)
        await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
        await add(redis, stream, 2)
        await until(lambda: sum(map(len, batches)) == 2)
        assert not runner.stop.is_set()


async def test_several_batches_are_worked_on_at_once(redis: Redis, stream: str) -> None:
    await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    await add(redis, stream, 6)
    busy, most = 0, 0

    async def handle(ctx: Any, entries: list[Entry]) -> None:
        nonlocal busy, most
        busy += 1
        most = max(most, busy)
        await asyncio.sleep(0.2)
        busy -= 1

    async with running(redis, stream, handle, batch_size=1, batches_in_flight=3):
        await until(lambda: _xlen_is(redis, stream, 0))
    assert most == 3
    assert await pending_count(redis, stream) == 0
