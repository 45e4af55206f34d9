"""The send protocol under the interleavings that broke it (issue 20), driven step by step
with real PostgreSQL, Redis and a scripted Meta: two workers, lost replies (a proxy in
front of PostgreSQL), a stalled worker, Redis forgetting everything.

Each test asserts the two promises: Meta gets each message at most once, and every message
is terminal within the protocol's bounds (`db.claims`): an unmarked claim is queued again
within STREAM_IDLE_TIMEOUT_S + SWEEP_INTERVAL_S, a marked one is settled by its answer, its
status, or `outcome_unknown` after SEND_OUTCOME_TIMEOUT_S.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import pytest
from redis.asyncio import Redis

import db
from consumers import sender, sweeper
from consumers.context import Context
from consumers.runner import Entry
from core.failures import OUTAGES
from core.names import WORKER_KEY
from db import messages
from db.messages import NewMessage
from tests.support.edge import Scripted, worker_context
from tests.support.pg_proxy import PgProxy
from tests.support.settings import NUMBER, OUTBOUND

TERMINAL = ("sent", "delivered", "read", "failed")
ENV = {
    "SEND_OUTCOME_TIMEOUT_S": "1",
    "STREAM_IDLE_TIMEOUT_S": "1",
    "SWEEP_INTERVAL_S": "0.2",
    "SWEEP_STALE_S": "60",
}
UNREADABLE = (200, {"messages": []}, {})  # Meta took it; no wamid: it may have left
CLAIM = "SET \"status\"='sending'"  # the claim's statement (db.claims.claim)
MARK = '"left_at"=NOW()'  # the mark's statement (db.claims.mark_left)


async def queue(pool: asyncpg.Pool) -> uuid.UUID:
    """A queued text message to a recipient of its own (the scripted Meta's key)."""
    message_id, to = uuid.uuid4(), "49" + str(uuid.uuid4().int)[:11]
    payload = {"to": to, "type": "text", "biz_opaque_callback_data": str(message_id)}
    await messages.insert(
        pool, NewMessage(message_id, None, "0" * 64, to, "text", payload, None, NUMBER)
    )
    return message_id


def entries(*ids: uuid.UUID) -> list[Entry]:
    return [Entry(f"{n}-0", {"message_id": str(i)}) for n, i in enumerate(ids, 1)]


async def status(pool: asyncpg.Pool, message_id: uuid.UUID) -> str:
    return (await messages.get(pool, message_id))["status"]


def calls(edge: Scripted) -> Counter[str]:
    """Meta calls per message id."""
    return Counter(c.body.get("biz_opaque_callback_data") for c in edge.calls)


async def run_until_terminal(ctx: Context, ids: list[uuid.UUID], within_s: float) -> float:
    """Be the rest of a worker (its sweeper every SWEEP_INTERVAL_S, its sender on what lands
    on the outbound stream) until every message of `ids` is terminal; the seconds it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        await sweeper.sweep_once(ctx)
        if found := await ctx.redis.xrange(OUTBOUND):
            await ctx.redis.xdel(OUTBOUND, *(entry_id for entry_id, _ in found))
            await sender.handle(ctx, [Entry(entry_id, fields) for entry_id, fields in found])
        now = {i: await status(ctx.pool, i) for i in ids}
        if all(s in TERMINAL for s in now.values()):
            return loop.time() - started
        assert loop.time() - started < within_s, f"not terminal in {within_s} s: {now}"
        await asyncio.sleep(ctx.settings.sweep_interval_s)


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[PgProxy]:
    p = PgProxy(database_url)
    await p.start()
    yield p
    await p.close()


@pytest.fixture
async def proxied(proxy: PgProxy, pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Pool]:
    """A pool whose connections go through `proxy` (`pool` first empties the tables)."""
    p = await db.create_pool(proxy.url, min_size=1, max_size=4)
    yield p
    await p.close()


@pytest.mark.slow
async def test_a_call_that_may_have_left_is_never_sent_again_whatever_redis_forgot(
    pool: asyncpg.Pool, redis: Redis, edge: Scripted
) -> None:
    """Worker A's call reached Meta, whose answer it could not read; then A was gone longer
    than any mark Redis could keep, and Redis forgot everything (a restart without its data,
    a failover). Worker B never sends it again: the mark is PostgreSQL's. It ends
    `outcome_unknown` after SEND_OUTCOME_TIMEOUT_S (a status from Meta would lift it)."""
    async with (
        worker_context(pool, redis, edge, **ENV) as a,
        worker_context(pool, redis, edge, **ENV) as b,
    ):
        message_id = await queue(pool)
        edge.answer("*", UNREADABLE)
        assert await sender.handle(a, entries(message_id)) == {}
        assert await status(pool, message_id) == "sending"
        await redis.flushdb()
        await b.liveness.register()
        took = await run_until_terminal(b, [message_id], within_s=1 + 0.2 + 1)
    assert calls(edge) == {str(message_id): 1}
    row = await messages.get(pool, message_id)
    assert (row["status"], row["error"]["code"]) == ("failed", "outcome_unknown")
    assert took >= 0.5  # it waited for its answer, it was not queued again


@pytest.mark.slow
async def test_a_claim_whose_reply_was_lost_is_sent_within_the_bound(
    proxy: PgProxy, proxied: asyncpg.Pool, redis: Redis, edge: Scripted
) -> None:
    """The claim commits but its reply is lost (the connection drops): the batch fails as an
    outage and its retry finds nothing to claim. The worker is alive and never marked the
    claim; the sweep queues it again within STREAM_IDLE_TIMEOUT_S + SWEEP_INTERVAL_S, and it
    is sent once."""
    async with worker_context(proxied, redis, edge, **ENV) as ctx:
        message_id = await queue(proxied)
        proxy.arm(CLAIM, "drop")
        with pytest.raises(OUTAGES):
            await sender.handle(ctx, entries(message_id))
        assert proxy.fired.is_set()
        assert await status(proxied, message_id) == "sending"  # committed all the same
        assert await sender.handle(ctx, entries(message_id)) == {}  # the runner's retry
        assert edge.calls == []
        took = await run_until_terminal(ctx, [message_id], within_s=1 + 0.2 + 1)
    assert calls(edge) == {str(message_id): 1}
    assert await status(proxied, message_id) == "sent"
    assert took >= 0.5  # after the bound, not before


async def test_a_mark_whose_reply_was_lost_gives_the_claim_back(
    proxy: PgProxy, proxied: asyncpg.Pool, redis: Redis, edge: Scripted
) -> None:
    """The mark commits but the worker never hears of it: the call is withheld (nothing was
    written to Meta) and its holder gives the claim back, mark and try undone; it is sent
    once on its next turn instead of waiting for `outcome_unknown`."""
    async with worker_context(proxied, redis, edge, **ENV) as ctx:
        message_id = await queue(proxied)
        proxy.arm(MARK, "drop")
        assert await sender.handle(ctx, entries(message_id)) == {}
        assert proxy.fired.is_set() and edge.calls == []
        row = await messages.get(proxied, message_id)
        assert (row["status"], row["attempts"], row["left_at"]) == ("queued", 0, None)
        assert await sender.handle(ctx, entries(message_id)) == {}
    assert calls(edge) == {str(message_id): 1}
    assert await status(proxied, message_id) == "sent"


async def test_a_stalled_worker_resumed_after_its_key_expired_sends_nothing_twice(
    pool: asyncpg.Pool, redis: Redis, edge: Scripted
) -> None:
    """Worker A (one Meta call at a time) is stuck on a slow call while it holds a second
    claim, unmarked; its key expires. Worker B takes the claim back and sends it. When A
    resumes, the claim is no longer its: its mark fails and the call is withheld."""
    env = {**ENV, "SEND_CONCURRENCY": "1", "HTTP_TIMEOUT_S": "10"}
    async with (
        worker_context(pool, redis, edge, **env) as a,
        worker_context(pool, redis, edge, **env) as b,
    ):
        slow, waiting = await queue(pool), await queue(pool)
        slow_to, waiting_to = [(await messages.get(pool, i))["recipient"] for i in (slow, waiting)]
        edge.answer(slow_to, (200, {"messages": [{"id": "wamid.slow"}]}, {}))
        edge.answer(waiting_to, (200, {"messages": [{"id": "wamid.waiting"}]}, {}))
        edge.held[slow_to] = asyncio.Event()
        stuck = asyncio.create_task(sender.handle(a, entries(slow, waiting)))
        for _ in range(500):  # A's first call is at Meta, its second claim waits
            if edge.calls and await status(pool, waiting) == "sending":
                break
            await asyncio.sleep(0.01)
        await redis.delete(WORKER_KEY.format(worker_id=a.liveness.worker_id))
        await run_until_terminal(b, [waiting], within_s=0.2 + 1)  # B's first sweep
        edge.held[slow_to].set()
        assert await stuck == {}
    assert calls(edge) == {str(slow): 1, str(waiting): 1}
    assert [await status(pool, i) for i in (slow, waiting)] == ["sent", "sent"]
