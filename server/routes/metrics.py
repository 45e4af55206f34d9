"""The web's Prometheus series and `GET /metrics` (HEALTH_CHECK_TOKENS, like /health/).

Counters here are incremented by the handlers; the streams' state (length, lag, pending,
dead letters, the oldest entry's age) and the pauses are read from Redis at scrape time in
one pipeline, and the live workers per role from their heartbeats (`core.heartbeats`), so
they describe every replica. The worker's series are in `consumers.worker_metrics`.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from redis.asyncio import Redis
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw

from core import exposition
from core.broker import any_node, group_lag
from core.heartbeats import Workers, live_per_role, live_workers, role_of
from core.names import HUB_PAUSED_KEY, SEND_PAUSED_KEY, dead_letter_stream, groups
from server.api_errors import Unavailable
from server.auth import require_health_token
from server.openapi.operation import HEALTH_TOKEN, Reply, operation
from server.web_context import web

logger = logging.getLogger("server.web_metrics")
bp = Blueprint("metrics")
_PER_STREAM = 4  # replies per stream: XLEN, XINFO GROUPS, XLEN of its dead letters, XRANGE 1

MESSAGES_ACCEPTED = Counter(
    "messaging_messages_accepted",
    "Messages stored and queued by POST /api/v1/messages/send/ (idempotent replays excluded)",
    ["type"],
)
WEBHOOKS_RECEIVED = Counter(
    "messaging_webhooks_received", "Meta webhook POSTs verified and queued for processing"
)


@bp.get("/metrics")
@operation(
    "Prometheus metrics",
    tag="health",
    responses={200: Reply(description="Prometheus text exposition", media="text/plain")},
    errors=(Unavailable,),
    auth=HEALTH_TOKEN,
)
async def metrics(request: Request) -> HTTPResponse:
    """The web's counters and every stream's state, read from Redis at scrape time."""
    require_health_token(request)
    ctx = web(request)
    s = ctx.settings
    families = await redis_families(ctx.redis, s.phone_number_ids, s.stream_shards)
    body = exposition.render(exposition.Snapshot(families))
    return raw(body, content_type=exposition.CONTENT_TYPE_LATEST)


async def redis_families(
    redis: Redis, numbers: tuple[str, ...], shards: int = 1
) -> list[GaugeMetricFamily]:
    """Streams, consumer groups, dead letters and pauses (one pipelined round trip; on a
    cluster, one per master), then the live workers."""
    up = GaugeMetricFamily("messaging_redis_up", "1 if Redis answered this scrape's queries")
    pairs = groups(numbers, shards)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            # Entry ids are stamped with Redis's clock: ages are read against it.
            pipe.execute_command("TIME", **any_node(redis))
            for stream, _ in pairs:
                pipe.xlen(stream)
                pipe.xinfo_groups(stream)
                pipe.xlen(dead_letter_stream(stream))
                pipe.xrange(stream, count=1)
            for n in numbers:
                pipe.pttl(SEND_PAUSED_KEY.format(phone_number_id=n))
            pipe.pttl(HUB_PAUSED_KEY)
            now, *replies = await pipe.execute(raise_on_error=False)
        workers = await live_workers(redis)
    except Exception as exc:  # the scrape still shows the counters, and that Redis is down
        logger.warning("metrics: redis unavailable (%s)", type(exc).__name__)
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    streams, ttls = replies[: _PER_STREAM * len(pairs)], replies[_PER_STREAM * len(pairs) :]
    now_ms = now[0] * 1000 + now[1] // 1000 if isinstance(now, tuple | list) else 0
    live = _live_family(pairs, workers)
    return [
        up,
        *_stream_families(pairs, streams, now_ms),
        _paused_family(numbers, ttls),
        live,
    ]


def _stream_families(
    pairs: tuple[tuple[str, str], ...], replies: list[Any], now_ms: int
) -> list[GaugeMetricFamily]:
    length = GaugeMetricFamily(
        "messaging_stream_length", "Entries in the stream: its backlog", labels=["stream"]
    )
    lag = GaugeMetricFamily(
        "messaging_stream_lag",
        "Entries not yet delivered to the consumer group",
        labels=["stream", "group"],
    )
    pending = GaugeMetricFamily(
        "messaging_stream_pending",
        "Entries delivered to a consumer and not yet acknowledged",
        labels=["stream", "group"],
    )
    dead = GaugeMetricFamily(
        "messaging_dead_letter_entries", "Entries in <stream>:dead", labels=["stream"]
    )
    age = GaugeMetricFamily(
        "messaging_stream_oldest_entry_age_seconds",
        "Age of the stream's oldest entry by Redis's clock (0: empty): how long the backlog waits",
        labels=["stream"],
    )
    n = _PER_STREAM
    per_stream = [replies[i : i + n] for i in range(0, len(replies), n)]
    for (stream, group), (size, infos, dead_size, first) in zip(pairs, per_stream, strict=True):
        size = size if isinstance(size, int) else 0
        info = next((g for g in _list(infos) if g.get("name") == group), None)
        length.add_metric([stream], size)
        dead.add_metric([stream], dead_size if isinstance(dead_size, int) else 0)
        age.add_metric([stream], _age_s(first, now_ms))
        if info is None:  # the group is created by the first consumer that starts
            continue
        pending.add_metric([stream, group], info["pending"])
        lag.add_metric([stream, group], group_lag(size, info))
    return [length, lag, pending, dead, age]


def _paused_family(numbers: tuple[str, ...], ttls: list[Any]) -> GaugeMetricFamily:
    paused = GaugeMetricFamily(
        "messaging_paused_seconds",
        "Seconds left of a pause (0: not paused); sending: Meta's spam/token errors on that "
        "number, hub_deliveries: the Hub answered 410",
        labels=["what", "phone_number_id"],
    )
    labels = [("sending", n) for n in numbers] + [("hub_deliveries", "")]
    for label, ttl in zip(labels, ttls, strict=True):
        paused.add_metric(list(label), max(ttl, 0) / 1000 if isinstance(ttl, int) else 0)
    return paused


def _age_s(first: Any, now_ms: int) -> float:
    """An entry id starts with the millisecond Redis added it."""
    if not first or not isinstance(first, list) or not now_ms:
        return 0
    return max(0, now_ms - int(str(first[0][0]).split("-")[0])) / 1000


def _live_family(pairs: tuple[tuple[str, str], ...], workers: Workers) -> GaugeMetricFamily:
    """Live workers per role: every configured role (0 when none serves it), and any other
    a live worker serves."""
    live = GaugeMetricFamily(
        "messaging_workers_live",
        "Workers whose heartbeat is fresh, per role (sender: one per business number)",
        labels=["role", "phone_number_id"],
    )
    counts = live_per_role(workers)
    configured = [r for stream, _ in pairs if (r := role_of(stream))]
    for role in sorted({*configured, *counts}):
        live.add_metric([role.kind, role.phone_number_id], counts[role])
    return live


def _list(value: Any) -> list[dict[str, Any]]:
    return value if isinstance(value, list) else []  # an error: the stream does not exist
