"""The webhook processor on real PostgreSQL and Redis: what one batch of Meta's POSTs stores
and queues for the Hub, including the same POST twice in one batch (Meta's retries)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import orjson
import pytest
from redis.asyncio import Redis

from consumers import webhook_processor
from consumers.runner import Entry
from core.names import HUB_STREAM
from tests.whatsapp.test_notifications import FIXTURES


def body(fixture: str) -> str:
    return (FIXTURES / fixture).read_text()


def mixed_post() -> str:
    """One POST with an inbound message, a template update and an unreadable status."""
    payload = orjson.loads(body("message_order.json"))
    other = orjson.loads(body("template_quality_update.json"))
    payload["entry"].append(other["entry"][0])
    payload["entry"][0]["changes"][0]["value"]["statuses"] = [{"status": "read"}]
    return orjson.dumps(payload).decode()


@dataclass(frozen=True)
class Case:
    label: str
    bodies: list[str]
    inbound: int  # rows in inbound_messages
    changes: list[str]  # fields in webhook_changes
    events: list[str]  # Hub event types queued, one stream entry each
    malformed: int = 0


CASES = [
    Case(
        "the same inbound message twice in one batch: one row, one event",
        [body("message_contacts.json")] * 2,
        1,
        [],
        ["message.received"],
    ),
    Case(
        "the same template update twice in one batch: one row, one event",
        [body("template_status_rejected.json")] * 2,
        0,
        ["message_template_status_update"],
        ["whatsapp.message_template_status_update"],
    ),
    Case(
        "message, other field and an unreadable status in one POST, plus a malformed POST",
        [mixed_post(), "not json"],
        1,
        ["invalid_status", "message_template_quality_update"],
        ["message.received", "webhook.unparsed", "whatsapp.message_template_quality_update"],
        malformed=1,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
async def test_batch_is_stored_and_queued_once(
    ctx, pool: asyncpg.Pool, redis: Redis, case: Case
) -> None:
    entries = [Entry(f"1-{i}", {"body": b}) for i, b in enumerate(case.bodies)]

    malformed = await webhook_processor.handle(ctx, entries)
    again = await webhook_processor.handle(ctx, entries)  # a replay of the whole batch adds nothing

    assert len(malformed) == len(again) == case.malformed
    assert await pool.fetchval("SELECT count(*) FROM inbound_messages") == case.inbound
    fields = await pool.fetch("SELECT field FROM webhook_changes ORDER BY field")
    assert [r["field"] for r in fields] == case.changes
    types = await pool.fetch("SELECT type FROM hub_events ORDER BY type")
    assert [r["type"] for r in types] == case.events
    stream = await redis.xrange(HUB_STREAM)
    assert sorted(fields["type"] for _, fields in stream) == case.events
