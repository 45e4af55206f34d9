"""The retention purge: with RETENTION_DAYS set, one replica at a time purges what is older.

Every EVERY_S a worker tries the lock (`RETENTION_LOCK_KEY`, which lapses with the interval,
like the sweeper's); the one that takes it goes table by table (`db.retention.RULES`), one
statement of RETENTION_BATCH_ROWS rows at a time with RETENTION_PAUSE_MS between two, until
no table has anything older left or its turn is up (the next run goes on from there), so two
runs never overlap and no statement holds its row locks for long. It runs with the sweeper
(`python -m consumers` runs both). RETENTION_DAYS=0, the default: it does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from consumers.context import Context
from consumers.periodic import periodic, sleep_unless_stopped
from core.names import RETENTION_LOCK_KEY
from core.settings import Settings
from db import retention

logger = logging.getLogger("consumers.retention")

EVERY_S = 600.0
_TURN_S = EVERY_S * 0.9  # a run stops within its lock's lifetime
_OLDEST = datetime.min.replace(tzinfo=UTC)  # PostgreSQL's -infinity: the first keyset


async def purge(
    pool: asyncpg.Pool,
    settings: Settings,
    stop: asyncio.Event | None = None,
    turn_s: float = _TURN_S,
) -> dict[str, int]:
    """Purge every table's rows older than RETENTION_DAYS, until done, `stop` or `turn_s`;
    returns how many rows of each table it purged."""
    stop = stop or asyncio.Event()
    cutoff = datetime.now(UTC) - timedelta(days=settings.retention_days)
    ends_at = time.monotonic() + turn_s
    limit = settings.retention_batch_rows
    done = dict.fromkeys((r.table for r in retention.RULES), 0)
    for rule in retention.RULES:
        after = _OLDEST
        while not stop.is_set() and time.monotonic() < ends_at:
            ages = await retention.purge_batch(pool, rule, cutoff, after, limit)
            done[rule.table] += len(ages)
            if len(ages) < limit:  # nothing older left (SKIP LOCKED rows: next run)
                break
            after = max(ages)
            await sleep_unless_stopped(stop, settings.retention_pause_ms / 1000)
    if any(done.values()):
        logger.info(
            "retention purged days=%d %s",
            settings.retention_days,
            " ".join(f"{table}={n}" for table, n in done.items()),
        )
    return done


async def run(ctx: Context, stop: asyncio.Event, every_s: float = EVERY_S) -> None:
    """A purge every `every_s` by whichever replica takes the lock; off at RETENTION_DAYS=0."""
    if not ctx.settings.retention_days:
        await stop.wait()  # off: nothing to do, but never end on our own
        return

    async def purge_if_first() -> None:
        # Never released: it lapses with the interval, so one run per interval in all.
        if await ctx.redis.set(RETENTION_LOCK_KEY, "1", nx=True, px=int(every_s * 1000)):
            await purge(ctx.pool, ctx.settings, stop, turn_s=every_s * 0.9)

    await periodic("retention", purge_if_first, every_s, stop, logger)
