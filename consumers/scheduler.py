"""Parked work back onto its stream when due: messages waiting for their next send attempt,
Hub events waiting for their next delivery. Each pass also matches held statuses again
(`consumers.status_matching`).

PostgreSQL holds the schedule (`next_attempt_at`), so a Redis restart loses nothing. Every
worker runs this loop: rows are taken with SKIP LOCKED, so replicas never publish one twice,
and a crash between the update and the publish is repaired by the sweeper.
"""

from __future__ import annotations

import asyncio
import logging

from consumers import status_matching
from consumers.context import Context
from consumers.periodic import periodic
from core import broker
from db import hub_events, messages
from db.hub_events import HubEvent

logger = logging.getLogger("consumers.scheduler")


async def publish_due(ctx: Context) -> dict[str, int]:
    """One pass; returns how many of each were put back, for logs and tests."""
    ids = await messages.republish_due(ctx.pool)
    if ids:
        await broker.publish_outbound(ctx.redis, ids)
    rows = await hub_events.republish_due(ctx.pool)
    if rows:
        await broker.publish_hub_events(
            ctx.redis,
            [HubEvent(r["id"], r["type"], r["message_id"], {}) for r in rows],
            ctx.settings.stream_shards,
        )
    return {"messages": len(ids), "hub_events": len(rows)}


async def run(ctx: Context, stop: asyncio.Event) -> None:
    """A pass every RETRY_POLL_S; a failed one, whatever the error, is one warning line."""

    async def one_pass() -> None:
        done = {**await publish_due(ctx), **await status_matching.retry_held(ctx)}
        if any(done.values()):
            logger.debug("scheduler republished %s", done)

    await periodic(
        "scheduler pass", one_pass, ctx.settings.retry_poll_s, stop, logger, quiet=(Exception,)
    )
