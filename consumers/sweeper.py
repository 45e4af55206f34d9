"""Periodic repair of the gaps between PostgreSQL and Redis.

- A queued message whose stream entry never got written (crash between INSERT and XADD) is
  published again, on its number's stream (of the numbers this worker sends from).
  Harmless if it was published: the sender's claim is atomic.
- An outbox event committed but never published is published again (the forwarder skips
  delivered ones). That also recovers whatever a Redis failover lost (an acknowledged XADD
  the replica never got): PostgreSQL is the record, the streams only a hint.
- Entries left in the unsharded webhook and Hub-event streams of before STREAM_SHARDS are
  moved to shard 0 (`adopt_legacy`), so an upgrade with entries waiting loses none.
- "Never got written" means: older than SWEEP_STALE_S *and* published before the point the
  consumer group has read up to. A long but healthy backlog is therefore left alone instead
  of being published twice.
- A claimed message whose Meta call never started (unmarked, `db.claims`) is queued again
  once its worker is taken for dead or its claim is STREAM_IDLE_TIMEOUT_S old
  (`consumers.liveness.recover`); one whose call was marked stays `sending`.
- A queued message past its validity period (parked, say) fails `expired`.
- A message whose Meta call was marked as leaving SEND_OUTCOME_TIMEOUT_S ago and that has
  neither Meta's answer (a timeout, a worker killed mid-call) nor a status webhook since
  ends `failed` with code `outcome_unknown`: we never re-send blindly.

One replica sweeps per interval (a Redis lock); it runs inside the worker process.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.exceptions import ResponseError

from consumers import events, liveness
from consumers.context import Context
from consumers.periodic import periodic
from core import broker
from core.names import (
    DEAD_LETTER_SUFFIX,
    EXPIRED_ERROR,
    FAILED,
    HUB_FORWARDERS_GROUP,
    LEGACY_STREAMS,
    OUTCOME_UNKNOWN,
    SENDERS_GROUP,
    SWEEP_LOCK_KEY,
    hub_streams,
    legacy_target,
)
from db import claims, hub_events, messages
from db.hub_events import HubEvent
from db.statuses import StatusChange

logger = logging.getLogger("consumers.sweeper")

UNKNOWN_OUTCOME = {
    "code": OUTCOME_UNKNOWN,
    "title": "No answer from Meta",
    "message": "The send request may have reached Meta but no answer or status webhook came.",
    "details": None,
}


async def sweep_once(ctx: Context) -> dict[str, int]:
    """One pass; returns what it did, for logs and tests."""
    s = ctx.settings
    shards = s.stream_shards
    now = datetime.now(UTC)
    margin = timedelta(seconds=s.sweep_stale_s)
    queued = []  # each number's, by how far its own stream has been read
    for n in s.numbers:
        read_up_to = await _read_up_to(ctx.redis, n.stream, SENDERS_GROUP, now)
        queued += await messages.republish_stale(ctx.pool, n.id, read_up_to - margin)
    if queued:
        await broker.publish_outbound(ctx.redis, queued)
    hub_read_up_to = min(
        [await _read_up_to(ctx.redis, h, HUB_FORWARDERS_GROUP, now) for h in hub_streams(shards)]
    )
    pending = await hub_events.republish_stale(ctx.pool, hub_read_up_to - margin)
    if pending:
        await broker.publish_hub_events(
            ctx.redis, [HubEvent(r["id"], r["type"], r["message_id"], {}) for r in pending], shards
        )
    moved = await adopt_legacy(ctx.redis)
    requeued = await liveness.recover(ctx.pool, ctx.redis, s.stream_idle_timeout_s)
    stuck = await claims.unanswered(ctx.pool, s.send_outcome_timeout_s)
    if stuck:
        await events.record(
            ctx,
            [StatusChange(i, FAILED, now, "sender", error=UNKNOWN_OUTCOME) for i in stuck],
            only_while_sending=True,
        )
    expired = await messages.expired(ctx.pool)  # waiting parked, or never on a stream again
    if expired:
        await events.record(
            ctx, [StatusChange(i, FAILED, now, "sender", error=EXPIRED_ERROR) for i in expired]
        )
    done = {
        "queued": len(queued),
        "hub_events": len(pending),
        "outcome_unknown": len(stuck),
        "expired": len(expired),
        **requeued,
        "legacy_entries": moved,
    }
    if any(done.values()):
        logger.info(
            "sweep republished_queued=%d republished_hub_events=%d failed_outcome_unknown=%d "
            "failed_expired=%d requeued_from_dead_workers=%d moved_legacy_entries=%d",
            *done.values(),
        )
    return done


async def adopt_legacy(redis: broker.Client, batch: int = 500) -> int:
    """Move what is left in the unsharded streams of before (`messaging:webhooks`,
    `messaging:hub-events` and their `:dead`) to shard 0's; returns how many entries.

    Copy, then delete: a crash in between leaves an entry on both, handled twice, which the
    webhook processor and the Hub forwarder take (repeats are no-ops); never on neither.
    Entries a worker of the old version still holds are handled again the same way.
    """
    moved = 0
    for legacy in (s + suffix for s in LEGACY_STREAMS for suffix in ("", DEAD_LETTER_SUFFIX)):
        entries = await redis.xrange(legacy, count=batch)
        if not entries:
            continue
        async with redis.pipeline(transaction=False) as pipe:
            for _, fields in entries:
                pipe.xadd(legacy_target(legacy), fields)
            await pipe.execute()
        await redis.xdel(legacy, *[i for i, _ in entries])
        moved += len(entries)
        logger.warning("moved %d entries of %s to %s", len(entries), legacy, legacy_target(legacy))
    return moved


async def _read_up_to(redis: Any, stream: str, group: str, now: datetime) -> datetime:
    """When the newest entry the group has read was added (now, if it has read them all).

    A row published before that moment and still unhandled has no entry left to read.
    """
    try:
        info = await redis.xinfo_stream(stream)
        groups = {g["name"]: g for g in await redis.xinfo_groups(stream)}
    except ResponseError:  # no stream yet: nothing was ever published
        return now
    last_read = groups.get(group, {}).get("last-delivered-id", "0-0")
    if last_read == info["last-generated-id"]:
        return now
    return datetime.fromtimestamp(int(last_read.split("-")[0]) / 1000, UTC)


async def run(ctx: Context, stop: asyncio.Event) -> None:
    """A sweep every SWEEP_INTERVAL_S by whichever replica takes that interval's lock."""
    interval = ctx.settings.sweep_interval_s

    async def sweep_if_first() -> None:
        # The lock is never released: it lapses with the interval, so one sweep per interval.
        if await ctx.redis.set(SWEEP_LOCK_KEY, "1", nx=True, px=int(interval * 1000)):
            await sweep_once(ctx)

    await periodic("sweep", sweep_if_first, interval, stop, logger)
