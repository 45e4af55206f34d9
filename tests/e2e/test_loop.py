"""The whole loop over real HTTP and real processes: Hub -> API -> Redis -> Meta -> webhooks
-> PostgreSQL -> Hub. Meta is the simulator, the Hub is the sink (it verifies every event
with `standardwebhooks` and rejects what does not verify)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import Stack, new_recipient

pytestmark = pytest.mark.timeout(90)


async def eventually(probe: Callable[[], Awaitable[Any]], timeout_s: float = 20) -> Any:
    """Poll until `probe()` returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout_s}s; last: {result!r}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def client(stack: Stack) -> httpx.AsyncClient:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


async def send(
    client: httpx.AsyncClient, stack: Stack, body: dict, **headers: str
) -> httpx.Response:
    return await client.post(
        f"{stack.api}/api/v1/messages/send/",
        content=orjson.dumps(body),
        headers=stack.headers(**headers),
    )


async def status_of(client: httpx.AsyncClient, stack: Stack, message_id: str) -> dict:
    r = await client.get(
        f"{stack.api}/api/v1/messages/status/{message_id}/", headers=stack.headers()
    )
    assert r.status_code == 200, r.text
    return r.json()


async def until_status(
    client: httpx.AsyncClient, stack: Stack, message_id: str, status: str
) -> dict:
    async def probe() -> dict | None:
        body = await status_of(client, stack, message_id)
        return body if body["status"] == status else None

    return await eventually(probe)


async def hub_events(client: httpx.AsyncClient, stack: Stack, **filters: str) -> list[dict]:
    r = await client.get(f"{stack.sink}/_sink/events", params=filters)
    return r.json()["events"]


async def meta_calls(client: httpx.AsyncClient, stack: Stack, to: str) -> list[dict]:
    return (await client.get(f"{stack.sim}/_sim/messages", params={"to": to})).json()["messages"]


async def scenario(client: httpx.AsyncClient, stack: Stack, **body: Any) -> None:
    r = await client.post(f"{stack.sim}/_sim/scenarios", json=body)
    assert r.status_code < 300, r.text


def text_message(to: str, body: str = "Your order #42 has shipped", **extra: Any) -> dict:
    return {"to": "+" + to, "type": "text", "text": {"body": body}, **extra}


TEMPLATE = {
    "name": "order_update",
    "language": {"code": "en_US"},
    "components": [{"type": "body", "parameters": [{"type": "text", "text": "42"}]}],
}


@pytest.mark.parametrize("kind", ["text", "template"])
async def test_message_reaches_read_and_hub_hears_every_status(client, stack, kind):
    to = new_recipient()
    body = (
        text_message(to, metadata={"order_id": 42})
        if kind == "text"
        else {"to": to, "type": "template", "template": TEMPLATE, "metadata": {"order_id": 42}}
    )
    r = await send(client, stack, body)
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["status"] == "queued"
    assert r.headers["Location"] == f"/api/v1/messages/status/{accepted['id']}/"

    # Statuses are applied as they come, by several batches at once: `read` can land a few
    # milliseconds before `delivered`, or before the sender stores Meta's answer.
    stamps = ("created_at", "sending_at", "sent_at", "delivered_at", "read_at")

    async def settled() -> dict | None:
        body = await status_of(client, stack, accepted["id"])
        return body if body["status"] == "read" and all(body[k] for k in stamps) else None

    final = await eventually(settled)
    assert final["wamid"].startswith("wamid.")
    assert final["recipient"] == to
    assert [t["status"] for t in final["timeline"]][:2] == ["queued", "sending"]
    assert {"sent", "delivered", "read"} <= {t["status"] for t in final["timeline"]}

    calls = await meta_calls(client, stack, to)
    assert len(calls) == 1
    sent = calls[0]["body"]
    assert sent["biz_opaque_callback_data"] == accepted["id"]
    assert sent["type"] == kind and "metadata" not in sent

    async def three_events() -> list[dict] | None:
        events = await hub_events(client, stack, message_id=accepted["id"])
        return events if len(events) == 3 else None

    events = await eventually(three_events)
    assert sorted(e["event"]["data"]["status"] for e in events) == ["delivered", "read", "sent"]
    for e in events:
        assert e["event"]["type"] == "message.status"
        assert e["event"]["data"]["metadata"] == {"order_id": 42}
        assert e["event"]["data"]["wamid"] == final["wamid"]
        assert e["webhook_id"] == e["event"]["id"]
    stats = (await client.get(f"{stack.sink}/_sink/stats")).json()
    assert stats["rejected"] == 0


