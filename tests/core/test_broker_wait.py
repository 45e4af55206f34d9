"""core.broker.publish_webhooks with WEBHOOK_WAIT_REPLICAS on one Redis without replicas:
WAIT cannot be met, and with no replica attached there is nothing better to wait for, so
the bodies are kept (and the answer is 200), not refused."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from core import broker
from tests.support.settings import WEBHOOKS_STREAM

pytestmark = pytest.mark.slow  # WAIT runs out its 1 s timeout


async def test_a_master_without_replicas_keeps_the_bodies(redis: Redis, caplog) -> None:
    got = await broker.publish_webhooks(redis, [b"one", b"two"], wait_replicas=1)
    assert [stream for stream, _ in got] == [WEBHOOKS_STREAM] * 2
    assert [f["body"] for _, f in await redis.xrange(WEBHOOKS_STREAM)] == ["one", "two"]
    assert "on the master alone" in caplog.text
