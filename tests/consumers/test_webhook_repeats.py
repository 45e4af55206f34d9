"""Batches that name one contact or one recipient many times, through the webhook processor
on real PostgreSQL and Redis: still one transaction for the whole batch (every Hub event it
queues has the same `created_at`, PostgreSQL's `now()` of that transaction), never item by
item, and about as fast as a batch of as many different contacts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson
import pytest

from consumers import webhook_processor
from consumers.runner import Entry
from db import messages, service_windows
from tests.db.test_statuses import new_message
from tests.support.settings import NUMBER
from tests.whatsapp.test_notifications import FIXTURES

POSTS, ITEMS = 20, 31  # a full batch of the processor (20 entries) of 31 items each
T0 = 1_765_000_000  # unix seconds


def envelope(value: dict) -> str:
    """Meta's POST around one `messages` change of our number (from the recorded fixture)."""
    payload = orjson.loads((FIXTURES / "message_text.json").read_bytes())
    change = payload["entry"][0]["changes"][0]
    change["value"] = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": NUMBER}}
    change["value"].update(value)
    return orjson.dumps(payload).decode()


def inbound_batch(contact: Callable[[int, int], str], run: str) -> list[Entry]:
    """POSTS entries of ITEMS text messages each, item i of POST p from `contact(p, i)`."""
    entries = []
    for p in range(POSTS):
        senders = [contact(p, i) for i in range(ITEMS)]
        value = {
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": s} for s in dict.fromkeys(senders)],
            "messages": [
                {
                    "from": s,
                    "id": f"wamid.{run}.{p}.{i}",
                    "timestamp": str(sent_at(p, i)),
                    "type": "text",
                    "text": {"body": "hello"},
                }
                for i, s in enumerate(senders)
            ],
        }
        entries.append(Entry(f"1-{p}", {"body": envelope(value)}))
    return entries


def sent_at(post: int, item: int) -> int:
    return T0 + post * ITEMS + item


def failed_131047(wamid: str, recipient: str, at: int, callback: uuid.UUID) -> dict:
    return {
        "id": wamid,
        "status": "failed",
        "timestamp": str(at),
        "recipient_id": recipient,
        "biz_opaque_callback_data": str(callback),
        "errors": [{"code": 131047, "title": "Re-engagement message", "message": "24 h passed"}],
    }


async def queued_in_one_transaction(pool: asyncpg.Pool) -> bool:
    return await pool.fetchval("SELECT count(DISTINCT created_at) = 1 FROM hub_events")


def one(post: int, item: int) -> str:
    return "4915100000001"


def many(post: int, item: int) -> str:
    return f"4915{post:03d}{item:05d}"


@dataclass(frozen=True)
class Case:
    label: str
    contact: Callable[[int, int], str]


CASES = [
    Case("one contact writing 31 times in each of 20 POSTs", one),
    Case("31 contacts in each of 20 POSTs, 620 in all", many),
]


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
async def test_a_batch_of_inbound_messages_is_one_transaction(ctx, pool, case: Case) -> None:
    assert await webhook_processor.handle(ctx, inbound_batch(case.contact, "a")) == {}

    assert await pool.fetchval("SELECT count(*) FROM inbound_messages") == POSTS * ITEMS
    assert await pool.fetchval("SELECT count(*) FROM hub_events") == POSTS * ITEMS
    assert await queued_in_one_transaction(pool)
    latest: dict[str, int] = {}  # each window is opened by its contact's latest message
    for p in range(POSTS):
        for i in range(ITEMS):
            latest[case.contact(p, i)] = max(latest.get(case.contact(p, i), 0), sent_at(p, i))
    windows = await pool.fetch("SELECT wa_id, last_inbound_at FROM service_windows")
    assert {r["wa_id"]: r["last_inbound_at"] for r in windows} == {
        c: datetime.fromtimestamp(at, UTC) for c, at in latest.items()
    }


async def test_two_131047_failures_to_one_recipient_close_its_window_in_one_transaction(
    ctx, pool
) -> None:
    sent = [new_message(), new_message()]  # both to the same recipient
    for i, m in enumerate(sent):
        await messages.insert(pool, m)
        await pool.execute(
            "UPDATE messages SET status = 'sent', wamid = $2 WHERE id = $1", m.id, f"wamid.w{i}"
        )
    recipient = sent[0].recipient
    statuses = [failed_131047(f"wamid.w{i}", recipient, T0 + i, m.id) for i, m in enumerate(sent)]
    entries = [
        Entry("1-0", {"body": envelope({"statuses": statuses})}),  # both in one POST
        Entry("1-1", {"body": envelope({"statuses": statuses[::-1]})}),  # and Meta's retry
    ]
    assert await webhook_processor.handle(ctx, entries) == {}

    rows = await pool.fetch("SELECT status FROM messages")
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert await pool.fetchval("SELECT count(*) FROM hub_events") == 2
    assert await queued_in_one_transaction(pool)
    window = await service_windows.get(pool, NUMBER, recipient)
    assert window.closed_at == datetime.fromtimestamp(T0 + 1, UTC)  # the latest closing


@pytest.mark.slow
async def test_one_contact_many_times_costs_no_more_than_as_many_contacts(ctx, pool) -> None:
    """The whole batch through the processor, best of five runs each (new wamids each run):
    one contact within 1.5x of 620 (written item by item, it took ~20x as long)."""

    async def best_of_five(contact: Callable[[int, int], str], label: str) -> float:
        best = float("inf")
        for run in range(5):
            entries = inbound_batch(contact, f"{label}{run}")
            started = time.perf_counter()
            assert await webhook_processor.handle(ctx, entries) == {}
            best = min(best, time.perf_counter() - started)
        return best

    await best_of_five(many, "warm")  # prepared statements, pool connections
    alone, apart = await best_of_five(one, "one"), await best_of_five(many, "many")
    print(f"\n{POSTS} POSTs x {ITEMS}: one contact {alone * 1000:.0f} ms, ", end="")
    print(f"{POSTS * ITEMS} contacts {apart * 1000:.0f} ms")
    assert alone <= 1.5 * apart
