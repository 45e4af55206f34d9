"""consumers.events on real PostgreSQL and Redis: the group commit makes each event once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
from redis.asyncio import Redis

from consumers import events
from db import messages
from db.hub_events import event_id
from db.inbound import NewInbound
from db.statuses import StatusChange
from tests.db.test_statuses import new_message
from tests.support.settings import HUB_STREAM


async def test_concurrent_batches_about_the_same_messages_make_each_event_once(
    ctx, pool: asyncpg.Pool, redis: Redis
) -> None:
    ids = []
    for _ in range(3):
        m = new_message()
        await messages.insert(pool, m)
        ids.append(m.id)
    now = datetime.now(UTC)
    wamid = f"wamid.in.{uuid.uuid4().hex}"
    hello = NewInbound(wamid, "1065", "4915100000009", None, "text", now, {"id": wamid})
    batches = [
        [StatusChange(i, s, now, "meta", wamid=f"wamid.{i}") for i in ids]
        for s in ("sent", "delivered", "read", "delivered", "sent")
    ]
    made = await asyncio.gather(
        *(events.record(ctx, b, [hello]) for b in batches),
        events.record(ctx, received=[hello]),
    )
    got = [e.id for batch in made for e in batch]
    expected = {event_id(str(i), s) for i in ids for s in ("sent", "delivered", "read")}
    assert sorted(got) == sorted(expected | {event_id("inbound", wamid)})
    assert made[3] == made[4] == made[5] == []  # repeats: nothing new
    assert sorted(f["event_id"] for _, f in await redis.xrange(HUB_STREAM)) == sorted(got)
    rows = await pool.fetch("SELECT status FROM messages WHERE id = ANY($1)", ids)
    assert {r["status"] for r in rows} == {"read"}
