"""Store + publish of send requests against real PostgreSQL and Redis, with Redis faults
injected by a TCP proxy: same-key requests are serialised, a failed publish is undone
unless a sender already took the message, duplicates within one batch see the final state."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from redis.asyncio import Redis

from core import broker
from db import claims, messages
from db.messages import NewMessage
from server.send_batch import send_batcher, store_and_publish
from tests.conftest import Services
from tests.support.redis_proxy import RedisProxy
from tests.support.settings import NUMBER, OUTBOUND


def _message(key: str | None, body: str = "hello") -> NewMessage:
    message_id = uuid4()
    return NewMessage(
        id=message_id,
        idempotency_key=key,
        request_hash=hashlib.sha256(body.encode()).hexdigest(),
        recipient="4915112345678",
        type="text",
        payload={"to": "4915112345678", "text": {"body": body}},
        metadata=None,
        phone_number_id=NUMBER,
    )


async def _published(redis: Redis) -> list[str]:
    return [fields["message_id"] for _, fields in await redis.xrange(OUTBOUND)]


async def _ids_for_key(pool: asyncpg.Pool, key: str) -> list[UUID]:
    rows = await pool.fetch("SELECT id FROM messages WHERE idempotency_key = $1", key)
    return [r["id"] for r in rows]


async def _until(probe: Callable[[], Awaitable[Any]]) -> None:
    """Poll state in PostgreSQL (another connection's progress): no event to wait on."""
    while not await probe():  # noqa: ASYNC110
        await asyncio.sleep(0.01)


@pytest.fixture
async def proxy(services: Services) -> AsyncIterator[RedisProxy]:
    """A fault-injecting proxy in front of the test Redis."""
    proxy = RedisProxy(services.redis_url)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def failing(proxy: RedisProxy) -> AsyncIterator[Redis]:
    """Our Redis client (as the web process configures it), through the proxy."""
    client = broker.connect(proxy.url)
    yield client
    await client.aclose()


async def test_same_key_waits_for_a_failing_publish_and_is_never_replayed_deleted(
    pool: asyncpg.Pool, redis: Redis, proxy: RedisProxy, failing: Redis
) -> None:
    first, retry = _message("order-42"), _message("order-42")
    retry_task: asyncio.Task | None = None

    async def retry_answered_or_waiting() -> bool:
        if retry_task is not None and retry_task.done():
            return True
        waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        return await pool.fetchval(waiting) > 0

    proxy.fault = "hold"  # the first request's XADD hangs until the retry answered or waits
    proxy.hold = lambda: _until(retry_answered_or_waiting)
    first_task = asyncio.create_task(store_and_publish(pool, failing, [first]))
    await _until(lambda: messages.get(pool, first.id))  # stored, publish under way
    retry_task = asyncio.create_task(store_and_publish(pool, redis, [retry]))
    [first_out], [retry_out] = await asyncio.gather(first_task, retry_task)

    assert first_out.kind == "unavailable"
    assert retry_out.kind == "accepted" and retry_out.row["id"] == retry.id
    assert await _ids_for_key(pool, "order-42") == [retry.id]
    assert await _published(redis) == [str(retry.id)]


async def test_publish_that_landed_and_was_claimed_is_accepted_not_503(
    pool: asyncpg.Pool, redis: Redis, proxy: RedisProxy, failing: Redis
) -> None:
    m = _message(None)

    async def a_sender_claims_it() -> None:
        assert [r["id"] for r in await claims.claim(pool, [m.id], "worker-1", NUMBER)] == [m.id]

    proxy.fault = "drop_reply"
    proxy.after_landed = a_sender_claims_it
    [outcome] = await store_and_publish(pool, failing, [m])

    assert outcome.kind == "accepted"
    assert (await messages.get(pool, m.id))["status"] == "sending"
    assert await _published(redis) == [str(m.id)]


async def test_failed_publish_is_undone(
    pool: asyncpg.Pool, redis: Redis, proxy: RedisProxy, failing: Redis
) -> None:
    proxy.fault = "hold"  # returns at once: the XADD never reaches Redis
    batch = [_message("k-1"), _message("k-1"), _message(None)]

    outcomes = await store_and_publish(pool, failing, batch)

    assert [o.kind for o in outcomes] == ["unavailable"] * 3
    assert await pool.fetchval("SELECT count(*) FROM messages") == 0
    assert await _published(redis) == []


async def test_duplicates_within_one_batch(pool: asyncpg.Pool, redis: Redis) -> None:
    first, same, other_body, no_key = (
        _message("k-1"),
        _message("k-1"),
        _message("k-1", body="something else"),
        _message(None),
    )

    outcomes = await store_and_publish(pool, redis, [first, same, other_body, no_key])

    assert [o.kind for o in outcomes] == ["accepted", "replayed", "conflict", "accepted"]
    assert outcomes[1].row["id"] == first.id
    assert sorted(await _published(redis)) == sorted([str(first.id), str(no_key.id)])


async def test_batcher_answers_each_request_with_its_own_outcome(
    pool: asyncpg.Pool, redis: Redis
) -> None:
    batcher = send_batcher(pool, redis)
    batcher.max_in_flight, batcher.max_batch = 2, 16
    batch = [_message(None) for _ in range(100)] + [_message("k-2") for _ in range(5)]

    outcomes = await asyncio.gather(*(batcher.submit(m) for m in batch))
    await batcher.close()

    unkeyed, keyed = outcomes[:100], outcomes[100:]
    assert [o.row["id"] for o in unkeyed] == [m.id for m in batch[:100]]
    assert sorted(o.kind for o in keyed) == ["accepted"] + ["replayed"] * 4
    assert len({o.row["id"] for o in keyed}) == 1
    assert len(await _published(redis)) == 101
    assert await pool.fetchval("SELECT count(*) FROM messages") == 101
