"""consumers.retention: each table loses what its rule says past RETENTION_DAYS, and nothing
else; one replica purges per interval; RETENTION_DAYS=0 purges nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from consumers import retention
from consumers.context import Context
from core.names import RETENTION_LOCK_KEY
from tests.support.settings import NUMBER

OLD = datetime.now(UTC) - timedelta(days=31)  # past RETENTION_DAYS=30
NEW = datetime.now(UTC) - timedelta(days=29)
_MESSAGE = (
    "INSERT INTO messages (id, request_hash, recipient, type, payload, metadata, status,"
    " phone_number_id, created_at, purged_at) VALUES ($1, '0', '4915112345678', 'text',"
    ' \'{"text": {"body": "hi"}}\', \'{"order": 7}\', $2, $3, $4, $5) RETURNING id'
)


@pytest.fixture
def worker_env() -> dict[str, str]:
    # Batches of 10 rows: every case below spans several batches, so the keyset is walked.
    return {"RETENTION_DAYS": "30", "RETENTION_BATCH_ROWS": "10", "RETENTION_PAUSE_MS": "0"}


async def message(
    pool: asyncpg.Pool, status: str, created: datetime, purged: datetime | None = None
) -> Any:
    return await pool.fetchval(_MESSAGE, uuid.uuid4(), status, NUMBER, created, purged)


async def inbound(pool: asyncpg.Pool, received: datetime) -> Any:
    return await pool.fetchval(
        "INSERT INTO inbound_messages (wamid, sender, type, sent_at, payload, received_at)"
        " VALUES ($1, '4915112345678', 'text', now(), '{\"text\": {}}', $2) RETURNING wamid",
        f"wamid.{uuid.uuid4().hex}",
        received,
    )


async def hub_event(pool: asyncpg.Pool, status: str, at: datetime) -> Any:
    event_id = await pool.fetchval(
        "INSERT INTO hub_events (id, type, payload, status, created_at, delivered_at)"
        " VALUES ($1, 'message.received', '{}', $2, $3, $4) RETURNING id",
        f"evt_{uuid.uuid4().hex}",
        status,
        at,
        at if status == "delivered" else None,
    )
    await pool.execute(
        "INSERT INTO hub_event_attempts (event_id, attempted_at, latency_ms) VALUES ($1, now(), 5)",
        event_id,
    )
    return event_id


async def change(pool: asyncpg.Pool, received: datetime) -> Any:
    return await pool.fetchval(
        "INSERT INTO webhook_changes (id, field, value, received_at)"
        " VALUES ($1, 'account_update', '{}', $2) RETURNING id",
        f"evt_{uuid.uuid4().hex}",
        received,
    )


async def held(pool: asyncpg.Pool, foreign: datetime | None) -> Any:
    return await pool.fetchval(
        "INSERT INTO held_statuses (wamid, status, raw, received_at, hold_until, foreign_at)"
        " VALUES ($1, 'sent', '{}', $2, $2, $3) RETURNING id",
        f"wamid.{uuid.uuid4().hex}",
        OLD,
        foreign,
    )


# label, which table (a key of STATE), a factory of one row, whether retention takes it
CASES = [
    ("old sent message", "message", lambda p: message(p, "sent", OLD), True),
    ("old delivered message", "message", lambda p: message(p, "delivered", OLD), True),
    ("old read message", "message", lambda p: message(p, "read", OLD), True),
    ("old played message", "message", lambda p: message(p, "played", OLD), True),
    ("old failed message", "message", lambda p: message(p, "failed", OLD), True),
    ("old queued message", "message", lambda p: message(p, "queued", OLD), False),
    ("old sending message", "message", lambda p: message(p, "sending", OLD), False),
    ("recent sent message", "message", lambda p: message(p, "sent", NEW), False),
    ("old inbound message", "inbound", lambda p: inbound(p, OLD), True),
    ("recent inbound message", "inbound", lambda p: inbound(p, NEW), False),
    ("old delivered hub event", "hub_event", lambda p: hub_event(p, "delivered", OLD), True),
    ("recent delivered hub event", "hub_event", lambda p: hub_event(p, "delivered", NEW), False),
    ("old pending hub event", "hub_event", lambda p: hub_event(p, "pending", OLD), False),
    ("old dead hub event", "hub_event", lambda p: hub_event(p, "dead", OLD), False),
    ("old webhook change", "change", lambda p: change(p, OLD), True),
    ("recent webhook change", "change", lambda p: change(p, NEW), False),
    ("old foreign status", "held", lambda p: held(p, OLD), True),
    ("recent foreign status", "held", lambda p: held(p, NEW), False),
    ("old status still held", "held", lambda p: held(p, None), False),
]

# What each table looks like to the test: a purged row keeps its key, without its body.
STATE = {
    "message": "SELECT payload IS NULL AND purged_at IS NOT NULL AS purged, metadata,"
    " status, error FROM messages WHERE id = $1",
    "inbound": "SELECT payload IS NULL AND purged_at IS NOT NULL AS purged"
    " FROM inbound_messages WHERE wamid = $1",
    "hub_event": "SELECT (SELECT count(*) FROM hub_events WHERE id = $1) = 0 AND"
    " (SELECT count(*) FROM hub_event_attempts WHERE event_id = $1) = 0 AS purged",
    "change": "SELECT (SELECT count(*) FROM webhook_changes WHERE id = $1) = 0 AS purged",
    "held": "SELECT (SELECT count(*) FROM held_statuses WHERE id = $1) = 0 AS purged",
}


async def test_each_table_loses_what_its_rule_says_and_nothing_else(
    ctx: Context, pool: asyncpg.Pool
) -> None:
    made = [
        (label, kind, [await make(pool) for _ in range(25)], taken)
        for label, kind, make, taken in CASES
    ]

    done = await retention.purge(pool, ctx.settings)

    for label, kind, keys, taken in made:
        for key in keys:
            row = await pool.fetchrow(STATE[kind], key)
            assert row["purged"] is taken, label
            if kind == "message":  # what the status API and the Hub's events read stays
                assert (row["metadata"], row["error"]) == ({"order": 7}, None), label
    assert done == {
        "messages": 5 * 25,
        "inbound_messages": 25,
        "hub_events": 25,
        "webhook_changes": 25,
        "held_statuses": 25,
    }
    assert set((await retention.purge(pool, ctx.settings)).values()) == {0}  # all done


async def test_a_message_purged_before_keeps_its_purge_time(
    ctx: Context, pool: asyncpg.Pool
) -> None:
    earlier = await message(pool, "read", OLD, purged=datetime.now(UTC) - timedelta(days=1))
    before = await pool.fetchval("SELECT purged_at FROM messages WHERE id = $1", earlier)

    assert (await retention.purge(pool, ctx.settings))["messages"] == 0
    assert await pool.fetchval("SELECT purged_at FROM messages WHERE id = $1", earlier) == before


async def test_a_purge_stops_when_its_turn_is_up(ctx: Context, pool: asyncpg.Pool) -> None:
    for _ in range(30):
        await message(pool, "sent", OLD)

    assert (await retention.purge(pool, ctx.settings, turn_s=0))["messages"] == 0
    assert (await retention.purge(pool, ctx.settings))["messages"] == 30


async def _run_briefly(ctx: Context) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(retention.run(ctx, stop, every_s=0.05))
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_one_replica_purges_per_interval(
    ctx: Context, pool: asyncpg.Pool, redis: Redis
) -> None:
    old = await message(pool, "sent", OLD)
    await redis.set(RETENTION_LOCK_KEY, "another replica", px=60_000)

    await _run_briefly(ctx)
    assert await pool.fetchval("SELECT purged_at FROM messages WHERE id = $1", old) is None

    await redis.delete(RETENTION_LOCK_KEY)
    await _run_briefly(ctx)
    assert await pool.fetchval("SELECT purged_at FROM messages WHERE id = $1", old) is not None


async def test_retention_off_purges_nothing(ctx: Context, pool: asyncpg.Pool, redis: Redis) -> None:
    old = await message(pool, "sent", OLD)
    ctx.settings = dataclasses.replace(ctx.settings, retention_days=0)

    await _run_briefly(ctx)

    assert await pool.fetchval("SELECT purged_at FROM messages WHERE id = $1", old) is None
    assert await redis.exists(RETENTION_LOCK_KEY) == 0
