"""Meta's webhook POSTs, concurrent (so batched into one XADD pipeline): each verified body is
one stream entry, byte for byte; a bad signature stores nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import orjson
import pytest
from redis.asyncio import Redis

from simulator.meta_webhooks import sign
from tests.conftest import Services
from tests.support.inprocess import Served, serving
from tests.support.settings import WEBHOOKS_STREAM


@pytest.fixture
async def app(
    database_url: str, services: Services, pool: asyncpg.Pool, redis: Redis
) -> AsyncIterator[Served]:
    async with serving(database_url, services.redis_url) as served:
        yield served


async def test_concurrent_webhooks_each_one_entry(app: Served, redis: Redis) -> None:
    client, env = app
    bodies = [orjson.dumps({"object": "whatsapp_business_account", "n": i}) for i in range(50)]

    responses = await asyncio.gather(
        *(
            client.post(
                "/webhooks/whatsapp/",
                content=body,
                headers={"X-Hub-Signature-256": sign(env["WHATSAPP_APP_SECRET"], body)},
            )
            for body in bodies
        )
    )

    assert [r.status_code for r in responses] == [200] * 50
    entries = await redis.xrange(WEBHOOKS_STREAM)
    assert sorted(fields["body"].encode() for _, fields in entries) == sorted(bodies)


async def test_bad_signature_stores_nothing(app: Served, redis: Redis) -> None:
    client, _ = app
    body = b'{"object": "whatsapp_business_account"}'

    response = await client.post(
        "/webhooks/whatsapp/", content=body, headers={"X-Hub-Signature-256": "sha256=00"}
    )

    assert response.status_code == 403
    assert await redis.xlen(WEBHOOKS_STREAM) == 0


async def test_a_signed_body_as_large_as_metas_largest_is_taken(app: Served, redis: Redis) -> None:
    """Meta sends at most 3 MB; WEBHOOK_MAX_BODY_BYTES (4 MiB by default) takes it whole."""
    client, env = app
    body = orjson.dumps({"object": "whatsapp_business_account", "pad": "x" * 3_000_000})

    response = await client.post(
        "/webhooks/whatsapp/",
        content=body,
        headers={"X-Hub-Signature-256": sign(env["WHATSAPP_APP_SECRET"], body)},
    )

    assert response.status_code == 200
    [(_, fields)] = await redis.xrange(WEBHOOKS_STREAM)
    assert fields["body"].encode() == body
