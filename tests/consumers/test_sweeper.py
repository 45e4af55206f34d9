"""consumers.sweeper.sweep_once: repairs the gaps between PostgreSQL and Redis, once each."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from consumers import events, sweeper
from core import broker
from core.names import WORKER_KEY
from db import claims, hub_events, messages
from db.hub_events import HubEvent
from db.messages import NewMessage
from tests.support.settings import HUB_STREAM, NUMBER, OUTBOUND

AGED = "now() - interval '1 hour'"


@pytest.fixture
def worker_env() -> dict[str, str]:
    return {"SWEEP_STALE_S": "5", "SEND_OUTCOME_TIMEOUT_S": "30"}


async def queued(pool: asyncpg.Pool) -> uuid.UUID:
    m = NewMessage(
        uuid.uuid4(), None, "0" * 64, "4915112345678", "text", {"type": "text"}, None, NUMBER
    )
    await messages.insert(pool, m)
    return m.id


@pytest.fixture(autouse=True)
async def alive(redis: Redis) -> None:
    """worker-1, who claims the messages `sending` below, is alive unless a test says not."""
    await redis.set(WORKER_KEY.format(worker_id="worker-1"), "1")


async def sending(pool: asyncpg.Pool) -> uuid.UUID:
    message_id = await queued(pool)
    assert len(await claims.claim(pool, [message_id], "worker-1", NUMBER)) == 1
    return message_id


async def mark(pool: asyncpg.Pool, message_id: uuid.UUID) -> None:
    """worker-1's Meta call of the message may have left."""
    row = await messages.get(pool, message_id)
    assert await claims.mark_left(pool, "worker-1", [(message_id, row["sending_at"])])


async def pending_event(pool: asyncpg.Pool) -> str:
    event = HubEvent(f"evt_{uuid.uuid4().hex}", "message.received", None, {"data": {}})
    async with pool.acquire() as conn:
        assert await hub_events.insert_many(conn, [event]) == {event.id}
    return event.id


async def age(pool: asyncpg.Pool, table: str, column: str, row_id: Any) -> None:
    await pool.execute(f"UPDATE {table} SET {column} = {AGED} WHERE id = $1", row_id)  # noqa: S608


async def stream_field(redis: Redis, stream: str, name: str) -> list[str]:
    return [fields[name] for _, fields in await redis.xrange(stream)]


async def test_stale_queued_message_is_republished_once(ctx: SimpleNamespace) -> None:
    message_id = await queued(ctx.pool)
    await age(ctx.pool, "messages", "published_at", message_id)
    assert (await sweeper.sweep_once(ctx))["queued"] == 1
    assert (await sweeper.sweep_once(ctx))["queued"] == 0
    assert await stream_field(ctx.redis, OUTBOUND, "message_id") == [str(message_id)]


async def test_old_message_still_waiting_in_a_backlog_is_left_alone(ctx: SimpleNamespace) -> None:
    # The senders group has not read up to this message's entry yet: it is backlog, not lost.
    message_id = await queued(ctx.pool)
    await ctx.redis.xgroup_create(OUTBOUND, "senders", id="$", mkstream=True)
    await broker.publish_outbound(ctx.redis, [(message_id, NUMBER)])
    await age(ctx.pool, "messages", "published_at", message_id)
    assert (await sweeper.sweep_once(ctx))["queued"] == 0
    # Once the group has read past it and the message is still queued, the entry was lost.
    await ctx.redis.xreadgroup("senders", "c1", {OUTBOUND: ">"})
    assert (await sweeper.sweep_once(ctx))["queued"] == 1


async def test_stale_pending_hub_event_is_republished(ctx: SimpleNamespace) -> None:
    event_id = await pending_event(ctx.pool)
    await age(ctx.pool, "hub_events", "published_at", event_id)
    assert (await sweeper.sweep_once(ctx))["hub_events"] == 1
    assert await sweeper.sweep_once(ctx) == {
        "queued": 0,
        "hub_events": 0,
        "outcome_unknown": 0,
        "expired": 0,
        "requeued": 0,
        "legacy_entries": 0,
    }
    [(_, entry)] = await ctx.redis.xrange(HUB_STREAM)
    assert entry == {"event_id": event_id, "type": "message.received", "message_id": ""}


async def test_message_stuck_sending_ends_failed_with_outcome_unknown(
    ctx: SimpleNamespace,
) -> None:
    """Its Meta call was marked long ago and no answer or status came: the verdict. The one
    marked just now waits; the one never marked is never judged."""
    message_id, just_now = await sending(ctx.pool), await sending(ctx.pool)
    not_started = await sending(ctx.pool)
    for i in (message_id, just_now):
        await mark(ctx.pool, i)
    await age(ctx.pool, "messages", "left_at", message_id)
    assert (await sweeper.sweep_once(ctx))["outcome_unknown"] == 1
    assert (await messages.get(ctx.pool, just_now))["status"] == "sending"
    assert (await messages.get(ctx.pool, not_started))["status"] == "sending"
    row = await messages.get(ctx.pool, message_id)
    assert row["status"] == "failed"
    assert row["error"]["code"] == "outcome_unknown"
    assert row["failed_at"] is not None
    event_id = events.event_id(str(message_id), "failed")
    stored = await ctx.pool.fetchrow("SELECT payload FROM hub_events WHERE id = $1", event_id)
    assert stored["payload"]["data"]["error"]["code"] == "outcome_unknown"
    assert await stream_field(ctx.redis, HUB_STREAM, "event_id") == [event_id]
    assert (await sweeper.sweep_once(ctx))["outcome_unknown"] == 0


async def _fresh_queued(pool: asyncpg.Pool) -> None:
    await queued(pool)


async def _fresh_sending(pool: asyncpg.Pool) -> None:
    await sending(pool)


