"""The webhook processor on real PostgreSQL and Redis: what one batch of Meta's POSTs stores
and queues for the Hub, including the same POST twice in one batch (Meta's retries), and
bodies it cannot use, which reach the Hub too."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson
import pytest
from redis.asyncio import Redis

from consumers import webhook_processor
from consumers.runner import Entry, Runner
from core.names import dead_letter_stream
from db import service_windows
from db.inbound import NewInbound
from tests.support.settings import HUB_STREAM, WEBHOOKS_STREAM
from tests.whatsapp.test_notifications import FIXTURES
from tests.whatsapp.test_unusable_bodies import BODIES, ITEMS


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
        "message, other field and an unreadable status in one POST, plus a POST not JSON",
        [mixed_post(), "not json"],
        1,
        ["invalid_body", "invalid_status", "message_template_quality_update"],
        [
            "message.received",
            "webhook.unparsed",
            "webhook.unparsed",
            "whatsapp.message_template_quality_update",
        ],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
async def test_batch_is_stored_and_queued_once(
    ctx, pool: asyncpg.Pool, redis: Redis, case: Case
) -> None:
    entries = [Entry(f"1-{i}", {"body": b}) for i, b in enumerate(case.bodies)]

    assert await webhook_processor.handle(ctx, entries) == {}  # nothing to dead-letter
    assert await webhook_processor.handle(ctx, entries) == {}  # a replay adds nothing

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


UNUSABLE = [(label, body, []) for label, body, _ in BODIES]
UNUSABLE += [(i.label, i.body, ["wamid.B"] if i.field == "invalid_message" else []) for i in ITEMS]


@pytest.mark.parametrize(("label", "body", "alone"), UNUSABLE, ids=[u[0] for u in UNUSABLE])
async def test_an_unusable_body_or_item_reaches_the_hub_as_unparsed(
    ctx, pool: asyncpg.Pool, redis: Redis, label: str, body: bytes, alone: list[str]
) -> None:
    """Nothing to dead-letter: the body, or the item of it that cannot be held, becomes one
    `webhook.unparsed` with its reason; the messages around it are stored as usual."""
    entry = Entry("1-0", {"body": body.decode("utf-8", "surrogateescape")})  # as Redis gives it

    assert await webhook_processor.handle(ctx, [entry]) == {}
    assert await webhook_processor.handle(ctx, [entry]) == {}  # Meta's retry adds nothing

    [unparsed] = await pool.fetch("SELECT payload FROM hub_events WHERE type = 'webhook.unparsed'")
    assert unparsed["payload"]["data"]["value"]["reason"]
    rows = await pool.fetch("SELECT wamid FROM inbound_messages ORDER BY wamid")
    expected = [] if label in {b[0] for b in BODIES} else alone or ["wamid.A", "wamid.B"]
    assert [r["wamid"] for r in rows] == expected
    types = sorted(fields["type"] for _, fields in await redis.xrange(HUB_STREAM))
    assert types == sorted(["webhook.unparsed"] + ["message.received"] * len(expected))


async def test_a_body_nested_100000_deep_is_forwarded_never_dead_lettered(
    ctx, pool: asyncpg.Pool, redis: Redis
) -> None:
    """Through the real stream runner: the entry is acknowledged, its stream and dead-letter
    stream are empty, and the Hub has its `webhook.unparsed`."""
    runner = Runner(webhook_processor.consumers()[0], ctx, "deep", asyncio.Event(), block_ms=20)
    runner.idle_timeout_s, runner.max_deliveries = 0.1, 1  # a failure would be dead at once
    await runner.ensure_group()
    await redis.xadd(WEBHOOKS_STREAM, {"body": "[" * 100_000 + "]" * 100_000})
    task = asyncio.create_task(runner.run())
    try:
        for _ in range(250):
            if not await redis.xlen(WEBHOOKS_STREAM):
                break
            await asyncio.sleep(0.02)
    finally:
        runner.stop.set()
        await asyncio.wait_for(task, 5)
    assert await redis.xlen(WEBHOOKS_STREAM) == 0
    assert await redis.xlen(dead_letter_stream(WEBHOOKS_STREAM)) == 0
    types = await pool.fetch("SELECT type FROM hub_events")
    assert [r["type"] for r in types] == ["webhook.unparsed"]
