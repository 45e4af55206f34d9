"""Marketing consent in the worker, on real PostgreSQL and Redis with Meta played by a
scripted server: Meta's user_preferences webhook and `user_preference_changed` system
message are stored per contact and number (latest by Meta's time; replays change nothing)
and told the Hub as `contact.preferences`; a send Meta fails with 131050, by its answer or
by a status webhook, fails for good and records the stop; MARKETING_MESSAGES_API sends
MARKETING templates to /marketing_messages and keeps Meta's `message_status`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import pytest

from consumers import events, webhook_processor
from consumers.runner import Entry
from db import marketing_preferences, messages
from db.messages import NewMessage
from db.statuses import StatusChange
from tests.consumers.test_sender import row, send
from tests.support.edge import meta_error, worker_context
from tests.support.settings import HUB_STREAM, NUMBER
from tests.whatsapp.test_notifications import FIXTURES

USER, BSUID = "16315558151", "US.13491208655302741918"
STOP_AT = datetime.fromtimestamp(1750272009, UTC)


@pytest.fixture
def worker_env() -> dict[str, str]:
    return {"MARKETING_MESSAGES_API": "true"}


def webhook(value: str = "stop", timestamp: int = 1750272009) -> Entry:
    """The recorded user_preferences webhook (for NUMBER), with its value and time."""
    payload = orjson.loads((FIXTURES / "user_preferences_stop.json").read_bytes())
    change = payload["entry"][0]["changes"][0]["value"]
    change["metadata"]["phone_number_id"] = NUMBER
    change["user_preferences"][0].update(value=value, timestamp=timestamp)
    return Entry(f"{timestamp}-{value}", {"body": orjson.dumps(payload).decode()})


async def hub_types(pool: asyncpg.Pool) -> list[str]:
    return [r["type"] for r in await pool.fetch("SELECT type FROM hub_events ORDER BY type")]


async def preference(pool: asyncpg.Pool, *names: str) -> Any:
    return await marketing_preferences.get(pool, NUMBER, list(names))


async def test_a_stop_is_stored_and_told_the_hub_once(ctx, pool, redis) -> None:
    assert await webhook_processor.handle(ctx, [webhook()]) == {}
    assert await webhook_processor.handle(ctx, [webhook()]) == {}  # Meta's retry: nothing new
    found = await preference(pool, USER)
    assert (found.value, found.at, found.source) == ("stop", STOP_AT, "user_preferences")
    assert await hub_types(pool) == ["contact.preferences", "whatsapp.user_preferences"]
    published = [f["event_id"] for _, f in await redis.xrange(HUB_STREAM)]
    stored = [r["id"] for r in await pool.fetch("SELECT id FROM hub_events")]
    assert sorted(published) == sorted(stored)  # both published at once, not left to the sweeper
    [event] = await pool.fetch("SELECT payload FROM hub_events WHERE type = 'contact.preferences'")
    assert event["payload"]["data"] == {
        "contact": USER,
        "phone_number_id": NUMBER,
        "value": "stop",
        "timestamp": STOP_AT.isoformat(),
        "source": "user_preferences",
    }


async def test_a_resume_lifts_it_and_an_older_stop_changes_nothing(ctx, pool) -> None:
    await webhook_processor.handle(ctx, [webhook("stop", 1750272009)])
    await webhook_processor.handle(ctx, [webhook("resume", 1750272100)])
    await webhook_processor.handle(ctx, [webhook("stop", 1750272050)])  # late, out of order
    assert (await preference(pool, USER)).value == "resume"
    types = await hub_types(pool)
    assert types.count("contact.preferences") == 2  # the stop and the resume, not the late one


async def test_the_system_message_says_the_same(ctx, pool) -> None:
    message = {
        "from": USER,
        "id": "wamid.SYS",
        "timestamp": "1750272009",
        "type": "system",
        "system": {
            "body": "User requested to stop",
            "marketing": "stop",
            "type": "user_preference_changed",
        },
    }
    value = {"metadata": {"phone_number_id": NUMBER}, "messages": [message]}
    payload = {"entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]}
    await webhook_processor.handle(ctx, [Entry("1-0", {"body": orjson.dumps(payload).decode()})])
    found = await preference(pool, USER)
    assert (found.value, found.source) == ("stop", "system_message")
    assert "contact.preferences" in await hub_types(pool)


async def queue(pool: asyncpg.Pool, category: str | None, user_id: str | None = None) -> uuid.UUID:
    template = {"name": "welcome_offer", "language": {"code": "en_US"}}
    payload = {
        "messaging_product": "whatsapp",
        "to": USER,
        "type": "template",
        "template": template,
    }
    new = NewMessage(
        uuid.uuid4(),
        None,
        "0" * 64,
        USER,
        "template",
        payload,
        None,
        NUMBER,
        recipient_user_id=user_id,
        template_category=category,
    )
    await messages.insert(pool, new)
    return new.id


async def test_131050_fails_the_send_for_good_and_records_the_stop(ctx, edge, pool) -> None:
    message_id = await queue(pool, "MARKETING", BSUID)
    edge.answer(USER, meta_error(131050, 503))  # permanent whatever the HTTP status
    await send(ctx, message_id)
    r = await row(pool, message_id)
    assert (r["status"], r["next_attempt_at"], r["error"]["code"]) == ("failed", None, 131050)
    assert "stopped marketing" in r["error"]["reason"]
    for name in (USER, BSUID):  # under each of the user's names
        found = await preference(pool, name)
        assert (found.value, found.source) == ("stop", "131050")
    assert "contact.preferences" in await hub_types(pool)


async def test_131050_by_status_webhook_records_the_stop(ctx, pool) -> None:
    message_id = await queue(pool, "MARKETING")
    error = {"code": 131050, "title": "stopped", "message": "m", "details": "d"}
    failed = StatusChange(message_id, "failed", STOP_AT, "meta", "wamid.F", error=error)
    await events.record(ctx, [failed])
    assert (await preference(pool, USER)).value == "stop"


CATEGORIES = [
    ("MARKETING with the setting: marketing_messages", "MARKETING", "true", "marketing_messages"),
    ("UTILITY with the setting: messages", "UTILITY", "true", "messages"),
    ("unknown category with the setting: messages", None, "true", "messages"),
    ("MARKETING without the setting: messages", "MARKETING", "false", "messages"),
]


@pytest.mark.parametrize(
    ("label", "category", "setting", "endpoint"), CATEGORIES, ids=[c[0] for c in CATEGORIES]
)
async def test_the_endpoint_follows_the_stored_category(
    pool, redis, edge, label, category, setting, endpoint
) -> None:
    answer = {"messages": [{"id": "wamid.M", "message_status": "held_for_quality_assessment"}]}
    edge.answer(USER, (200, answer, {}))
    async with worker_context(pool, redis, edge, MARKETING_MESSAGES_API=setting) as ctx:
        message_id = await queue(pool, category)
        await send(ctx, message_id)
    [call] = edge.calls
    assert call.path == f"/v26.0/{NUMBER}/{endpoint}"
    assert "template_category" not in call.body  # ours, never sent to Meta
    assert (await row(pool, message_id))["status"] == "sent"
    details = await pool.fetchval(
        "SELECT details FROM message_statuses WHERE message_id = $1 AND status = 'sent'", message_id
    )
    assert details == {"message_status": "held_for_quality_assessment"}  # Meta's answer, kept
