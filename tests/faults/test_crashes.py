"""Crashes and restarts during a burst of 500 sends: the worker SIGKILLed, Redis restarted with
its data (clean shutdown or killed), PostgreSQL restarted (fast shutdown or crash). Afterwards
every accepted message is terminal, none was sent twice, every Hub event arrived once by id,
nothing was dead-lettered.

A message the killed worker had claimed (`sending`) either never left (its Meta call was not
marked: queued again once the worker's heartbeat is gone, db.claims) or may have reached
Meta (marked: settled by its status webhook, else `failed`/`outcome_unknown` after
SEND_OUTCOME_TIMEOUT_S). It is never re-sent blindly. Those are counted separately.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import pytest

from tests.faults.counts import (
    STREAMS,
    assert_promise,
    collect,
    settle,
    settled_counts,
    unacked_entries,
)
from tests.faults.harness import FaultStack, Sent, burst_with_fault

pytestmark = pytest.mark.timeout(120)
OUTAGE_S = 2.0
_GRACE_S = 0.3  # a request already past its XADD/INSERT when the server stopped may 202


async def _pending_entries(fs: FaultStack) -> dict[str, int]:
    """Entries read but not acknowledged, per stream: what the killed worker held."""
    return {s.split(":")[-1]: await unacked_entries(fs, s) for s in STREAMS}


async def test_worker_sigkill_mid_burst(make_stack):
    fs = await make_stack(SEND_OUTCOME_TIMEOUT_S="8")
    # Meta answering in 100 ms keeps sends in flight when the worker dies.
    await fs.scenario(to="*", windows=[{"until_s": 3600, "response": {"delay_ms": 100}}])

    async def kill(sent: Sent) -> tuple[set[str], dict[str, int]]:
        fs.stack.stop("worker", signal.SIGKILL)
        # No sender runs until the second worker starts: what is `sending` now, it held.
        in_hand = await fs.sql("SELECT id::text AS id FROM messages WHERE status = 'sending'")
        pending = await _pending_entries(fs)
        fs.stack.start("worker2", "-m", "consumers")
        return {r["id"] for r in in_hand}, pending

    sent, (claimed, pending) = await burst_with_fault(fs, kill, after_meta_accepted=150)
    await fs.worker_started("worker2")
    left = await settle(fs, sent.accepted, timeout_s=60)
    final = await fs.sql(
        "SELECT id::text AS id, status FROM messages WHERE id = ANY($1::uuid[])",
        [UUID(i) for i in claimed],
    )
    reached = {
        c["body"].get("biz_opaque_callback_data")
        for c in await fs.sim_calls()
        if c["status_code"] == 200
    } & claimed
    c = await collect(
        fs,
        "worker SIGKILL mid-burst, a second worker finishes",
        sent,
        sending_at_kill=len(claimed),
        pending_at_kill=pending,
        **_split(final, reached),
    )
    assert left is None, f"never settled: {left}"
    assert_promise(c, failed_ok=("outcome_unknown",), redelivery_ok=True)


@pytest.mark.timeout(240)  # the default STREAM_IDLE_TIMEOUT_S alone is 60 s
async def test_worker_sigkill_with_default_timeouts_resends_what_never_left(make_stack):
    """The worker dies mid-burst of 300 (Meta answering in 100 ms, so sends are in flight),
    with the default STREAM_IDLE_TIMEOUT_S, SWEEP_INTERVAL_S and SEND_OUTCOME_TIMEOUT_S. What
    it claimed and never started to send is queued again once its heartbeat is gone; what it
    started to send reached Meta and settles by its status webhook. Within 2 minutes every
    message is terminal, at least 295 read, none sent twice, none `outcome_unknown`, except at
    most 5 whose calls were marked as leaving right when the kill came: those may or may not
    have reached Meta and wait, `sending`, for SEND_OUTCOME_TIMEOUT_S."""
    fs = await make_stack(
        STREAM_IDLE_TIMEOUT_S="60",
        SWEEP_INTERVAL_S="30",
        SWEEP_STALE_S="120",
        SEND_OUTCOME_TIMEOUT_S="600",
    )
    await fs.scenario(to="*", windows=[{"until_s": 3600, "response": {"delay_ms": 100}}])

    async def kill(sent: Sent) -> set[str]:
        fs.stack.stop("worker", signal.SIGKILL)
        in_hand = await fs.sql("SELECT id::text AS id FROM messages WHERE status = 'sending'")
        fs.stack.start("worker2", "-m", "consumers")
        return {r["id"] for r in in_hand}

    sent, claimed = await burst_with_fault(fs, kill, after_meta_accepted=100, count=300)
    killed_at = time.monotonic()
    await fs.worker_started("worker2")
    left = await settle(fs, sent.accepted, timeout_s=120, in_doubt_ok=True)
    c = await collect(
        fs,
        "worker SIGKILL mid-burst, default timeouts",
        sent,
        sending_at_kill=len(claimed),
        settled_in_s=round(time.monotonic() - killed_at, 1),
    )
    stuck = await fs.sql(
        "SELECT id::text AS id, status, claimed_by FROM messages"
        " WHERE id = ANY($1::uuid[]) AND status IN ('queued', 'sending')",
        [UUID(i) for i in sent.accepted],
    )
    # A call marked as leaving when the kill came may have reached Meta or not: it stays
    # `sending` until its status webhook, else `outcome_unknown` after SEND_OUTCOME_TIMEOUT_S
    # (10 minutes here): never re-sent. Only those may be left; anything else is a loss.
    in_doubt = [r for r in stuck if r["status"] == "sending" and await _marked(fs, r)]
    assert len(in_doubt) == len(stuck) <= 5, (
        f"not terminal 2 minutes after the kill: {left}; {stuck}"
    )
    assert len(sent.accepted) == 300
    read = sum(1 for s in c.statuses.values() if s == "read")
    assert read + len(in_doubt) == 300 and read >= 295, Counter(c.statuses.values())
    assert_promise(c, redelivery_ok=True, in_doubt=frozenset(r["id"] for r in in_doubt))


async def _marked(fs: FaultStack, row: Any) -> bool:
    """The message's Meta call was marked as leaving (db.claims)."""
    marked = await fs.sql("SELECT left_at FROM messages WHERE id = $1::uuid", row["id"])
    return marked[0]["left_at"] is not None


