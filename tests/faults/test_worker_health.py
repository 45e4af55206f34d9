"""A dead worker shows, and leaves its consumer groups, with every process real.

- SIGSTOP the worker while messages wait: `/health/` answers 503 naming the number's missing
  sender within 30 s (its heartbeat's TTL, 10 s), and `messaging_workers_live` drops to 0;
  SIGCONT brings both back.
- SIGKILL the worker while it holds pending entries: `/health/` answers 503 the same way;
  start another: the survivor takes the entries over (XAUTOCLAIM), then the dead worker's
  consumers leave every group, while the survivor's own consumers, idle or not, stay.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from core.heartbeats import live_workers
from tests.conftest import new_recipient
from tests.e2e.test_loop import eventually, text_message
from tests.faults.counts import GROUP_OF, STREAMS
from tests.faults.harness import FaultStack
from tests.support.settings import NUMBER, OUTBOUND

pytestmark = pytest.mark.timeout(120)
TOKEN = {"Authorization": "Bearer health-token-1"}
WAITING = 12
SENDER = {"role": "sender", "phone_number_id": NUMBER}  # the gauge's labels for its sender


async def _health(fs: FaultStack) -> tuple[int, dict[str, Any]]:
    r = await fs.http.get(f"{fs.stack.api}/health/", headers=TOKEN)
    return r.status_code, r.json()


async def _live_senders(fs: FaultStack) -> float:
    r = await fs.http.get(f"{fs.stack.api}/metrics", headers=TOKEN)
    return next(
        s.value
        for f in text_string_to_metric_families(r.text)
        for s in f.samples
        if s.name == "messaging_workers_live" and s.labels == SENDER
    )


async def _send(fs: FaultStack, count: int) -> None:
    for _ in range(count):
        r = await fs.http.post(
            f"{fs.stack.api}/api/v1/messages/send/",
            content=orjson.dumps(text_message(new_recipient())),
            headers=fs.stack.headers(),
        )
        assert r.status_code == 202, r.text


async def _workers(fs: FaultStack) -> set[str]:
    """The live workers' ids, read from their heartbeats as the web reads them."""
    redis = Redis.from_url(fs.servers.redis.url(), decode_responses=True)
    try:
        return set(await live_workers(redis))
    finally:
        await redis.aclose()


async def _consumers(fs: FaultStack) -> dict[str, set[str]]:
    found = {}
    for stream in STREAMS:
        try:
            infos = await fs.redis("XINFO CONSUMERS", stream, GROUP_OF[stream])
        except Exception:  # no stream or group yet
            infos = []
        found[stream] = {c["name"] for c in infos}
    return found


async def test_a_stopped_worker_makes_health_503_naming_the_missing_sender(make_stack):
    fs = await make_stack()
    _, body = await eventually(lambda: _ok(fs))
    assert [sorted(w["roles"]) for w in body["workers"]] == [
        ["hub", f"sender:{NUMBER}", "webhooks"]
    ]
    assert await _live_senders(fs) == 1

    worker = fs.stack.procs["worker"]
    os.kill(worker.pid, signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        await _send(fs, WAITING)

        body = await eventually(lambda: _degraded(fs), timeout_s=30)
        noticed_s = time.monotonic() - stopped_at
        assert body["status"] == "degraded" and body["workers"] == []
        assert body["problems"] == [
            f"no live sender for {NUMBER} and its stream has {WAITING} entries waiting"
        ]
        assert body["streams"][OUTBOUND]["live_workers"] == 0
        assert await _live_senders(fs) == 0
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    resumed_at = time.monotonic()
    await eventually(lambda: _ok(fs), timeout_s=20)
    assert await _live_senders(fs) == 1
    print(
        f"\nworker SIGSTOP noticed by /health/ in {noticed_s:.1f}s;"
        f" 200 again {time.monotonic() - resumed_at:.1f}s after SIGCONT"
    )
    assert noticed_s < 30


async def _degraded(fs: FaultStack) -> dict[str, Any] | None:
    status, body = await _health(fs)
    return body if status == 503 else None


async def _ok(fs: FaultStack) -> tuple[int, dict[str, Any]] | None:
    status, body = await _health(fs)
    return (status, body) if status == 200 and body["workers"] else None


async def test_a_killed_workers_consumers_leave_their_groups_after_takeover(make_stack):
    fs = await make_stack()
    # Meta answering in a second keeps the worker's entries pending when it dies.
    await fs.scenario(to="*", windows=[{"until_s": 3600, "response": {"delay_ms": 1000}}])
    [first] = await eventually(lambda: _workers(fs))
    await _send(fs, 5)

    async def holding() -> bool:
        summary = await fs.redis("XPENDING", OUTBOUND, GROUP_OF[OUTBOUND])
        return any(c["name"] == first for c in summary["consumers"] or [])

    await eventually(holding, timeout_s=10)
    fs.stack.stop("worker", signal.SIGKILL)
    killed_at = time.monotonic()
    assert first in (await _consumers(fs))[OUTBOUND]
    body = await eventually(lambda: _degraded(fs), timeout_s=30)
    assert body["problems"][0].startswith(f"no live sender for {NUMBER} and its stream has ")
    noticed_s = time.monotonic() - killed_at
    fs.stack.start("worker2", "-m", "consumers")
    await fs.worker_started("worker2")
    [second] = await eventually(lambda: _only_not(fs, first))

    async def gone() -> dict[str, set[str]] | None:
        found = await _consumers(fs)
        return found if all(first not in names for names in found.values()) else None

    found = await eventually(gone, timeout_s=30)
    left_s = time.monotonic() - killed_at
    assert second in found[OUTBOUND]  # it took the dead worker's entries over
    await eventually(lambda: _unacked_zero(fs), timeout_s=20)
    await asyncio.sleep(3)  # a few more takeovers (one a second: STREAM_IDLE_TIMEOUT_S=2)
    assert all(names <= {second} for names in (await _consumers(fs)).values())
    assert second in (await _consumers(fs))[OUTBOUND]  # live and idle: it stays
    print(
        f"\nworker SIGKILL noticed by /health/ in {noticed_s:.1f}s; its consumers left every"
        f" group {left_s:.1f}s after it"
    )


async def _only_not(fs: FaultStack, first: str) -> list[str]:
    return sorted(await _workers(fs) - {first})


async def _unacked_zero(fs: FaultStack) -> bool:
    summary = await fs.redis("XPENDING", OUTBOUND, GROUP_OF[OUTBOUND])
    return summary["pending"] == 0
