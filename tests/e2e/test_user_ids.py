"""A username user end to end, with real processes: they write through the simulator with
their number withheld, the Hub hears `message.received` with `from: null` and their BSUID,
and a reply sent by `recipient` (their BSUID) is let through the service-window check (by a
web with SERVICE_WINDOW_CHECK on) because the window is theirs, and reaches `delivered`.
Their BSUID then changes: the Hub hears `contact.user_id_changed`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from harness.stack import Stack, free_port
from tests.e2e.test_loop import eventually, hub_events, send, status_of

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


@pytest.fixture
async def checked(client: httpx.AsyncClient, stack: Stack) -> AsyncIterator[Stack]:
    """A second web on the session's stack that refuses free-form sends outside the window."""
    port = free_port()
    stack.start(
        "web-user-ids", "-m", "server", PORT=str(port), SERVICE_WINDOW_CHECK="true",
        PROMETHEUS_MULTIPROC_DIR="",
    )  # fmt: skip
    try:
        web = Stack(f"http://127.0.0.1:{port}", stack.sim, stack.sink, stack.env, stack.logs)

        async def up() -> bool:
            try:
                return (await client.get(f"{web.api}/ping/")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(up, timeout_s=20)
        yield web
    finally:
        stack.stop("web-user-ids")


async def test_a_username_user_writes_and_is_answered_by_bsuid(client, stack, checked) -> None:
    user_id = "US." + str(uuid.uuid4().int)[:20]
    reply = {"recipient": user_id, "type": "text", "text": {"body": "Your parcel is on its way"}}
    refused = await send(client, checked, reply)  # they never wrote: outside the window
    assert refused.status_code == 422, refused.text

    wrote = await client.post(
        f"{stack.sim}/_sim/inbound",
        json={"user_id": user_id, "username": "@sheena", "name": "Sheena", "text": "Where is it?"},
    )
    assert wrote.status_code == 200, wrote.text
    wamid = wrote.json()["wamid"]

    async def received() -> list[dict] | None:
        return await hub_events(client, stack, wamid=wamid) or None

    [event] = await eventually(received)
    data = event["event"]["data"]
    assert event["event"]["type"] == "message.received"
    assert (data["from"], data["user_id"], data["username"]) == (None, user_id, "@sheena")

    async def contact() -> dict | None:
        r = await client.get(f"{checked.api}/api/v1/contacts/{user_id}/", headers=checked.headers())
        return r.json() if r.json()["service_window"]["open"] else None

    person = await eventually(contact)
    assert (person["wa_id"], person["user_id"], person["username"]) == (None, user_id, "@sheena")

    r = await send(client, checked, reply)
    assert r.status_code == 202, r.text

    async def was_delivered() -> dict | None:
        body = await status_of(client, stack, r.json()["id"])
        return body if body["delivered_at"] else None

    answered = await eventually(was_delivered)  # `read` may land a moment before `delivered`
    assert (answered["recipient"], answered["recipient_user_id"]) == (None, user_id)

    async def statuses() -> list[dict] | None:
        events = await hub_events(client, stack, message_id=r.json()["id"])
        done = [e for e in events if e["event"]["data"]["status"] == "delivered"]
        return done or None

    [status] = await eventually(statuses)
    assert status["event"]["data"]["contact"]["user_id"] == user_id
    assert status["event"]["data"]["contact"]["username"] == "@sheena"

    new_id = "US." + str(uuid.uuid4().int)[:20]
    changed = await client.post(
        f"{stack.sim}/_sim/inbound", json={"user_id": user_id, "new_user_id": new_id}
    )
    assert changed.status_code == 200, changed.text

    async def change() -> list[dict] | None:
        events = await hub_events(client, stack, type="contact.user_id_changed")
        return [e for e in events if e["event"]["data"]["current"]["user_id"] == new_id] or None

    [event] = await eventually(change)
    assert event["event"]["data"]["previous"]["user_id"] == user_id
