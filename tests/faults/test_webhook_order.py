"""Meta's webhooks duplicated and out of order: statuses never go backwards, and the Hub gets
one event per (message, status).

The simulator reports every message `read`, `delivered`, `sent` in that order, each status
twice in POSTs of its own; afterwards stale statuses are replayed for every message, signed
with the app secret as Meta signs them, half of them without our callback data (found by
wamid), shuffled. A sampler watches every message's status the whole time.
"""

from __future__ import annotations

import asyncio
import random
from uuid import UUID

import orjson
import pytest

from simulator.meta_webhooks import envelope, sign, status_object
from tests.faults.counts import assert_promise, settle, settled_counts
from tests.faults.harness import FaultStack, burst

pytestmark = pytest.mark.timeout(120)
_RANK = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4, "failed": 5}


class Sampler:
    """Every status change seen by polling; a move to a lower rank is a violation."""

    def __init__(self, fs: FaultStack) -> None:
        self.fs = fs
        self.last: dict[str, str] = {}
        self.backwards: list[tuple[str, str, str]] = []
        self.samples = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for r in await self.fs.sql("SELECT id::text AS id, status FROM messages"):
                before = self.last.get(r["id"])
                if before and _RANK[r["status"]] < _RANK[before]:
                    self.backwards.append((r["id"], before, r["status"]))
                self.last[r["id"]] = r["status"]
            self.samples += 1
            await asyncio.sleep(0.05)


async def replay_stale_statuses(fs: FaultStack, ids: list[str]) -> int:
    """POST `sent`, `delivered` and `read` again for every message; returns the POSTs."""
    rows = await fs.sql(
        "SELECT id::text AS id, wamid, recipient FROM messages WHERE id = ANY($1::uuid[])",
        [UUID(i) for i in ids],
    )
    env = fs.stack.env
    statuses = [
        status_object(
            r["wamid"], {"status": s}, r["recipient"], 1_700_000_000 + n, r["id"] if n % 2 else None
        )
        for n, r in enumerate(rows)
        for s in ("sent", "delivered", "read")
    ]
    random.shuffle(statuses)
    url = f"{fs.stack.api}/webhooks/whatsapp/"
    posts = 0
    for start in range(0, len(statuses), 100):
        payload = envelope(
            env["WHATSAPP_PHONE_NUMBER_ID"], {"statuses": statuses[start : start + 100]}
        )
        body = orjson.dumps(payload)
        headers = {"X-Hub-Signature-256": sign(env["WHATSAPP_APP_SECRET"], body)}
        r = await fs.http.post(url, content=body, headers=headers)
        assert r.status_code == 200, r.text
        posts += 1
    return posts


async def test_duplicated_and_out_of_order_webhooks(make_stack):
    fs = await make_stack()
    await fs.scenario(to="*", statuses=["read", "delivered", "sent"], duplicate_webhooks=True)
    sampler, stop = Sampler(fs), asyncio.Event()
    watching = asyncio.create_task(sampler.run(stop))
    try:
        sent = await burst(fs)
        left = await settle(fs, sent.accepted, timeout_s=60)
        assert left is None, f"never settled: {left}"
        before = await fs.sink_stats()
        replayed = await replay_stale_statuses(fs, sent.accepted)
        await asyncio.sleep(0.5)  # past the webhook processor's next read
    finally:
        stop.set()
        await watching
    c = await settled_counts(
        fs,
        "duplicated + out-of-order webhooks, stale replay",
        sent,
        replay_posts=replayed,
        samples=sampler.samples,
        backwards=len(sampler.backwards),
    )
    assert not sampler.backwards, f"statuses went backwards: {sampler.backwards[:5]}"
    assert_promise(c)
    assert c.terminal == {"read": c.accepted}
    after = await fs.sink_stats()
    assert after["unique"] == before["unique"], "the stale replay produced new Hub events"
