"""The send protocol across processes (issue 20): a worker SIGKILLed between a call's mark
and its first byte, and Redis restarted without its data mid-burst. Each asserts Meta got
each message at most once and every message is terminal within the protocol's bounds
(`db.claims`); the step-by-step interleavings are in tests/consumers/test_interleavings.py.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import pytest

from tests.faults.counts import REPORTS, assert_promise, collect, settle
from tests.faults.harness import FaultStack, Sent, burst, burst_with_fault
from tests.support.pg_proxy import PgProxy

pytestmark = pytest.mark.timeout(120)
MARK = '"left_at"=NOW()'  # the mark's statement (db.claims.mark_left)
# Marked calls that never left settle as outcome_unknown after this; unmarked claims of a
# dead worker come back after its heartbeat's TTL (10 s) and one sweep.
FAST = {"SEND_OUTCOME_TIMEOUT_S": "4", "STREAM_IDLE_TIMEOUT_S": "2", "SWEEP_INTERVAL_S": "0.5"}


@pytest.fixture
async def proxy() -> AsyncIterator[list[PgProxy]]:
    started: list[PgProxy] = []
    yield started
    for p in started:
        await p.close()


async def test_worker_sigkill_between_the_mark_and_the_first_byte(make_stack, proxy) -> None:
    """The worker's first mark commits, its reply is held (the call waits before its first
    byte) and the worker is SIGKILLed there. The second worker never sends what the first
    marked: Meta never had those messages, and they end `outcome_unknown` after
    SEND_OUTCOME_TIMEOUT_S; everything else is sent once."""
    fs: FaultStack = await make_stack(**FAST)
    fs.stack.stop("worker")
    pg = PgProxy(fs.database_url)
    proxy.append(pg)
    await pg.start()
    pg.arm(MARK, "hold")
    fs.stack.start("worker1", "-m", "consumers", DATABASE_URL=pg.url)
    await fs.worker_started("worker1")

    sent = Sent()
    sending = asyncio.create_task(burst(fs, 100, spread_s=1, sent=sent))
    await asyncio.wait_for(pg.fired.wait(), 60)
    fs.stack.stop("worker1", signal.SIGKILL)
    held = await fs.sql(
        "SELECT id::text AS id FROM messages WHERE left_at IS NOT NULL AND status = 'sending'"
    )
    fs.stack.start("worker2", "-m", "consumers")
    await sending
    left = await settle(fs, sent.accepted, timeout_s=4 + 10 + 30)
    c = await collect(
        fs, "worker SIGKILL between the mark and the first byte", sent, marked_at_kill=len(held)
    )
    assert left is None, f"never settled: {left}"
    unknown = {i for i, s in c.statuses.items() if s == "failed"}
    assert unknown, "no call was caught between its mark and its first byte"
    assert not unknown & set(c.meta_accepted), "outcome_unknown for a message Meta had"
    assert unknown <= {r["id"] for r in held}
    assert_promise(c, failed_ok=("outcome_unknown",), redelivery_ok=True)


async def test_redis_restarted_without_its_data_mid_burst(make_stack) -> None:
    """Redis is killed and comes back empty: streams, groups, heartbeats, rate schedules and
    queued entries gone. PostgreSQL holds every message and every claim's mark, so each
    accepted message is still sent exactly once and ends terminal; what was only in Redis
    (Meta's status webhooks acknowledged but not yet processed) is counted, not asserted:
    recovering those is the Redis Cluster issue's."""
    fs: FaultStack = await make_stack(**FAST)
    redis = fs.servers.redis

    async def wipe(sent: Sent) -> None:
        redis.stop(signal.SIGKILL)
        redis.forget()
        await asyncio.sleep(1)
        redis.start()

    sent, _ = await burst_with_fault(fs, wipe, after_meta_accepted=100, count=300)
    left = await settle(fs, sent.accepted, timeout_s=60)
    c = await collect(fs, "Redis restarted without its data mid-burst", sent)
    assert left is None, f"never settled: {left}"
    lost = {(i, s) for i in c.meta_accepted for s in ("sent", "delivered", "read")}
    lost -= c.expected_events
    REPORTS[-1] += f"\n  statuses Meta sent that were lost with Redis: {len(lost)}"
    assert_promise(
        c,
        failed_ok=("outcome_unknown",),
        redelivery_ok=True,
        meta_statuses=(),  # the webhooks Redis lost: see the docstring
    )
