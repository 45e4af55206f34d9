"""Several business numbers through the real processes: each sends at its own rate with its
own token, a pause on one leaves the others sending, and the 24 h customer-service window is
kept per number and contact (refused at the door, opened by the contact's message, closed by
Meta's 131047)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest

from harness.stack import Stack, free_port
from tests.conftest import new_recipient, running_stack
from tests.e2e.test_loop import TEMPLATE, eventually, hub_events, send, status_of, text_message

pytestmark = pytest.mark.timeout(120)

A, B, C = "106540352242922", "106540352242933", "106540352242944"
D = "106540352242955"  # a slow tier: one send every two seconds
RATE_A, RATE_B = 25, 50
OWN_TOKEN_B = "EAAown-token-of-B-" + os.urandom(8).hex()


@pytest.fixture(scope="module")
async def stack(services, tmp_path_factory) -> AsyncIterator[Stack]:
    """Four numbers: A (the default) and C at SEND_RATE_PER_S, B at its own rate with its own
    token, D at 0.5/s; the simulator plays Meta's service window (131047 outside it)."""
    async with running_stack(
        services,
        f"messaging_numbers_{os.getpid()}",
        4,
        tmp_path_factory.mktemp("numbers-logs"),
        WHATSAPP_PHONE_NUMBER_ID=f"{A},{B},{C},{D}",
        SEND_RATE_PER_S=str(RATE_A),
        **{
            f"SEND_RATE_PER_S_{B}": str(RATE_B),
            f"WHATSAPP_ACCESS_TOKEN_{B}": OWN_TOKEN_B,
            f"SEND_RATE_PER_S_{D}": "0.5",
        },
        SIM_SERVICE_WINDOW="true",
        SEND_PAUSE_S="2",
    ) as s:
        yield s


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


def template(to: str, number: str) -> dict:
    return {"to": "+" + to, "type": "template", "template": TEMPLATE, "phone_number_id": number}


async def accepted(client: httpx.AsyncClient, stack: Stack, body: dict) -> str:
    r = await send(client, stack, body)
    assert r.status_code == 202, r.text
    assert r.json()["phone_number_id"] == body.get("phone_number_id", A)
    return r.json()["id"]


async def all_reach(client, stack, ids: list[str], status: str, timeout_s: float = 30) -> list:
    async def probe() -> list | None:
        found = [await status_of(client, stack, i) for i in ids]
        return found if all(f["status"] == status for f in found) else None

    return await eventually(probe, timeout_s)


async def sim_calls(client: httpx.AsyncClient, stack: Stack, recipients: set[str]) -> list[dict]:
    r = await client.get(f"{stack.sim}/_sim/messages", params={"limit": 100_000})
    return [c for c in r.json()["messages"] if c["to"] in recipients]


def busiest_second(times: list[float]) -> int:
    """The most sends in any sliding one-second window."""
    times, best, first = sorted(times), 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


async def test_each_number_sends_at_its_own_rate_and_token_side_by_side(client, stack):
    counts = {A: 50, B: 100}
    to = {n: [new_recipient() for _ in range(k)] for n, k in counts.items()}
    bodies = [template(r, n) for n in counts for r in to[n]]
    ids = await asyncio.gather(*(accepted(client, stack, b) for b in bodies))
    done = await all_reach(client, stack, list(ids), "read")
    assert {d["phone_number_id"] for d in done} == {A, B}

    calls = await sim_calls(client, stack, {r for rs in to.values() for r in rs})
    assert all(c["status_code"] == 200 for c in calls)  # B's own token was accepted
    sent = {n: [c["at"] for c in calls if c["phone_number_id"] == n] for n in counts}
    assert {n: len(t) for n, t in sent.items()} == counts  # each once, from its own number
    # Each at its own rate: not faster on average, and no second over it (each process keeps
    # its pace on a number: RateLimiter.depart).
    for number, rate in ((A, RATE_A), (B, RATE_B)):
        span = max(sent[number]) - min(sent[number])
        assert span >= (counts[number] - 1) / rate * 0.9, (number, span)
        # Within the rate, plus what a process may send ahead of its pace (LEEWAY_S); the
        # simulator's busy loop reads arrivals late, bunched: a quarter of leeway for that.
        assert busiest_second(sent[number]) <= rate * 1.25 + 2, (number, sent[number])
    # Side by side, not one after the other: each number was sending while the other was.
    overlap = min(max(sent[A]), max(sent[B])) - max(min(sent[A]), min(sent[B]))
    assert overlap > 1.0

    events = await hub_events(client, stack, type="message.status")
    numbers = {
        e["event"]["data"]["message_id"]: e["event"]["data"]["phone_number_id"] for e in events
    }
    assert all(numbers[d["id"]] == d["phone_number_id"] for d in done)


