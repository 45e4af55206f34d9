"""Meta's throttling and pauses through the real processes: messages wait, none is lost or
sent twice, and /health/ reports the pause (a 200: obeying Meta is not a fault) while sending is
paused."""

from __future__ import annotations

import pytest

from tests.conftest import new_recipient
from tests.e2e.test_loop import (
    client,
    eventually,
    meta_calls,
    scenario,
    send,
    text_message,
    until_status,
)

pytestmark = pytest.mark.timeout(60)
__all__ = ["client"]  # the fixture, shared with test_e2e


@pytest.mark.parametrize(
    ("label", "responses"),
    [
        ("throughput 130429", [{"status": 429}, {"status": 429}]),
        ("pair rate limit 131056", [{"status": 400, "code": 131056, "title": "Pair rate limit"}]),
        ("service 5xx", [{"status": 503}]),
    ],
)
async def test_throttled_message_waits_then_is_sent_once(client, stack, label, responses):
    to = new_recipient()
    await scenario(client, stack, to=to, responses=responses)
    r = await send(client, stack, text_message(to))
    final = await until_status(client, stack, r.json()["id"], "read")
    calls = await meta_calls(client, stack, to)
    assert [c["status_code"] for c in calls] == [step["status"] for step in responses] + [200]
    throttled = all(step["status"] != 503 for step in responses)
    assert final["attempts"] == (1 if throttled else len(calls))  # throttling is refunded


async def test_spam_limit_pauses_sending_with_an_alert_then_resumes(client, stack):
    to = new_recipient()
    await scenario(client, stack, to=to, responses=[{"status": 400, "code": 131048}])
    r = await send(client, stack, text_message(to))

    async def alert() -> dict | None:
        health = await client.get(
            f"{stack.api}/health/", headers={"Authorization": "Bearer health-token-1"}
        )
        body = health.json()
        return {**body, "code": health.status_code} if body["alerts"] else None

    body = await eventually(alert, timeout_s=10)
    assert (body["code"], body["status"], body["problems"]) == (200, "ok", [])
    assert body["alerts"][0]["alert"] == "sending_paused"
    assert body["alerts"][0]["code"] == 131048
    final = await until_status(client, stack, r.json()["id"], "read")  # SEND_PAUSE_S=1 here
    assert final["attempts"] == 1
    assert len(await meta_calls(client, stack, to)) == 2
