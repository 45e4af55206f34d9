"""The webhook processor on real PostgreSQL and Redis: what one batch of Meta's POSTs stores
and queues for the Hub, including the same POST twice in one batch (Meta's retries)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson
import pytest
from redis.asyncio import Redis

from consumers import webhook_processor
from consumers.runner import Entry
from core.names import HUB_STREAM
from db import service_windows
from db.inbound import NewInbound
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


async def test_an_item_postgres_refuses_is_forwarded_as_unparsed_and_its_neighbours_stored(
    ctx, pool: asyncpg.Pool, redis: Redis
) -> None:
    """The net under the parser's cleaning: items written one by one once their batch
    failed; the one that still fails reaches the Hub as `webhook.unparsed`, by its ids."""
    now = datetime.now(UTC)
    bad = NewInbound("wamid.bad", "1065", "4915100000001", "Ana\x00", "text", now, {"id": "x"})
    good = NewInbound("wamid.good", "1065", "4915100000002", "Bo", "text", now, {"id": "y"})
    await webhook_processor._record_one_by_one(ctx, [], [bad, good], [])
    rows = await pool.fetch("SELECT wamid FROM inbound_messages")
    assert [r["wamid"] for r in rows] == ["wamid.good"]
    unparsed = await pool.fetchrow("SELECT payload FROM hub_events WHERE type = 'webhook.unparsed'")
    value = unparsed["payload"]["data"]["value"]
    assert value["item"] == {"kind": "message", "wamid": "wamid.bad"}
    assert value["reason"].startswith("could not be stored: ")
    assert "Ana" not in orjson.dumps(value).decode()  # ids only, never the content
    assert await redis.xlen(HUB_STREAM) == 2


async def test_an_inbound_message_opens_the_contacts_window_on_its_number(ctx, pool) -> None:
    payload = orjson.loads(body("message_text.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    number, sent = value["metadata"]["phone_number_id"], value["messages"][0]
    entry = Entry("1-0", {"body": orjson.dumps(payload).decode()})
    assert await webhook_processor.handle(ctx, [entry]) == {}
    window = await service_windows.get(pool, number, sent["from"])
    assert window.last_inbound_at == datetime.fromtimestamp(int(sent["timestamp"]), UTC)
