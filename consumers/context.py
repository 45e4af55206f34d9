"""What every handler gets: settings, the process's pooled connections and shared limits.

Resources are opened once per worker process (`open_context`) and closed last at shutdown
(`close_context`); tests build the same context around their own pool and Redis client.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import aiohttp
import asyncpg
from redis.asyncio import Redis

import db
from consumers import events
from consumers.ratelimit import RateLimiter
from core import broker
from core.batcher import Batcher
from core.settings import Settings
from db.hub_events import HubEvent


@dataclass
class Context:
    settings: Settings
    pool: asyncpg.Pool
    redis: Redis
    http: aiohttp.ClientSession  # Meta's and the Hub's calls
    limiter: RateLimiter
    http_slots: asyncio.Semaphore  # Meta and Hub calls in flight in this process
    stop: asyncio.Event
    writes: Batcher[events.Changes, list[HubEvent]] = field(init=False)  # the group commit

    def __post_init__(self) -> None:
        self.writes = events.group_commit(self)


async def open_context(settings: Settings, stop: asyncio.Event | None = None) -> Context:
    pool = await db.create_pool(settings.database_url, min_size=1, max_size=10)
    return build_context(
        settings, pool, broker.connect(settings.redis_url), http_session(settings), stop
    )


def build_context(
    settings: Settings,
    pool: asyncpg.Pool,
    redis: Redis,
    http: aiohttp.ClientSession,
    stop: asyncio.Event | None = None,
) -> Context:
    return Context(
        settings,
        pool,
        redis,
        http,
        RateLimiter(redis, settings.phone_number_id, settings.send_rate_per_s),
        asyncio.Semaphore(settings.send_concurrency),
        stop or asyncio.Event(),
    )


def http_session(settings: Settings) -> aiohttp.ClientSession:
    """One pooled client for Meta and the Hub. aiohttp directly: through httpx the same calls
    cost 3x the CPU, and the worker's ceiling is CPU (see README, Dependencies)."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(
            total=settings.http_timeout_s, connect=min(settings.http_timeout_s, 5)
        ),
        connector=aiohttp.TCPConnector(
            limit=settings.send_concurrency * 2, keepalive_timeout=4, ttl_dns_cache=60
        ),
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=True,
    )


async def close_context(ctx: Context) -> None:
    await ctx.writes.close()
    await ctx.http.close()
    await ctx.redis.aclose()
    await ctx.pool.close()
