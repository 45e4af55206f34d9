"""The Redis client (one server or a Redis Cluster), publishing onto the streams, and
reading a consumer group's lag.

Names and entry fields are in `core.names`. Every publish is one pipelined round trip,
however many entries (on a cluster, one per master the entries' slots live on). Consumers
read with `consumers.runner`; nothing else writes to these streams.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Iterable, Mapping
from typing import Any, Protocol
from uuid import UUID

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.names import hub_stream_of, outbound_stream, webhook_streams

logger = logging.getLogger("core.broker")

# Either client: they answer the same commands; a cluster's multi-key ones must name keys of
# one slot (core.names gives every key used together one hash tag).
Client = Redis | RedisCluster
_WAIT_TIMEOUT_MS = 1000  # WEBHOOK_WAIT_REPLICAS: the longest a webhook's 200 waits on replicas
_OPTIONS: dict[str, Any] = {
    "decode_responses": True,
    "encoding_errors": "surrogateescape",
    "health_check_interval": 30,
    "socket_connect_timeout": 5,
    "socket_timeout": 30,
}


class EventRef(Protocol):
    """What the hub stream's entry names of an outbox event (`db.hub_events.HubEvent`)."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def message_id(self) -> UUID | None: ...


def connect(url: str, max_connections: int = 200, *, cluster: bool = False) -> Client:
    """A pooled client; fields come back as str, which is what every stream holds. Bytes
    that are not UTF-8 (a webhook body, say) come back surrogate-escaped rather than
    failing the whole read that carried them.

    One server: the pool blocks (up to 10 s) when every connection is busy instead of
    raising MaxConnectionsError, so a burst of concurrent callers waits a moment rather than
    failing. `cluster`: redis-py's cluster client, `url` being any node; it follows MOVED
    and, after a failover, learns the new masters (a call in between fails as an outage).
    """
    if cluster:
        return RedisCluster.from_url(url, max_connections=max_connections, **_OPTIONS)
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=10, retry_on_timeout=True, **_OPTIONS
    )
    return Redis.from_pool(pool)


async def open_client(url: str, cluster: bool | None = False, max_connections: int = 200) -> Client:
    """`connect`, with `cluster=None` (REDIS_CLUSTER=auto) asking the server first."""
    if cluster is None:
        cluster = await is_cluster(url)
    return connect(url, max_connections, cluster=cluster)


async def is_cluster(url: str) -> bool:
    """Whether the server at `url` runs in cluster mode (`INFO cluster`: cluster_enabled:1)."""
    probe = Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
    try:
        return bool((await probe.info("cluster")).get("cluster_enabled"))
    finally:
        await probe.aclose()


async def publish_outbound(redis: Client, messages: Iterable[tuple[UUID, str]]) -> None:
    """`(message_id, phone_number_id)` pairs, each onto its number's stream."""
    async with redis.pipeline(transaction=False) as pipe:
        for message_id, phone_number_id in messages:
            pipe.xadd(outbound_stream(phone_number_id), {"message_id": str(message_id)})
        await pipe.execute()


async def publish_webhooks(
    redis: Client, bodies: list[bytes], shards: int = 1, wait_replicas: int = 0
) -> list[tuple[str, str]]:
    """Keep Meta's verified POST bodies for the webhook processor, on one shard of the
    webhook stream; returns (stream, entry id) of each.

    With `wait_replicas`, the same round trip ends with WAIT, which counts the replicas
    holding the writes of its own connection: the entries are on that many replicas before
    Meta gets its 200, so a failover cannot lose them. Fewer within the timeout, while the
    master has more replicas attached (one lagging), raises a Redis TimeoutError: an outage,
    the web answers 503 and Meta sends the POST again (a body stored twice is handled once).
    A master with no replica left (its own just took over) cannot do better: accepted, with
    a warning.
    """
    received_at = f"{time.time():.3f}"
    stream = random.choice(webhook_streams(shards))
    xadds = [("XADD", stream, "*", "body", b, "received_at", received_at) for b in bodies]
    if not wait_replicas:
        return [(stream, i) for i in await _pipelined(redis, xadds)]
    wait = ("WAIT", wait_replicas, _WAIT_TIMEOUT_MS)
    if _is_cluster(redis):
        *ids, held = await _on_one_connection(redis, stream, [*xadds, wait])
    else:  # a retried pipeline sends every command again, on one connection
        *ids, held = await _pipelined(redis, [*xadds, wait])
    if held < wait_replicas:
        where = await _master_of(redis, stream)
        attached = len((await redis.execute_command("ROLE", **where))[2])
        if attached > held:
            raise RedisTimeoutError(f"{stream}: on {held} of {attached} replicas in time")
        logger.warning("webhook entries on the master alone: it has no replica stream=%s", stream)
    return [(stream, i) for i in ids]


async def _pipelined(redis: Client, commands: list[tuple[Any, ...]]) -> list[Any]:
    async with redis.pipeline(transaction=False) as pipe:
        for command in commands:
            pipe.execute_command(*command)
        return await pipe.execute()


async def _on_one_connection(
    redis: RedisCluster, key: str, commands: list[tuple[Any, ...]]
) -> list[Any]:
    """`commands` in one round trip on one connection to `key`'s master, never retried in
    part: the cluster pipeline would send a failed WAIT again alone, on another connection,
    where it counts none of these writes. Any error (the master gone, the slot moved)
    raises after the client is told to read the slot map again."""
    node = (await _master_of(redis, key))["target_nodes"]
    connection = node.acquire_connection()
    try:
        await connection.send_packed_command(connection.pack_commands(commands))
        return [await connection.read_response() for _ in commands]
    except BaseException:
        await connection.disconnect()
        with contextlib.suppress(Exception):
            await redis.nodes_manager.initialize()
        raise
    finally:
        node.release(connection)


async def publish_hub_events(redis: Client, events: Iterable[EventRef], shards: int = 1) -> None:
    """One entry per event, on its message's shard of the Hub-event stream."""
    async with redis.pipeline(transaction=False) as pipe:
        for e in events:
            pipe.xadd(
                hub_stream_of(str(e.message_id or e.id), shards),
                {
                    "event_id": e.id,
                    "type": e.type,
                    "message_id": str(e.message_id) if e.message_id else "",
                },
            )
        await pipe.execute()


def _is_cluster(redis: Client) -> bool:
    return isinstance(redis, RedisCluster)


async def _master_of(redis: Client, key: str) -> dict[str, Any]:
    """Where a keyless command must go to reach `key`'s master (one server: itself)."""
    if not _is_cluster(redis):
        return {}
    await redis.initialize()  # the slot map is read on the first command: maybe not yet
    return {"target_nodes": redis.get_node_from_key(key)}


def any_node(redis: Client) -> dict[str, Any]:
    """Where a keyless command in a pipeline goes (`pipe.execute_command("TIME", **...)`): on
    a cluster, any one node (redis-py refuses `pipe.time()` there); one server: itself."""
    return {"target_nodes": redis.get_random_node()} if _is_cluster(redis) else {}


def group_lag(length: int, group: Mapping[str, Any]) -> int:
    """Entries of the stream not yet delivered to `group` (an `XINFO GROUPS` reply).

    Redis 7 reports `lag`, but not once entries were deleted, and Redis 6.2 never does. We
    delete handled entries, so what is not pending was never delivered: length - pending.
    """
    lag = group.get("lag")
    return lag if isinstance(lag, int) else max(length - group.get("pending", 0), 0)