async def test_inbound_message_reaches_the_hub(client, stack):
    sender = new_recipient()
    r = await client.post(
        f"{stack.sim}/_sim/inbound",
        json={"from": sender, "name": "Alice", "text": "Where is my order?"},
    )
    assert r.status_code == 200, r.text
    wamid = r.json()["wamid"]

    events = await eventually(lambda: hub_events(client, stack, wamid=wamid))
    assert len(events) == 1
    data = events[0]["event"]["data"]
    assert events[0]["event"]["type"] == "message.received"
    assert data["from"] == sender and data["profile_name"] == "Alice"
    assert data["type"] == "text" and data["text"] == {"body": "Where is my order?"}


async def test_permanent_meta_error_fails_with_one_call(client, stack):
    to = new_recipient()
    await scenario(
        client,
        stack,
        to=to,
        responses=[
            {
                "status": 400,
                "code": 131026,
                "title": "Message undeliverable",
                "details": "recipient is not on WhatsApp",
            },
        ],
    )
    r = await send(client, stack, text_message(to))
    message_id = r.json()["id"]
    final = await until_status(client, stack, message_id, "failed")
    assert final["error"]["code"] == 131026
    assert final["error"]["details"] == "recipient is not on WhatsApp"
    assert final["failed_at"]
    assert len(await meta_calls(client, stack, to)) == 1

    events = await eventually(lambda: hub_events(client, stack, message_id=message_id))
    assert [e["event"]["data"]["status"] for e in events] == ["failed"]
    assert events[0]["event"]["data"]["error"]["code"] == 131026


async def test_server_errors_are_retried_without_duplicate(client, stack):
    to = new_recipient()
    await scenario(client, stack, to=to, responses=[{"status": 500}, {"status": 500}])
    r = await send(client, stack, text_message(to))
    final = await until_status(client, stack, r.json()["id"], "read")
    calls = await meta_calls(client, stack, to)
    assert [c["status_code"] for c in calls] == [500, 500, 200]
    assert final["attempts"] == 3  # one per Meta call; each retry was parked in between
    assert (await client.get(f"{stack.sim}/_sim/stats")).json()["duplicates"] == 0


async def test_idempotency_key_sends_once_and_conflicts_on_other_body(client, stack):
    to = new_recipient()
    key = f"order-42-shipped-{uuid.uuid4()}"
    first = await send(client, stack, text_message(to), **{"Idempotency-Key": key})
    again = await send(client, stack, text_message(to), **{"Idempotency-Key": key})
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"

    other = await send(client, stack, text_message(to, "different"), **{"Idempotency-Key": key})
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "conflict"

    await until_status(client, stack, first.json()["id"], "read")
    assert len(await meta_calls(client, stack, to)) == 1


async def test_out_of_order_and_duplicate_statuses_never_go_backwards(client, stack):
    to = new_recipient()
    await scenario(
        client, stack, to=to, statuses=["read", "delivered", "sent"], duplicate_webhooks=True
    )
    r = await send(client, stack, text_message(to))
    message_id = r.json()["id"]

    async def three_events() -> list[dict] | None:
        events = await hub_events(client, stack, message_id=message_id)
        return events if len(events) >= 3 else None

    await eventually(three_events)
    await asyncio.sleep(0.5)  # let the duplicates arrive too
    final = await status_of(client, stack, message_id)
    assert final["status"] == "read"
    assert final["delivered_at"] and final["read_at"]
    events = await hub_events(client, stack, message_id=message_id)
    assert sorted(e["event"]["data"]["status"] for e in events) == ["delivered", "read", "sent"]


async def test_bad_api_keys_are_rejected_and_change_nothing(client, stack):
    to = new_recipient()
    for headers in ({}, {"Api-Key": "wrong"}, {"Api-Key": stack.api_key + "x"}):
        r = await client.post(
            f"{stack.api}/api/v1/messages/send/",
            content=orjson.dumps(text_message(to)),
            headers=headers,
        )
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
        assert stack.api_key not in r.text
    # The second, rotating-out key still works.
    r = await client.post(
        f"{stack.api}/api/v1/messages/send/",
        content=orjson.dumps(text_message(to)),
        headers={"Api-Key": "old-key-rotating-out"},
    )
    assert r.status_code == 202
    await until_status(client, stack, r.json()["id"], "read")
    assert len(await meta_calls(client, stack, to)) == 1


