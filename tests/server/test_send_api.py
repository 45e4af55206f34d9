"""The send endpoint served in-process on a real socket, on real PostgreSQL and Redis:
concurrent requests batched together each get their own stored, published message; the
same Idempotency-Key sent concurrently yields one message; Redis down is a 503 that stored
nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from redis.asyncio import Redis

from harness.stack import free_port
from tests.conftest import Services
from tests.support.inprocess import serving
from tests.support.settings import NUMBER, OUTBOUND

_BODY = {"to": "+4915112345678", "type": "text", "text": {"body": "Your order has shipped"}}


@pytest.fixture
async def client(
    database_url: str, services: Services, pool: asyncpg.Pool, redis: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(database_url, services.redis_url) as (client, _):
        yield client


async def _post(client: Any, body: dict[str, Any], **headers: str) -> Any:
    return await client.post(
        "/api/v1/messages/send/",
        content=orjson.dumps(body),
        headers={"Content-Type": "application/json", **headers},
    )


async def _published(redis: Redis) -> list[str]:
    return [fields["message_id"] for _, fields in await redis.xrange(OUTBOUND)]


async def test_concurrent_sends_each_stored_and_published_once(
    client: Any, pool: asyncpg.Pool, redis: Redis
) -> None:
    responses = await asyncio.gather(*(_post(client, _BODY) for _ in range(64)))

    assert [r.status_code for r in responses] == [202] * 64
    ids = sorted(r.json()["id"] for r in responses)
    assert len(set(ids)) == 64
    stored = await pool.fetch("SELECT id::text, status FROM messages ORDER BY id")
    assert [(r["id"], r["status"]) for r in stored] == [(i, "queued") for i in ids]
    assert sorted(await _published(redis)) == ids
    assert all(r.headers["Location"] == r.json()["status_url"] for r in responses)


async def test_concurrent_same_key_is_one_message(
    client: Any, pool: asyncpg.Pool, redis: Redis
) -> None:
    responses = await asyncio.gather(
        *(_post(client, _BODY, **{"Idempotency-Key": "order-7"}) for _ in range(10))
    )

    assert [r.status_code for r in responses] == [202] * 10
    assert len({r.json()["id"] for r in responses}) == 1
    replayed = [r.headers.get("Idempotent-Replayed") for r in responses]
    assert sorted(replayed, key=str) == [None] + ["true"] * 9
    assert await pool.fetchval("SELECT count(*) FROM messages") == 1
    assert await _published(redis) == [responses[0].json()["id"]]


async def test_same_key_other_body_is_409(client: Any) -> None:
    first = await _post(client, _BODY, **{"Idempotency-Key": "order-8"})
    other = await _post(
        client, {**_BODY, "text": {"body": "different"}}, **{"Idempotency-Key": "order-8"}
    )

    assert first.status_code == 202
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "conflict"


async def test_the_same_key_from_another_number_is_409_naming_the_default_is_the_same(
    database_url: str, services: Services, pool: asyncpg.Pool, redis: Redis
) -> None:
    numbers = {"WHATSAPP_PHONE_NUMBER_ID": f"{NUMBER},999"}
    async with serving(database_url, services.redis_url, **numbers) as (client, _):
        key = {"Idempotency-Key": "order-9"}
        first = await _post(client, _BODY, **key)
        same = await _post(client, {**_BODY, "phone_number_id": NUMBER}, **key)
        other = await _post(client, {**_BODY, "phone_number_id": "999"}, **key)
    assert (first.status_code, same.status_code) == (202, 202)
    assert same.json()["id"] == first.json()["id"] and same.headers["Idempotent-Replayed"]
    assert other.status_code == 409 and other.json()["error"]["code"] == "conflict"


async def test_redis_down_is_503_and_nothing_stored(database_url: str, pool: asyncpg.Pool) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    async with serving(database_url, nowhere) as (client, _):
        response = await _post(client, _BODY, **{"Idempotency-Key": "order-9"})

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert await pool.fetchval("SELECT count(*) FROM messages") == 0


async def test_a_validity_period_sets_the_deadline_the_status_shows(client: Any) -> None:
    before = datetime.now(UTC)
    r = await _post(client, {**_BODY, "validity_period_s": 90})
    assert r.status_code == 202, r.text
    status = (await client.get(r.json()["status_url"])).json()
    expires_at = datetime.fromisoformat(status["expires_at"])
    assert before + timedelta(seconds=89) < expires_at < datetime.now(UTC) + timedelta(seconds=91)
    plain = (await client.get((await _post(client, _BODY)).json()["status_url"])).json()
    assert plain["expires_at"] is None  # MESSAGE_VALIDITY_S unset: no deadline


async def test_message_validity_s_is_the_default_deadline(
    database_url: str, services: Services, pool: asyncpg.Pool
) -> None:
    async with serving(database_url, services.redis_url, MESSAGE_VALIDITY_S="30") as (c, _):
        r = await _post(c, _BODY)
        own = await _post(c, {**_BODY, "validity_period_s": 600})
    rows = await pool.fetch(
        "SELECT id::text, expires_at - created_at AS validity FROM messages WHERE id = ANY($1)",
        [r.json()["id"], own.json()["id"]],
    )
    validity = {row["id"]: row["validity"].total_seconds() for row in rows}
    assert 29 < validity[r.json()["id"]] < 31 and 599 < validity[own.json()["id"]] < 601
