"""A username user through the webhook processor, on real PostgreSQL and Redis: their
BSUID-only message is stored and forwarded with `from: null`, opens their window, and a
message sent to their BSUID takes its statuses (no `recipient_id`); what later webhooks
reveal (their number, a parent BSUID) joins the same person, and an id change moves them."""

from __future__ import annotations

import uuid
from dataclasses import replace

import asyncpg
import orjson

from consumers import webhook_processor
from consumers.runner import Entry
from db import contacts, messages, service_windows
from tests.db.test_statuses import new_message
from tests.whatsapp.test_user_ids import FIXTURES, PARENT, PHONE, USER, USER2

PNID = "106540352242922"
READ = "status_read_bsuid_only.json"


async def process(ctx, fixture: str) -> None:
    entry = Entry("1-0", {"body": (FIXTURES / fixture).read_text()})
    assert await webhook_processor.handle(ctx, [entry]) == {}


async def hub_events(pool: asyncpg.Pool) -> list[dict]:
    """The events queued for the Hub since the last call (marked by a test-only `seen`)."""
    rows = await pool.fetch(
        "UPDATE hub_events SET payload = payload || '{\"seen\": true}'"
        " WHERE NOT payload ? 'seen' RETURNING payload"
    )
    return [r["payload"] for r in rows]


async def test_a_username_user_is_a_person(ctx, pool: asyncpg.Pool) -> None:
    await process(ctx, "message_text_bsuid_only.json")
    row = await pool.fetchrow("SELECT sender, sender_user_id, username FROM inbound_messages")
    assert tuple(row) == (None, USER, "@sheena")
    [event] = await hub_events(pool)
    assert event["type"] == "message.received"
    assert (event["data"]["from"], event["data"]["user_id"]) == (None, USER)
    assert (await service_windows.get(pool, PNID, USER)).last_inbound_at is not None

    # A reply by BSUID (stored under it): Meta's read status names no recipient_id.
    status = orjson.loads((FIXTURES / READ).read_bytes())["entry"][0]["changes"][0]["value"]
    wamid, ours = status["statuses"][0]["id"], status["statuses"][0]["biz_opaque_callback_data"]
    sent = replace(new_message(), id=uuid.UUID(ours), recipient=USER, phone_number_id=PNID)
    await messages.insert(pool, sent)
    await pool.execute("UPDATE messages SET wamid = $2 WHERE id = $1", sent.id, wamid)
    await process(ctx, READ)
    assert (await messages.get(pool, sent.id))["status"] == "read"
    [event] = await hub_events(pool)
    assert event["type"] == "message.status"
    assert event["data"]["contact"] == {
        "wa_id": None,
        "user_id": USER,
        "parent_user_id": PARENT,
        "username": "@sheena",
    }

    # They write with their number too: one person, whose window any id answers for.
    await process(ctx, "message_text_phone_and_bsuid.json")
    person = await contacts.get(pool, PNID, PHONE)
    assert person is not None
    assert (person.phone, person.user_id, person.parent_user_id, person.username) == (
        PHONE,
        USER,
        PARENT,
        "@sheena",
    )
    by_phone = await service_windows.get(pool, PNID, PHONE)
    assert (
        by_phone.last_inbound_at == (await service_windows.get(pool, PNID, PARENT)).last_inbound_at
    )

    # Their BSUID changes: the person moves to the new id, the Hub is told.
    await hub_events(pool)
    await process(ctx, "message_system_user_id_change.json")
    [event] = await hub_events(pool)
    assert event["type"] == "contact.user_id_changed"
    assert event["data"]["current"]["user_id"] == USER2
    moved = await contacts.get(pool, PNID, USER2)
    assert moved is not None and (moved.id, moved.phone) == (person.id, PHONE)
    assert await pool.fetchval("SELECT count(*) FROM inbound_messages WHERE type = 'system'") == 0

    await process(ctx, "message_system_user_id_change.json")  # Meta's retry: nothing new
    assert await hub_events(pool) == []
