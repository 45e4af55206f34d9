"""What every handler of the web gets: settings, the process's pooled connections and its
shared batchers and limits, as one typed `WebContext` (the worker's is `consumers.context`).

`open_web()` builds it in `before_server_start` and `close_web()` closes it on stop; a
handler reads it with `web(request)`, never through `app.ctx`. Which business number a
request speaks for is asked of it too (`WebContext.number`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial

import asyncpg
import httpx
from sanic import Request

import db
from core import broker
from core.batcher import Batcher
from core.numbers import FIELD, BusinessNumber, UnknownNumber
from core.settings import Settings
from db.messages import NewMessage
from server import api_errors
from server.catalog.cache import TemplateCache
from server.send_batch import Outcome, send_batcher
from whatsapp import client as meta


@dataclass
class WebContext:
    settings: Settings
    pool: asyncpg.Pool
    redis: broker.Client
    meta: httpx.AsyncClient  # the web's own Meta calls (mark read, media); tokens per number
    sends: Batcher[NewMessage, Outcome]  # concurrent sends share one INSERT and one XADD
    webhook_bodies: Batcher[bytes, tuple[str, str]]  # Meta's POSTs share one XADD
    uploads: asyncio.Semaphore  # media uploads in flight (MAX_CONCURRENT_UPLOADS)
    templates: TemplateCache | None  # None without WHATSAPP_BUSINESS_ACCOUNT_ID: no checks
    openapi: bytes | None = None  # the OpenAPI document, built on its first request

    def number(self, given: str | None, *, required: bool = False) -> BusinessNumber:
        """The business number `given` names (the default if None, unless `required` and
        several are configured); a 422 `unknown_phone_number` naming the field otherwise."""
        try:
            return self.settings.numbers.pick(given, required=required)
        except UnknownNumber as exc:
            raise api_errors.UnknownNumber([{"field": FIELD, "message": str(exc)}]) from None


async def open_web(settings: Settings) -> WebContext:
    """Open the process's resources (concurrent requests share their round trips)."""
    pool = await db.create_pool(settings.database_url, min_size=1, max_size=10)
    redis = await broker.open_client(settings.redis_url, settings.redis_cluster)
    waba_id = settings.whatsapp_business_account_id
    return WebContext(
        settings=settings,
        pool=pool,
        redis=redis,
        meta=meta.open_client(settings.http_timeout_s),
        sends=send_batcher(pool, redis),
        webhook_bodies=Batcher(
            partial(
                broker.publish_webhooks,
                redis,
                shards=settings.stream_shards,
                wait_replicas=settings.webhook_wait_replicas,
            )
        ),
        uploads=asyncio.Semaphore(settings.max_concurrent_uploads),
        templates=TemplateCache(pool, waba_id) if waba_id else None,
    )


async def close_web(ctx: WebContext) -> None:
    """Let the batches under way finish, then close the clients and the pool."""
    await ctx.sends.close()
    await ctx.webhook_bodies.close()
    await ctx.meta.aclose()
    await ctx.redis.aclose()
    await ctx.pool.close()


def web(request: Request) -> WebContext:
    """The context of the app serving `request`."""
    return request.app.ctx.web
