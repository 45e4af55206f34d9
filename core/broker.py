"""The Redis client, publishing onto the streams, and reading a consumer group's lag.

Names and entry fields are in `core.names`. Every publish is one pipelined round trip,
however many entries. Consumers read with `consumers.runner`; nothing else writes to these
streams.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, Protocol
from uuid import UUID

from redis.asyncio import BlockingConnectionPool, Redis

from core.names import HUB_STREAM, WEBHOOKS_STREAM, outbound_stream


class EventRef(Protocol):
    """What the hub stream's entry names of an outbox event (`db.hub_events.HubEvent`)."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def message_id(self) -> UUID | None: ...


def connect(url: str, max_connections: int = 200) -> Redis:
    """A pooled client; fields come back as str, which is what every stream holds. Bytes
    that are not UTF-8 (a webhook body, say) come back surrogate-escaped rather than
    failing the whole read that carried them.

    The pool blocks (up to 10 s) when every connection is busy instead of raising
    MaxConnectionsError: a burst of concurrent callers waits a moment rather than failing.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=10,
        decode_responses=True,
        encoding_errors="surrogateescape",
        health_check_interval=30,
        socket_connect_timeout=5,
        socket_timeout=30,
        retry_on_timeout=True,
    )
    return Redis.from_pool(pool)


async def publish_outbound(redis: Redis, messages: Iterable[tuple[UUID, str]]) -> None:
    """`(message_id, phone_number_id)` pairs, each onto its number's stream."""
    async with redis.pipeline(transaction=False) as pipe:
        for message_id, phone_number_id in messages:
            pipe.xadd(outbound_stream(phone_number_id), {"message_id": str(message_id)})
        await pipe.execute()


async def publish_webhooks(redis: Redis, bodies: list[bytes]) -> list[str]:
    """Keep Meta's verified POST bodies for the webhook processor; returns the entry ids."""
    received_at = f"{time.time():.3f}"
    async with redis.pipeline(transaction=False) as pipe:
        for body in bodies:
            pipe.xadd(WEBHOOKS_STREAM, {"body": body, "received_at": received_at})
        return await pipe.execute()


async def publish_hub_events(redis: Redis, events: Iterable[EventRef]) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        for e in events:
            pipe.xadd(
                HUB_STREAM,
                {
                    "event_id": e.id,
                    "type": e.type,
                    "message_id": str(e.message_id) if e.message_id else "",
                },
            )
        await pipe.execute()


def group_lag(length: int, group: Mapping[str, Any]) -> int:
    """Entries of the stream not yet delivered to `group` (an `XINFO GROUPS` reply).

    Redis 7 reports `lag`, but not once entries were deleted, and Redis 6.2 never does. We
    delete handled entries, so what is not pending was never delivered: length - pending.
    """
    lag = group.get("lag")
    return lag if isinstance(lag, int) else max(length - group.get("pending", 0), 0)