async def test_bad_signatures_are_rejected_and_change_nothing(client, stack):
    sender = new_recipient()
    wamid = f"wamid.test{uuid.uuid4().hex}"
    body = orjson.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "1",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550000000",
                                    "phone_number_id": "1",
                                },
                                "contacts": [{"profile": {"name": "Mallory"}, "wa_id": sender}],
                                "messages": [
                                    {
                                        "from": sender,
                                        "id": wamid,
                                        "timestamp": "1700000000",
                                        "type": "text",
                                        "text": {"body": "forged"},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    )
    url = f"{stack.api}/webhooks/whatsapp/"
    good = (
        "sha256="
        + hmac.new(stack.env["WHATSAPP_APP_SECRET"].encode(), body, hashlib.sha256).hexdigest()
    )
    missing = await client.post(url, content=body)
    wrong = await client.post(
        url, content=body, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}
    )
    tampered = await client.post(url, content=body + b" ", headers={"X-Hub-Signature-256": good})
    assert missing.status_code == 401
    assert wrong.status_code == 403 and tampered.status_code == 403
    await asyncio.sleep(1)
    assert await hub_events(client, stack, wamid=wamid) == []

    ok = await client.post(url, content=body, headers={"X-Hub-Signature-256": good})
    assert ok.status_code == 200
    events = await eventually(lambda: hub_events(client, stack, wamid=wamid))
    assert len(events) == 1


async def test_webhook_verification_handshake(client, stack):
    url = f"{stack.api}/webhooks/whatsapp/"
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": stack.env["WHATSAPP_VERIFY_TOKEN"],
        "hub.challenge": "1158201444",
    }
    r = await client.get(url, params=params)
    assert r.status_code == 200 and r.text == "1158201444"
    assert r.headers["content-type"].startswith("text/plain")
    for bad in ({**params, "hub.verify_token": "nope"}, {**params, "hub.mode": "unsubscribe"}, {}):
        assert (await client.get(url, params=bad)).status_code == 403


async def test_status_endpoint_errors(client, stack):
    r = await client.get(
        f"{stack.api}/api/v1/messages/status/{uuid.uuid4()}/", headers=stack.headers()
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await client.get(f"{stack.api}/api/v1/messages/status/not-a-uuid/", headers=stack.headers())
    assert r.status_code == 400
    assert r.json()["error"]["fields"][0]["field"] == "message_id"
    r = await client.get(f"{stack.api}/api/v1/messages/status/{uuid.uuid4()}/")
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("label", "body", "field"),
    [
        ("not json", b"{nope", "body"),
        ("missing to", orjson.dumps({"type": "text", "text": {"body": "hi"}}), "to"),
        (
            "text too long",
            orjson.dumps({"to": "4915112345678", "type": "text", "text": {"body": "x" * 4097}}),
            "text.body",
        ),
        ("unknown type", orjson.dumps({"to": "4915112345678", "type": "fax"}), "type"),
    ],
)
async def test_bad_send_requests_are_400_naming_the_field(client, stack, label, body, field):
    r = await client.post(
        f"{stack.api}/api/v1/messages/send/", content=body, headers=stack.headers()
    )
    assert r.status_code == 400, label
    assert field in [f["field"] for f in r.json()["error"]["fields"]]


