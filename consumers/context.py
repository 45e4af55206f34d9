"""What every handler gets: settings, the process's pooled connections and shared limits.

Resources are opened once per worker process (`open_context`) and closed last at shutdown
(`close_context`); tests build the same context around their own pool and Redis client.
Each business number (`core.numbers`) has a `Lane` of its own in the process: its rate
limiter and its Meta calls in flight, so a slow or throttled number never takes another's
room.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import aiohttp
import asyncpg

import db
from consumers import events
from consumers.liveness import Liveness
from consumers.ratelimit import RateLimiter
from core import broker
from core.batcher import Batcher
from core.numbers import BusinessNumber
from core.settings import Settings
from db.hub_events import HubEvent

logger = logging.getLogger("consumers.context")


@dataclass
class Lane:
    """One business number's sending in this process: the number, its limits, its calls."""

    number: BusinessNumber
    limiter: RateLimiter
    calls: asyncio.Semaphore  # its Meta calls in flight in this process (SEND_CONCURRENCY)


@dataclass
class Context:
    settings: Settings
    pool: asyncpg.Pool
    redis: broker.Client
    http: aiohttp.ClientSession  # Meta's and the Hub's calls
    lanes: dict[str, Lane]  # by phone_number_id, the default first
    hub_calls: asyncio.Semaphore  # Hub calls in flight in this process
    stop: asyncio.Event
    liveness: Liveness  # this worker's id, its heartbeat and the marks of its Meta calls
    writes: Batcher[events.Changes, list[HubEvent]] = field(init=False)  # the group commit

    def lane(self, phone_number_id: str | None = None) -> Lane:
        """A configured number's lane (None: the default's); KeyError for one not configured."""
        return self.lanes[phone_number_id or self.settings.phone_number_id]

    def __post_init__(self) -> None:
        self.writes = events.group_commit(self)


async def open_context(settings: Settings, stop: asyncio.Event | None = None) -> Context:
    pool = await db.create_pool(settings.database_url, min_size=1, max_size=10)
    redis = await broker.open_client(settings.redis_url, settings.redis_cluster)
    ctx = build_context(settings, pool, redis, http_session(settings), stop)
    await ctx.liveness.register()
    return ctx


def build_context(
    settings: Settings,
    pool: asyncpg.Pool,
    redis: broker.Client,
    http: aiohttp.ClientSession,
    stop: asyncio.Event | None = None,
) -> Context:
    lanes = {
        n.id: Lane(n, RateLimiter(redis, n), asyncio.Semaphore(settings.send_concurrency))
        for n in settings.numbers
    }
    return Context(
        settings,
        pool,
        redis,
        http,
        lanes,
        asyncio.Semaphore(settings.send_concurrency),
        stop or asyncio.Event(),
        Liveness(redis, pool),
    )


def http_session(settings: Settings) -> aiohttp.ClientSession:
    """One pooled client for Meta and the Hub. aiohttp directly: through httpx the same calls
    cost 3x the CPU, and the worker's ceiling is CPU (see README, Dependencies)."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(
            total=settings.http_timeout_s, connect=min(settings.http_timeout_s, 5)
        ),
        connector=aiohttp.TCPConnector(  # room for every number's calls and the Hub's
            limit=settings.send_concurrency * (len(settings.phone_number_ids) + 1),
            keepalive_timeout=4,
            ttl_dns_cache=60,
        ),
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=True,
    )


async def close_context(ctx: Context) -> None:
    await ctx.writes.close()
    try:
        await ctx.liveness.close()
    except Exception as exc:  # Redis down at shutdown: the key expires by itself
        logger.warning("could not say this worker is gone (%s)", type(exc).__name__)
    await ctx.http.close()
    await ctx.redis.aclose()
    await ctx.pool.close()
