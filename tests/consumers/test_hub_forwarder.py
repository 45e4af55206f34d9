"""consumers.hub_forwarder against a scripted Hub over real sockets, with real PostgreSQL and
Redis: the retry schedule, dead events and their replay, 410 Gone, and the record of every
attempt."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from standardwebhooks import Webhook

from consumers import hub_forwarder, scheduler
from consumers.context import Context
from consumers.runner import Entry
from core.names import HUB_PAUSED_KEY
from db import hub_events
from db.hub_events import HubEvent
from tests.conftest import ROOT
from tests.support.edge import Reply, Scripted, worker_context
from tests.support.settings import HUB_STREAM

SCHEDULE = "10,20"  # two retries after the first attempt: three POSTs in all


@pytest.fixture
def worker_env() -> dict[str, str]:
    return {"HUB_RETRY_SCHEDULE_S": SCHEDULE}


def answer(status: int, **headers: str) -> Reply:
    return status, {}, headers


async def outbox(pool: asyncpg.Pool) -> str:
    event_id = f"evt_{uuid.uuid4().hex}"
    envelope = {"id": event_id, "type": "message.received", "data": {"wamid": "wamid.X"}}
    async with pool.acquire() as conn:
        await hub_events.insert_many(conn, [HubEvent(event_id, "message.received", None, envelope)])
    return event_id


async def deliver(ctx: Context, *event_ids: str) -> None:
    entries = [Entry(f"{i}-0", {"event_id": e}) for i, e in enumerate(event_ids, 1)]
    assert await hub_forwarder.handle(ctx, entries) == {}


async def event(pool: asyncpg.Pool, event_id: str) -> asyncpg.Record:
    return await pool.fetchrow("SELECT * FROM hub_events WHERE id = $1", event_id)


async def attempts(pool: asyncpg.Pool, event_id: str) -> list[int | None]:
    rows = await pool.fetch(
        "SELECT status_code, latency_ms FROM hub_event_attempts WHERE event_id = $1 ORDER BY id",
        event_id,
    )
    assert all(r["latency_ms"] >= 0 for r in rows)
    return [r["status_code"] for r in rows]


async def make_due(pool: asyncpg.Pool, event_id: str) -> None:
    await pool.execute("UPDATE hub_events SET next_attempt_at = now() WHERE id = $1", event_id)


def waits(r: asyncpg.Record) -> float:
    return (r["next_attempt_at"] - datetime.now(UTC)).total_seconds()


# label, the Hub's answer, then: outbox status, seconds until the next attempt (or None)
CASES = [
    ("2xx delivered", answer(204), "delivered", None),
    ("5xx waits for the schedule", answer(503), "pending", (8.5, 11)),
    ("429 honours Retry-After", answer(429, **{"Retry-After": "42"}), "pending", (40.5, 42)),
    ("408 is retried", answer(408), "pending", (8.5, 11)),
    ("400 is dead at once", answer(400), "dead", None),
    ("404 is dead at once", answer(404), "dead", None),
    ("a redirect is dead, never followed", answer(308, Location="/moved"), "dead", None),
]


@pytest.mark.parametrize(("label", "reply", "status", "wait"), CASES, ids=[c[0] for c in CASES])
async def test_each_hub_answer_ends_where_the_policy_says(ctx, edge, label, reply, status, wait):
    event_id = await outbox(ctx.pool)
    edge.answer(event_id, reply)
    await deliver(ctx, event_id)
    row = await event(ctx.pool, event_id)
    assert (row["status"], row["attempts"], row["last_status_code"]) == (status, 1, reply[0])
    if wait is None:
        assert row["next_attempt_at"] is None
    else:
        assert wait[0] <= waits(row) <= wait[1]
    assert await attempts(ctx.pool, event_id) == [reply[0]]
    assert edge.keys() == [event_id]


async def test_schedule_runs_out_then_the_event_is_dead_until_replayed(ctx, edge, database_url):
    event_id = await outbox(ctx.pool)
    edge.answer(event_id, answer(500), answer(500), answer(500))
    for _ in range(3):
        await deliver(ctx, event_id)
        await deliver(ctx, event_id)  # a stray entry while parked: no POST
        await make_due(ctx.pool, event_id)
    row = await event(ctx.pool, event_id)
    assert (row["status"], row["attempts"]) == ("dead", 3)
    assert "retries exhausted" in row["last_error"]
    assert await attempts(ctx.pool, event_id) == [500, 500, 500]

    replay = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ops", "replay", "--id", event_id],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (replay.returncode, replay.stdout) == (0, f"{event_id}\n"), replay.stderr
    assert await scheduler.publish_due(ctx) == {"messages": 0, "hub_events": 1}
    [(entry_id, fields)] = await ctx.redis.xrange(HUB_STREAM)
    assert await hub_forwarder.handle(ctx, [Entry(entry_id, fields)]) == {}
    assert (await event(ctx.pool, event_id))["status"] == "delivered"
    assert await attempts(ctx.pool, event_id) == [500, 500, 500, 200]


async def test_gone_stops_every_delivery_and_raises_an_alert(ctx, edge):
    gone, held = await outbox(ctx.pool), await outbox(ctx.pool)
    edge.answer(gone, answer(410))
    await deliver(ctx, gone)
    assert (await event(ctx.pool, gone))["status"] == "dead"
    assert "410" in await ctx.redis.get(HUB_PAUSED_KEY)
    await deliver(ctx, held)
    assert edge.keys() == [gone]
    row = await event(ctx.pool, held)
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert 3000 < waits(row) <= 3600  # HUB_GONE_PAUSE_S default


async def test_unreachable_hub_is_an_attempt_without_status(pool, redis, edge):
    event_id = await outbox(pool)
    closed = Scripted(url="http://127.0.0.1:9")  # discard port: connection refused
    async with worker_context(pool, redis, closed, HUB_RETRY_SCHEDULE_S=SCHEDULE) as ctx:
        await deliver(ctx, event_id)
    row = await event(pool, event_id)
    assert (row["status"], row["last_status_code"]) == ("pending", None)
    assert row["last_error"]
    assert await attempts(pool, event_id) == [None]


async def test_events_are_signed_for_the_hub_to_verify(ctx, edge):
    event_id = await outbox(ctx.pool)
    await deliver(ctx, event_id)
    call = edge.calls[0]
    verified = Webhook(ctx.settings.hub_webhook_secret).verify(call.raw, call.headers)
    assert verified["id"] == event_id
    assert call.headers["webhook-id"] == event_id


async def test_one_event_in_two_batches_at_once_is_posted_once(ctx, edge):
    event_id = await outbox(ctx.pool)
    await asyncio.gather(deliver(ctx, event_id), deliver(ctx, event_id))
    assert edge.keys() == [event_id]
    assert (await event(ctx.pool, event_id))["status"] == "delivered"


async def test_lease_of_a_worker_that_died_runs_out_and_the_event_comes_back(ctx, edge):
    event_id = await outbox(ctx.pool)
    assert len(await hub_events.lease(ctx.pool, [event_id], seconds=0.2)) == 1  # then it dies
    await deliver(ctx, event_id)  # a reclaimed entry while the lease holds: no POST
    assert edge.calls == []
    assert await scheduler.publish_due(ctx) == {"messages": 0, "hub_events": 0}
    await asyncio.sleep(0.3)
    assert await scheduler.publish_due(ctx) == {"messages": 0, "hub_events": 1}
    [(entry_id, fields)] = await ctx.redis.xrange(HUB_STREAM)
    await hub_forwarder.handle(ctx, [Entry(entry_id, fields)])
    assert edge.keys() == [event_id]
    assert (await event(ctx.pool, event_id))["status"] == "delivered"