async def test_oversized_body_is_413(client, stack):
    body = orjson.dumps(text_message(new_recipient(), metadata={"blob": "x" * 70_000}))
    r = await client.post(
        f"{stack.api}/api/v1/messages/send/", content=body, headers=stack.headers()
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


async def test_hub_outage_is_retried_and_delivered_once(client, stack):
    await client.post(f"{stack.sink}/_sink/fail", json={"count": 2, "status": 503})
    to = new_recipient()
    await scenario(client, stack, to=to, statuses=[])
    r = await send(client, stack, text_message(to))
    message_id = r.json()["id"]
    events = await eventually(lambda: hub_events(client, stack, message_id=message_id))
    assert [e["event"]["data"]["status"] for e in events] == ["sent"]


async def test_health_needs_a_token_and_reports_streams(client, stack):
    assert (await client.get(f"{stack.api}/health/")).status_code == 401
    assert (
        await client.get(f"{stack.api}/health/", headers={"Authorization": "Bearer wrong"})
    ).status_code == 401
    r = await client.get(f"{stack.api}/health/", headers={"Authorization": "Bearer health-token-2"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["postgres"] == "ok" and body["redis"] == "ok"
    assert body["streams"]["messaging:outbound:{106540352242922}"]["group"] == "senders"
    for name, stream in body["streams"].items():  # handled entries are deleted: no Redis lag
        assert isinstance(stream["lag"], int) and stream["lag"] >= 0, (name, stream)
    assert "messaging:hub-events" in body["dead_letters"] or "hub_events" in body["dead_letters"]
    r = await client.get(f"{stack.api}/ping/")
    assert r.status_code == 200


async def test_duplicate_inbound_webhook_reaches_the_hub_once(client, stack):
    sender = new_recipient()
    wamid = f"wamid.dup{uuid.uuid4().hex}"
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": "1"},
        "contacts": [{"profile": {"name": "Bob"}, "wa_id": sender}],
        "messages": [
            {
                "from": sender,
                "id": wamid,
                "timestamp": "1700000000",
                "type": "text",
                "text": {"body": "twice"},
            }
        ],
    }
    for _ in range(2):  # Meta re-delivers when it did not see our 200 in time
        r = await client.post(f"{stack.sim}/_sim/inbound", json={"value": value})
        assert r.status_code == 200, r.text
    await eventually(lambda: hub_events(client, stack, wamid=wamid))
    await asyncio.sleep(1)
    assert len(await hub_events(client, stack, wamid=wamid)) == 1


async def test_a_second_worker_joins_the_group_and_stops_cleanly_on_sigterm(client, stack):
    stack.start("worker2", "-m", "consumers", "sender")

    async def started() -> bool:
        return "worker started" in stack.log("worker2")

    await eventually(started)
    to = new_recipient()
    ids = [(await send(client, stack, text_message(to, f"n{i}"))).json()["id"] for i in range(20)]
    for message_id in ids:
        await until_status(client, stack, message_id, "read")
    assert len(await meta_calls(client, stack, to)) == 20
    started = time.monotonic()
    assert stack.stop("worker2") == 0
    assert time.monotonic() - started < 10
    assert "worker stopped cleanly=True" in stack.log("worker2")


async def test_dropped_connection_after_sending_is_never_retried(client, stack):
    # Meta may have sent it: a retry could double-send. It ends failed/outcome_unknown unless
    # a status webhook proves otherwise.
    to = new_recipient()
    await scenario(client, stack, to=to, responses=[{"disconnect": True}], statuses=[])
    r = await send(client, stack, text_message(to))
    message_id = r.json()["id"]
    final = await until_status(client, stack, message_id, "failed")
    assert final["error"]["code"] == "outcome_unknown"
    assert len(await meta_calls(client, stack, to)) == 1
    events = await eventually(lambda: hub_events(client, stack, message_id=message_id))
    assert [e["event"]["data"]["status"] for e in events] == ["failed"]


async def test_a_status_after_the_outcome_unknown_verdict_lifts_it(client, stack):
    """Meta's connection drops mid-call: the message waits `sending`, then the sweeper's
    verdict is `failed`/`outcome_unknown`; Meta's `delivered`, arriving after that, is the
    truth: the message becomes delivered and the Hub gets that event too."""
    to = new_recipient()
    await scenario(client, stack, to=to, responses=[{"disconnect": True}], statuses=[])
    message_id = (await send(client, stack, text_message(to))).json()["id"]
    failed = await until_status(client, stack, message_id, "failed")
    assert failed["error"]["code"] == "outcome_unknown"
    status = {
        "id": f"wamid.late{uuid.uuid4().hex}",
        "status": "delivered",
        "timestamp": str(int(time.time())),
        "recipient_id": to,
        "biz_opaque_callback_data": message_id,
    }
    value = {"messaging_product": "whatsapp", "statuses": [status]}  # from the message's number
    r = await client.post(f"{stack.sim}/_sim/inbound", json={"value": value})
    assert r.status_code == 200, r.text
    lifted = await until_status(client, stack, message_id, "delivered")
    assert (lifted["error"], lifted["failed_at"]) == (None, None)

    async def both() -> set[str] | None:
        events = await hub_events(client, stack, message_id=message_id)
        seen = {e["event"]["data"]["status"] for e in events}
        return seen if {"failed", "delivered"} <= seen else None

    assert await eventually(both) == {"failed", "delivered"}