async def _fresh_pending_event(pool: asyncpg.Pool) -> None:
    await pending_event(pool)


async def _old_but_sent(pool: asyncpg.Pool) -> None:
    message_id = await sending(pool)
    await pool.execute(
        f"UPDATE messages SET status = 'sent', published_at = {AGED}, sending_at = {AGED} "  # noqa: S608
        "WHERE id = $1",
        message_id,
    )


async def _old_but_delivered_event(pool: asyncpg.Pool) -> None:
    event_id = await pending_event(pool)
    await pool.execute(
        f"UPDATE hub_events SET status = 'delivered', published_at = {AGED} WHERE id = $1",  # noqa: S608
        event_id,
    )


@pytest.mark.parametrize(
    "make",
    [_fresh_queued, _fresh_sending, _fresh_pending_event, _old_but_sent, _old_but_delivered_event],
    ids=[
        "fresh-queued-message",
        "fresh-sending-message",
        "fresh-pending-event",
        "old-sent-message",
        "old-delivered-event",
    ],
)
async def test_rows_that_need_no_repair_are_left_alone(ctx: SimpleNamespace, make: Any) -> None:
    await make(ctx.pool)
    before = await ctx.pool.fetch("SELECT * FROM messages ORDER BY id")
    assert await sweeper.sweep_once(ctx) == {
        "queued": 0,
        "hub_events": 0,
        "outcome_unknown": 0,
        "expired": 0,
        "requeued": 0,
        "legacy_entries": 0,
    }
    assert await ctx.pool.fetch("SELECT * FROM messages ORDER BY id") == before
    assert await ctx.redis.xlen(OUTBOUND) == 0
    assert await ctx.redis.xlen(HUB_STREAM) == 0


async def test_a_dead_workers_claims_that_never_left_are_queued_again(ctx, redis) -> None:
    """worker-1 claimed two messages and marked the Meta call of one, then died: the other
    goes back on the stream, its try refunded; the one that may have left waits."""
    left, never = await sending(ctx.pool), await sending(ctx.pool)
    await mark(ctx.pool, left)
    assert (await sweeper.sweep_once(ctx))["requeued"] == 0  # alive: nothing to recover
    await redis.delete(WORKER_KEY.format(worker_id="worker-1"))
    assert (await sweeper.sweep_once(ctx))["requeued"] == 1
    rows = {r["id"]: r for r in await ctx.pool.fetch("SELECT * FROM messages")}
    assert (rows[never]["status"], rows[never]["attempts"], rows[never]["left_at"]) == (
        "queued",
        0,
        None,
    )
    assert (rows[left]["status"], rows[left]["claimed_by"]) == ("sending", "worker-1")
    assert await stream_field(ctx.redis, OUTBOUND, "message_id") == [str(never)]
    assert (await sweeper.sweep_once(ctx))["requeued"] == 0  # once


async def test_an_unmarked_claim_of_a_live_worker_is_queued_again_past_the_bound(ctx) -> None:
    """worker-1 is alive but its claim is older than STREAM_IDLE_TIMEOUT_S and was never
    marked (the claim's reply was lost, say): queued again all the same. A marked one of the
    same age waits for its answer."""
    lost, marked = await sending(ctx.pool), await sending(ctx.pool)
    await mark(ctx.pool, marked)
    for i in (lost, marked):
        await age(ctx.pool, "messages", "sending_at", i)
    assert (await sweeper.sweep_once(ctx))["requeued"] == 1
    assert (await messages.get(ctx.pool, lost))["status"] == "queued"
    assert (await messages.get(ctx.pool, marked))["status"] == "sending"
    assert await stream_field(ctx.redis, OUTBOUND, "message_id") == [str(lost)]


async def test_a_parked_message_past_its_validity_fails_expired(ctx) -> None:
    """Parked (a retry, a pause) past its deadline: it would never be claimed; the sweep
    fails it `expired`, with its Hub event, and never sends it."""
    message_id = await queued(ctx.pool)
    await ctx.pool.execute(
        "UPDATE messages SET next_attempt_at = now() + interval '1 hour',"
        " expires_at = now() - interval '1 second' WHERE id = $1",
        message_id,
    )
    assert (await sweeper.sweep_once(ctx))["expired"] == 1
    row = await messages.get(ctx.pool, message_id)
    assert (row["status"], row["error"]["code"]) == ("failed", "expired")
    assert await stream_field(ctx.redis, HUB_STREAM, "message_id") == [str(message_id)]
    assert (await sweeper.sweep_once(ctx))["expired"] == 0


async def test_entries_left_in_the_unsharded_streams_are_moved_to_shard_0(ctx) -> None:
    """An upgrade with entries waiting in `messaging:webhooks` / `messaging:hub-events` (the
    names before STREAM_SHARDS) and their dead letters: the sweep moves them, fields and all,
    to shard 0's streams, where the consumers and `ops` find them; nothing is left behind."""
    legacy = {
        "messaging:webhooks": ("messaging:webhooks:{w0}", {"body": "{}", "received_at": "1.0"}),
        "messaging:hub-events": ("messaging:hub-events:{h0}", {"event_id": "evt_1", "type": "x"}),
        "messaging:webhooks:dead": ("messaging:webhooks:{w0}:dead", {"body": "{}", "error": "e"}),
    }
    for old, (_, fields) in legacy.items():
        await ctx.redis.xadd(old, fields)
    assert (await sweeper.sweep_once(ctx))["legacy_entries"] == 3
    for old, (new, fields) in legacy.items():
        assert await ctx.redis.xlen(old) == 0
        assert [f for _, f in await ctx.redis.xrange(new)] == [fields]
    assert (await sweeper.sweep_once(ctx))["legacy_entries"] == 0
