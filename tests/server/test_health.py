"""`/health/` and the `messaging_workers_live` gauge, served in-process on real PostgreSQL and
Redis: one case per state of the workers' heartbeats, the streams and the pauses. The
heartbeats are written as a worker writes them (`core.heartbeats`); tests/faults/
test_worker_health.py stops and kills real worker processes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from core.heartbeats import Role, beat, worker_key
from core.names import SEND_PAUSED_KEY
from core.pauses import set_pause
from tests.server.test_send_api import client
from tests.support.settings import HUB_STREAM, NUMBER, OUTBOUND, WEBHOOKS_STREAM

__all__ = ["client"]  # the fixture: the web served in-process
TOKEN = {"Authorization": "Bearer health-token-1"}
EVERY_ROLE = [f"sender:{NUMBER}", "webhooks", "hub"]


@dataclass
class Case:
    label: str
    workers: dict[str, Any]  # worker id -> its roles, or the raw heartbeat value
    waiting: dict[str, int]  # stream -> entries on it
    code: int
    status: str
    problems: list[str] = field(default_factory=list)
    notes: int = 0  # roles no live worker serves while nothing waits for them
    paused: bool = False


CASES = [
    Case("every role served, a backlog", {"w1": EVERY_ROLE}, {OUTBOUND: 3}, 200, "ok"),
    Case(
        "no worker, entries waiting for the number's sender",
        {},
        {OUTBOUND: 12},
        503,
        "degraded",
        [f"no live sender for {NUMBER} and its stream has 12 entries waiting"],
        notes=2,
    ),
    Case("no worker, nothing waiting (scaled to zero)", {}, {}, 200, "ok", notes=3),
    Case(
        "the Hub forwarder missing with an event waiting",
        {"w1": [f"sender:{NUMBER}", "webhooks"]},
        {HUB_STREAM: 1},
        503,
        "degraded",
        ["no live Hub forwarder and its stream has 1 entry waiting"],
    ),
    Case(
        "the webhook processor missing with nothing waiting",
        {"w1": [f"sender:{NUMBER}"], "w2": ["hub"]},
        {OUTBOUND: 1},
        200,
        "ok",
        notes=1,
    ),
    Case(
        "an older worker's heartbeat names no role",
        {"old": "1"},
        {WEBHOOKS_STREAM: 2},
        503,
        "degraded",
        ["no live webhook processor and its stream has 2 entries waiting"],
        notes=2,
    ),
    Case(
        "a paused number is reported, not a fault", {"w1": EVERY_ROLE}, {}, 200, "ok", paused=True
    ),
]


async def _given(redis: Redis, case: Case) -> None:
    for worker_id, roles in case.workers.items():
        value = roles if isinstance(roles, str) else beat(Role.parse(r) for r in roles)
        await redis.set(worker_key(worker_id), value, px=10_000)
    for stream, count in case.waiting.items():
        for i in range(count):
            await redis.xadd(stream, {"n": str(i)})
    if case.paused:
        key = SEND_PAUSED_KEY.format(phone_number_id=NUMBER)
        await set_pause(redis, key, 131048, "Spam rate limit hit", 60)


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
async def test_health_reports_live_workers_per_role(client: Any, redis: Redis, case: Case) -> None:
    await _given(redis, case)
    r = await client.get("/health/", headers=TOKEN)
    body = r.json()
    assert (r.status_code, body["status"]) == (case.code, case.status), body
    assert body["problems"] == case.problems
    assert len(body["notes"]) == case.notes, body["notes"]
    assert sorted(w["id"] for w in body["workers"]) == sorted(case.workers)
    sender = body["streams"][OUTBOUND]
    assert sender["role"] == f"sender:{NUMBER}"
    serving_sender = [w for w in case.workers.values() if f"sender:{NUMBER}" in w]
    assert sender["live_workers"] == len(serving_sender)
    assert [a["alert"] for a in body["alerts"]] == (["sending_paused"] if case.paused else [])
    if case.paused:
        assert (body["alerts"][0]["code"], body["alerts"][0]["phone_number_id"]) == (131048, NUMBER)


async def test_no_worker_and_nothing_waiting_says_so(client: Any) -> None:
    body = (await client.get("/health/", headers=TOKEN)).json()
    assert body["notes"] == [
        f"no live sender for {NUMBER}; nothing waits on {OUTBOUND}",
        f"no live webhook processor; nothing waits on {WEBHOOKS_STREAM}",
        f"no live Hub forwarder; nothing waits on {HUB_STREAM}",
    ]


def _live(text: str) -> dict[tuple[str, str], float]:
    return {
        (s.labels["role"], s.labels["phone_number_id"]): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "messaging_workers_live"
    }


async def test_workers_live_gauge_counts_each_role(client: Any, redis: Redis) -> None:
    scrape = await client.get("/metrics", headers=TOKEN)
    assert _live(scrape.text) == {("sender", NUMBER): 0, ("webhooks", ""): 0, ("hub", ""): 0}

    await _given(
        redis, Case("", {"w1": EVERY_ROLE, "w2": [f"sender:{NUMBER}", "sender:999"]}, {}, 0, "")
    )
    scrape = await client.get("/metrics", headers=TOKEN)
    assert _live(scrape.text) == {
        ("sender", NUMBER): 2,
        ("sender", "999"): 1,  # not configured on the web, served all the same
        ("webhooks", ""): 1,
        ("hub", ""): 1,
    }