async def test_a_pause_on_one_number_leaves_the_others_sending(client, stack):
    spam = new_recipient()
    r = await client.post(
        f"{stack.sim}/_sim/scenarios",
        json={"to": spam, "responses": [{"status": 400, "code": 131048}]},
    )
    assert r.status_code < 300
    first = await accepted(client, stack, template(spam, A))

    async def paused() -> dict | None:
        health = await client.get(
            f"{stack.api}/health/", headers={"Authorization": "Bearer health-token-1"}
        )
        return next(iter(health.json()["alerts"]), None)

    alert = await eventually(paused, timeout_s=10)
    assert (alert["alert"], alert["phone_number_id"], alert["code"]) == (
        "sending_paused",
        A,
        131048,
    )
    until = datetime.fromisoformat(alert["until"])

    recipients = {n: [new_recipient() for _ in range(5)] for n in (A, B)}
    on = {
        n: [await accepted(client, stack, template(r, n)) for r in rs]
        for n, rs in recipients.items()
    }
    await all_reach(client, stack, [first, *on[A], *on[B]], "read")
    calls = await sim_calls(client, stack, {spam, *recipients[A], *recipients[B]})
    ok = {
        n: [c["at"] for c in calls if c["phone_number_id"] == n and c["status_code"] == 200]
        for n in (A, B)
    }
    assert len(ok[A]) == 6 and len(ok[B]) == 5  # each once; the spam-limited one again later
    assert max(ok[B]) < until.timestamp()  # B never waited for A's pause
    assert min(ok[A]) >= until.timestamp() - 0.05  # A waited it out (Redis's clock vs ours)


async def test_the_window_is_refused_then_opened_by_the_contact_per_number(client, stack):
    port = free_port()
    stack.start(
        "web-window-check",
        "-m",
        "server",
        PORT=str(port),
        SERVICE_WINDOW_CHECK="true",
        PROMETHEUS_MULTIPROC_DIR="",
    )
    try:
        checked = Stack(f"http://127.0.0.1:{port}", stack.sim, stack.sink, stack.env, stack.logs)
        await eventually(lambda: _up(client, checked), timeout_s=20)
        contact = new_recipient()

        for number in (A, B):
            r = await send(client, checked, text_message(contact, phone_number_id=number))
            assert r.status_code == 422, r.text
            assert "window" in r.json()["error"]["code"]
            assert r.json()["error"]["fields"][0]["field"] == "type"

        wrote = await client.post(
            f"{stack.sim}/_sim/inbound",
            json={"from": "+" + contact, "text": "hello", "phone_number_id": B},
        )
        assert wrote.status_code == 200, wrote.text

        async def window(number: str | None) -> httpx.Response:
            params = {"phone_number_id": number} if number else {}
            return await client.get(
                f"{checked.api}/api/v1/contacts/{contact}/",
                params=params,
                headers=checked.headers(),
            )

        opened = await eventually(
            lambda: _open_window(window(B)), timeout_s=20
        )  # the worker stores the inbound message, then the window is open on B only
        assert opened["phone_number_id"] == B and opened["service_window"]["last_inbound_at"]
        assert (await window(A)).json()["service_window"]["open"] is False
        ambiguous = await window(None)
        assert ambiguous.status_code == 422
        assert ambiguous.json()["error"]["fields"][0]["field"] == "phone_number_id"

        reply = await send(client, checked, text_message(contact, phone_number_id=B))
        assert reply.status_code == 202, reply.text
        assert (
            await send(client, checked, text_message(contact, phone_number_id=A))
        ).status_code == 422
        first_contact = await send(client, checked, template(contact, A))  # always allowed
        assert first_contact.status_code == 202
        await all_reach(client, stack, [reply.json()["id"], first_contact.json()["id"]], "read")
    finally:
        stack.stop("web-window-check")


async def test_a_free_form_send_outside_the_window_fails_131047_from_meta(client, stack):
    contact = new_recipient()  # never wrote to C; the default web does not check windows
    message_id = await accepted(client, stack, text_message(contact, phone_number_id=C))
    [failed] = await all_reach(client, stack, [message_id], "failed")
    assert failed["error"]["code"] == 131047
    assert failed["phone_number_id"] == C

    async def failed_event() -> list[dict]:
        events = await hub_events(client, stack, type="message.status")
        return [
            e["event"]["data"]
            for e in events
            if e["event"]["data"]["message_id"] == message_id
            and e["event"]["data"]["status"] == "failed"
        ]

    [event] = await eventually(failed_event)
    assert (event["phone_number_id"], event["error"]["code"]) == (C, 131047)


async def test_an_unknown_number_is_refused_naming_the_field(client, stack):
    r = await send(client, stack, template(new_recipient(), "999"))
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "unknown_phone_number"
    assert error["fields"][0]["field"] == "phone_number_id"
    assert A in error["fields"][0]["message"]  # it names the numbers it sends from


async def _up(client: httpx.AsyncClient, stack: Stack) -> bool:
    try:
        return (await client.get(f"{stack.api}/ping/")).status_code == 200
    except httpx.HTTPError:
        return False


async def _open_window(response) -> dict | None:
    body = (await response).json()
    return body if body.get("service_window", {}).get("open") else None


async def test_messages_that_expire_at_a_low_rate_are_never_sent(client, stack):
    """At 0.5/s, once one message took the slot, the next is two seconds away: five valid
    for one second all expire, none is sent."""
    first = await accepted(client, stack, template(new_recipient(), D))
    await all_reach(client, stack, [first], "read")
    behind = [new_recipient() for _ in range(5)]
    late = [
        await accepted(client, stack, {**template(r, D), "validity_period_s": 1}) for r in behind
    ]
    for done in await all_reach(client, stack, late, "failed"):
        assert done["error"]["code"] == "expired" and done["wamid"] is None
    assert await sim_calls(client, stack, set(behind)) == []  # Meta never saw them

    async def expired_events() -> list[dict] | None:
        events = await hub_events(client, stack, type="message.status")
        found = [
            e["event"]["data"]
            for e in events
            if e["event"]["data"]["message_id"] in late and e["event"]["data"]["status"] == "failed"
        ]
        return found if len(found) == len(late) else None

    for data in await eventually(expired_events):
        assert (data["error"]["code"], data["phone_number_id"]) == ("expired", D)