def _split(final: list[Any], reached: set[str]) -> dict[str, int]:
    """What became of the messages the killed worker held (`sending`): Meta accepted them
    (they became sent by their status webhook, or failed as outcome_unknown), or Meta never
    accepted them (not sent, or the connection dropped mid-call: failed as outcome_unknown)."""
    split: Counter[str] = Counter()
    for r in final:
        failed = r["status"] == "failed"
        if r["id"] in reached:
            split["meta_had_it_failed_unknown" if failed else "meta_had_it_reconciled"] += 1
        else:
            split["meta_never_had_it_failed_unknown" if failed else "meta_never_had_it_sent"] += 1
    return dict(split)


def _outage(
    stop: Callable[[], None], start: Callable[[], None], during: Any = None
) -> Callable[[Sent], Awaitable[tuple[Counter[str], Any]]]:
    """A fault: stop a server, keep sending, start it after OUTAGE_S. Its result: the send
    API's answers while the server was down, and what `during()` returned."""

    async def fault(sent: Sent) -> tuple[Counter[str], Any]:
        await asyncio.to_thread(stop)
        await asyncio.sleep(_GRACE_S)
        before = Counter(sent.codes)
        extra = await during() if during else None
        await asyncio.sleep(max(0.0, OUTAGE_S - _GRACE_S))
        while_down = Counter(sent.codes) - before
        await asyncio.to_thread(start)
        return while_down, extra

    return fault


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
async def test_redis_restart_mid_burst(make_stack, how):
    fs = await make_stack()
    redis = fs.servers.redis
    fault = _outage(lambda: redis.stop(getattr(signal, how)), redis.start)
    sent, (while_down, _) = await burst_with_fault(fs, fault, after_accepted=100, spread_s=3)
    c = await settled_counts(
        fs,
        f"Redis restart ({how}, {OUTAGE_S:.0f} s down) mid-burst",
        sent,
        while_down=dict(while_down),
    )
    assert while_down["503"] > 0, f"no 503 while Redis was down: {dict(while_down)}"
    assert while_down["202"] == 0, "202 while Redis was down: accepted but not queued"
    assert_promise(c, redelivery_ok=True)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_postgres_restart_mid_burst(make_stack, mode):
    fs = await make_stack()
    postgres = fs.servers.postgres

    async def inbound_while_down() -> list[str]:
        """Meta's webhooks need no database: they wait in the stream."""
        wamids = []
        for n in range(10):
            r = await fs.http.post(
                f"{fs.stack.sim}/_sim/inbound",
                json={"from": f"4917000000{n:03d}", "text": f"while the database is down {n}"},
            )
            assert r.status_code == 200, r.text
            wamids.append(r.json()["wamid"])
        return wamids

    fault = _outage(lambda: postgres.stop(mode), postgres.start, during=inbound_while_down)
    sent, (while_down, wamids) = await burst_with_fault(fs, fault, after_accepted=100, spread_s=3)
    c = await settled_counts(
        fs,
        f"PostgreSQL restart ({mode} stop, {OUTAGE_S:.0f} s down) mid-burst",
        sent,
        while_down=dict(while_down),
        inbound_while_down=len(wamids),
    )
    assert while_down["503"] > 0, f"no 503 while PostgreSQL was down: {dict(while_down)}"
    assert while_down["202"] == 0, "202 while PostgreSQL was down: accepted but not stored"
    assert_promise(c, redelivery_ok=True)
    received = [
        e["event"]["data"]["wamid"]
        for e in await fs.sink_events()
        if e["event"]["type"] == "message.received"
    ]
    assert sorted(received) == sorted(wamids), "inbound webhooks from the outage lost or doubled"
