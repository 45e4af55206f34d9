"""Every inbound type, status details and other webhook fields, end to end: a recorded
fixture goes through the simulator (signed, as Meta sends it) into the real web and worker
processes and must reach the Hub sink, verified, with the shape docs/events.md documents
(the same expectations as the parser table in tests/whatsapp/test_notifications.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from simulator.meta_webhooks import sign
from tests.conftest import Stack, new_recipient
from tests.e2e.test_loop import (
    client,
    eventually,
    hub_events,
    scenario,
    send,
    status_of,
    text_message,
)
from tests.whatsapp.test_notifications import FIXTURES, HUB_CASES, HubCase

__all__ = ["client"]  # the shared fixture: pytest finds it in this module by name

pytestmark = pytest.mark.timeout(90)


async def post_fixture(client: httpx.AsyncClient, stack: Stack, payload: dict) -> None:
    r = await client.post(f"{stack.sim}/_sim/inbound", json={"raw": payload})
    assert r.status_code == 200, r.text


async def event_like(
    client: httpx.AsyncClient, stack: Stack, type_: str, data: dict[str, Any]
) -> list[dict]:
    """Sink events of `type_` whose data is `data` (message.received found by its wamid)."""
    filters = {"wamid": data["wamid"]} if type_ == "message.received" else {"type": type_}
    events = await hub_events(client, stack, **filters)
    return [e for e in events if e["event"]["type"] == type_ and e["event"]["data"] == data]


@pytest.mark.parametrize("case", HUB_CASES, ids=[c.label for c in HUB_CASES])
async def test_inbound_fixture_reaches_the_hub(client, stack, case: HubCase) -> None:
    await post_fixture(client, stack, orjson.loads((FIXTURES / case.fixture).read_bytes()))
    for type_, data in case.events:
        [event] = await eventually(lambda t=type_, d=data: event_like(client, stack, t, d))
        assert event["webhook_id"] == event["event"]["id"]


async def test_replayed_change_reaches_the_hub_once_a_new_one_again(client, stack) -> None:
    payload = orjson.loads((FIXTURES / "template_status_rejected.json").read_bytes())
    payload["entry"][0]["changes"][0]["value"]["message_template_name"] = "replayed_template"
    for _ in range(2):  # Meta re-delivers when it did not see our 200 in time
        await post_fixture(client, stack, payload)
    payload["entry"][0]["time"] += 60  # the same update again, later: a new event
    await post_fixture(client, stack, payload)

    async def events_of_template() -> list[dict]:
        events = await hub_events(client, stack, type="whatsapp.message_template_status_update")
        return [
            e
            for e in events
            if e["event"]["data"]["value"]["message_template_name"] == "replayed_template"
        ]

    await eventually(lambda: _at_least(events_of_template, 2))
    await asyncio.sleep(1)
    events = await events_of_template()
    assert len(events) == 2
    assert len({e["event"]["id"] for e in events}) == 2


async def _at_least(probe: Any, n: int) -> list[dict] | None:
    found = await probe()
    return found if len(found) >= n else None


async def test_status_events_carry_pricing_conversation_and_meta_errors(client, stack) -> None:
    to = new_recipient()
    failed = {"status": "failed", "code": 131049, "title": "Healthy ecosystem engagement"}
    await scenario(client, stack, to=to, statuses=["sent", "delivered", failed])
    r = await send(client, stack, text_message(to))
    assert r.status_code == 202, r.text
    message_id = r.json()["id"]

    async def three_events() -> dict[str, dict] | None:
        events = await hub_events(client, stack, message_id=message_id)
        by_status = {e["event"]["data"]["status"]: e["event"]["data"] for e in events}
        return by_status if len(by_status) == 3 else None

    events = await eventually(three_events)
    # `sent` is recorded from Meta's answer to the send call, before its webhook arrives.
    delivered = events["delivered"]
    assert delivered["pricing"] == {  # a free-form message: Meta does not charge it
        "billable": False,
        "pricing_model": "PMP",
        "type": "free_customer_service",
        "category": "service",
    }
    assert delivered["conversation"]["origin"] == {"type": "utility"}
    assert delivered["errors"] is None and delivered["error"] is None
    failure = events["failed"]
    assert failure["errors"] == [
        {
            "code": 131049,
            "title": "Healthy ecosystem engagement",
            "message": "Healthy ecosystem engagement",
            "error_data": {"details": "Message Undeliverable."},
        }
    ]
    assert failure["error"]["code"] == 131049

    timeline = {t["status"]: t for t in (await status_of(client, stack, message_id))["timeline"]}
    assert timeline["delivered"]["details"]["pricing"] == delivered["pricing"]
    assert timeline["failed"]["details"]["errors"] == failure["errors"]


# label, how the first message's text is spelled in the raw POST, how the Hub receives it
UNSTORABLE = [
    ("a NUL", "before\\u0000after", "before\ufffdafter"),
    ("a lone surrogate", "\\ud83d and more", "\ufffd and more"),
    ("raw surrogate bytes", "\udced\udca0\udcbd!", "\ufffd\ufffd\ufffd!"),
]
_POST = (
    '{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field":'
    ' "messages", "value": {"messaging_product": "whatsapp", "metadata":'
    ' {"phone_number_id": "NUMBER"}, "contacts": [{"profile": {"name": "Ana\\u0000"},'
    ' "wa_id": "SENDER"}], "messages": [MESSAGES]}}]}]}'
)
_MESSAGE = (
    '{"from": "SENDER", "id": "WAMID", "timestamp": "1732528800", "type": "text",'
    ' "text": {"body": "TEXT"}}'
)


@pytest.mark.parametrize(
    ("label", "spelled", "received"), UNSTORABLE, ids=[u[0] for u in UNSTORABLE]
)
async def test_text_postgres_cannot_hold_does_not_sink_its_neighbour(
    client, stack, label, spelled, received
) -> None:
    """A signed POST with a good text and one PostgreSQL or JSON could not store as written
    (and a NUL in the sender's name): both reach the Hub, the odd text cleaned."""
    odd, good = (f"wamid.{which}{new_recipient()}" for which in ("odd", "good"))
    messages = ", ".join(
        _MESSAGE.replace("WAMID", w).replace("TEXT", t) for w, t in ((odd, spelled), (good, "hi"))
    )
    post = _POST.replace("MESSAGES", messages).replace("SENDER", new_recipient())
    post = post.replace("NUMBER", stack.env["WHATSAPP_PHONE_NUMBER_ID"])
    body = post.encode("utf-8", "surrogateescape")
    signature = sign(stack.env["WHATSAPP_APP_SECRET"], body)
    r = await client.post(
        f"{stack.api}/webhooks/whatsapp/", content=body, headers={"X-Hub-Signature-256": signature}
    )
    assert r.status_code == 200, r.text
    for wamid, text in ((odd, received), (good, "hi")):
        [event] = await eventually(lambda w=wamid: hub_events(client, stack, wamid=w))
        data = event["event"]["data"]
        assert (data["text"], data["profile_name"]) == ({"body": text}, "Ana\ufffd")
