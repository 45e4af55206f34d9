"""Sending by business-scoped user id (BSUID) through the whole loop, with real processes: the
API takes `recipient`, the worker writes it to Meta (the simulator), Meta's statuses name the
user by BSUID alone, and the status API and every Hub event name the recipient's ids. An
AUTHENTICATION template to a BSUID fails with Meta's 131062 after one call (the session's
stack has no template catalog, so nothing refuses it at the door)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import Stack, new_recipient
from tests.e2e.test_loop import eventually, hub_events, meta_calls, send, until_status

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def client(stack: Stack) -> httpx.AsyncClient:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


def new_user_id() -> str:
    """A unique BSUID per test, so simulator calls never mix."""
    return "US." + str(uuid.uuid4().int)[:20]


def text(**whom: str) -> dict[str, Any]:
    return {**whom, "type": "text", "text": {"body": "Your order #42 has shipped"}}


async def events_of(client: httpx.AsyncClient, stack: Stack, message_id: str, count: int) -> list:
    async def probe() -> list[dict] | None:
        events = await hub_events(client, stack, message_id=message_id)
        return events if len(events) >= count else None

    return [e["event"] for e in await eventually(probe)]


async def test_a_send_by_bsuid_alone_is_delivered_and_the_hub_hears_the_bsuid(client, stack):
    user_id = new_user_id()
    r = await send(client, stack, text(recipient=user_id))
    assert r.status_code == 202, r.text
    assert (r.json()["recipient"], r.json()["recipient_user_id"]) == (None, user_id)

    final = await until_status(client, stack, r.json()["id"], "read")
    assert final["delivered_at"] and final["wamid"].startswith("wamid.")
    assert (final["recipient"], final["recipient_user_id"]) == (None, user_id)

    [call] = await meta_calls(client, stack, user_id)
    assert call["body"]["recipient"] == user_id and "to" not in call["body"]

    events = await events_of(client, stack, r.json()["id"], 3)
    assert sorted(e["data"]["status"] for e in events) == ["delivered", "read", "sent"]
    for e in events:
        assert (e["data"]["recipient"], e["data"]["recipient_user_id"]) == (None, user_id)
    stats = (await client.get(f"{stack.sink}/_sink/stats")).json()
    assert stats["rejected"] == 0  # every event verified against its model at the sink


async def test_a_send_to_phone_and_bsuid_goes_to_the_phone_and_names_both(client, stack):
    to, user_id = new_recipient(), new_user_id()
    r = await send(client, stack, text(to="+" + to, recipient=user_id))
    assert r.status_code == 202, r.text
    final = await until_status(client, stack, r.json()["id"], "read")
    assert (final["recipient"], final["recipient_user_id"]) == (to, user_id)

    [call] = await meta_calls(client, stack, to)
    assert (call["body"]["to"], call["body"]["recipient"]) == (to, user_id)

    for e in await events_of(client, stack, r.json()["id"], 3):
        assert (e["data"]["recipient"], e["data"]["recipient_user_id"]) == (to, user_id)


async def test_an_authentication_template_to_a_bsuid_fails_with_131062_once(client, stack):
    user_id = new_user_id()
    template = {
        "name": "verification_code",
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "123456"}]}],
    }
    r = await send(client, stack, {"recipient": user_id, "type": "template", "template": template})
    assert r.status_code == 202, r.text

    final = await until_status(client, stack, r.json()["id"], "failed")
    assert final["error"]["code"] == 131062 and final["attempts"] == 1
    assert [c["status_code"] for c in await meta_calls(client, stack, user_id)] == [400]

    [event] = await events_of(client, stack, r.json()["id"], 1)
    assert event["data"]["status"] == "failed" and event["data"]["error"]["code"] == 131062
    assert (event["data"]["recipient"], event["data"]["recipient_user_id"]) == (None, user_id)
