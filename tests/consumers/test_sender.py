"""consumers.sender against a scripted Meta over real sockets, with real PostgreSQL and Redis:
each answer ends where the retry policy says, and throttling never burns a message's tries."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from consumers import liveness, scheduler, sender
from consumers.context import Context
from consumers.runner import Entry
from core.names import PAIR_LIMIT_KEY, SEND_PAUSED_KEY, WORKER_KEY
from db import messages, service_windows
from db.messages import NewMessage
from tests.support.edge import OK, Reply, meta_error, worker_context
from tests.support.settings import HUB_STREAM, NUMBER, OUTBOUND

A, B = "4915100000001", "4915100000002"


@pytest.fixture
def worker_env() -> dict[str, str]:
    return {"SEND_MAX_ATTEMPTS": "3"}


async def queue(
    pool: asyncpg.Pool, to: str, attempts: int = 0, expires_at: datetime | None = None
) -> uuid.UUID:
    message_id = uuid.uuid4()
    payload = {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "hi"}}
    new = NewMessage(message_id, None, "0" * 64, to, "text", payload, None, NUMBER, expires_at)
    await messages.insert(pool, new)
    await pool.execute("UPDATE messages SET attempts = $2 WHERE id = $1", message_id, attempts)
    return message_id


async def send(ctx: Context, *ids: uuid.UUID) -> None:
    entries = [Entry(f"{i}-0", {"message_id": str(m)}) for i, m in enumerate(ids, 1)]
    assert await sender.handle(ctx, entries) == {}


async def row(pool: asyncpg.Pool, message_id: uuid.UUID) -> asyncpg.Record:
    return await pool.fetchrow("SELECT * FROM messages WHERE id = $1", message_id)


def waits(r: asyncpg.Record) -> float:
    return (r["next_attempt_at"] - datetime.now(UTC)).total_seconds()


# label, Meta's answer, attempts before, then: status, attempts after, parked?, error code
CASES: list[tuple[str, Reply, int, str, int, bool, object]] = [
    ("accepted", OK, 0, "sent", 1, False, None),
    ("5xx is parked for a retry", meta_error(2, 500), 0, "queued", 1, True, 2),
    ("131000 is parked for a retry", meta_error(131000), 0, "queued", 1, True, 131000),
    ("5xx on the last try fails", meta_error(2, 500), 2, "failed", 3, False, 2),
    ("throttled: parked, try refunded", meta_error(130429, 429), 2, "queued", 2, True, 130429),
    ("pair limit: parked, refunded", meta_error(131056), 2, "queued", 2, True, 131056),
    ("spam limit: paused, refunded", meta_error(131048), 2, "queued", 2, True, 131048),
    ("token expired: paused, refunded", meta_error(190, 401), 0, "queued", 0, True, 190),
    ("permanent rejection fails", meta_error(131026), 0, "failed", 1, False, 131026),
    ("131062 fails, never retried", meta_error(131062, 500), 0, "failed", 1, False, 131062),
]


@pytest.mark.parametrize(
    ("label", "reply", "before", "status", "after", "parked", "code"),
    CASES,
    ids=[c[0] for c in CASES],
)
async def test_each_meta_answer_ends_where_the_policy_says(
    ctx, edge, label, reply, before, status, after, parked, code
):
    message_id = await queue(ctx.pool, A, attempts=before)
    edge.answer(A, reply)
    await send(ctx, message_id)
    r = await row(ctx.pool, message_id)
    assert (r["status"], r["attempts"], r["next_attempt_at"] is not None) == (
        status,
        after,
        parked,
    )
    error = r["error"] if status == "failed" else r["last_error"]
    assert (error or {}).get("code") == code
    assert len(edge.calls) == 1


async def test_the_bsuid_metas_answer_names_is_stored_and_told_the_hub(ctx, edge):
    message_id = await queue(ctx.pool, A)
    contact = {"input": A, "wa_id": A, "user_id": "US.13491208655302741918"}
    edge.answer(A, (200, {"contacts": [contact], "messages": [{"id": "wamid.OK"}]}, {}))
    await send(ctx, message_id)
    r = await row(ctx.pool, message_id)
    assert (r["status"], r["recipient"], r["recipient_user_id"]) == (
        "sent",
        A,
        "US.13491208655302741918",
    )
    assert await ctx.redis.xlen(HUB_STREAM) == 1  # the `sent` event, published
    [event] = await ctx.pool.fetch("SELECT payload FROM hub_events")
    data = event["payload"]["data"]
    assert (data["recipient"], data["recipient_user_id"]) == (A, "US.13491208655302741918")


async def test_parked_message_comes_back_when_due_and_is_sent_once(ctx, edge):
    message_id = await queue(ctx.pool, A)
    edge.answer(A, meta_error(2, 500))
    await send(ctx, message_id)
    await send(ctx, message_id)  # a stray entry before it is due changes nothing
    assert len(edge.calls) == 1
    assert 0.7 < waits(await row(ctx.pool, message_id)) < 1.3  # RETRY_INITIAL_S=1, +-20%
    assert await scheduler.publish_due(ctx) == {"messages": 0, "hub_events": 0}

    await ctx.pool.execute("UPDATE messages SET next_attempt_at = now() WHERE id = $1", message_id)
    assert await scheduler.publish_due(ctx) == {"messages": 1, "hub_events": 0}
    [(entry_id, fields)] = await ctx.redis.xrange(OUTBOUND)
    await sender.handle(ctx, [Entry(entry_id, fields)])
    r = await row(ctx.pool, message_id)
    assert (r["status"], r["attempts"], r["next_attempt_at"]) == ("sent", 2, None)
    assert len(edge.calls) == 2


async def test_pair_limit_delays_only_that_recipient(ctx, edge):
    first, second, other = (
        await queue(ctx.pool, A),
        await queue(ctx.pool, A),
        await queue(ctx.pool, B),
    )
    edge.answer(A, meta_error(131056))
    await send(ctx, first)
    assert (
        await ctx.redis.pttl(
            PAIR_LIMIT_KEY.format(phone_number_id=ctx.settings.phone_number_id, recipient=A)
        )
        > 0
    )
    await send(ctx, second, other)  # A's second message waits without a Meta call
    assert edge.keys() == [A, B]
    assert (await row(ctx.pool, second))["status"] == "queued"
    assert (await row(ctx.pool, other))["status"] == "sent"
    assert waits(await row(ctx.pool, second)) > 1


@pytest.mark.slow
async def test_throughput_error_backs_off_the_whole_number(ctx, edge):
    first, later = await queue(ctx.pool, A), await queue(ctx.pool, B)
    edge.answer(A, meta_error(130429, 429))
    await send(ctx, first)
    started = asyncio.get_running_loop().time()
    await send(ctx, later)  # another recipient, same number: waits for the back-off
    assert asyncio.get_running_loop().time() - started > 1.5  # 2 x RETRY_INITIAL_S
    assert (await row(ctx.pool, later))["status"] == "sent"


async def test_paused_number_parks_without_calling_meta_and_alerts(ctx, edge):
    first, second = await queue(ctx.pool, A), await queue(ctx.pool, B)
    edge.answer(A, meta_error(131048))
    await send(ctx, first)
    pause = await ctx.redis.get(
        SEND_PAUSED_KEY.format(phone_number_id=ctx.settings.phone_number_id)
    )
    assert "131048" in pause
    await send(ctx, second)
    assert edge.keys() == [A]
    r = await row(ctx.pool, second)
    assert (r["status"], r["attempts"], r["last_error"]["code"]) == ("queued", 0, 131048)
    assert 200 < waits(r) <= 300  # SEND_PAUSE_S default


async def test_stop_hands_back_what_was_not_claimed(ctx, edge):
    ids = [await queue(ctx.pool, A) for _ in range(3)]
    ctx.stop.set()
    await send(ctx, *ids)
    assert edge.calls == []
    rows = [await row(ctx.pool, i) for i in ids]
    assert {(r["status"], r["attempts"]) for r in rows} == {("queued", 0)}
    assert all(waits(r) <= 0 for r in rows)  # due at once, for whichever worker is left


async def test_cancelled_batch_returns_claimed_but_unsent_messages(pool, redis, edge):
    async with worker_context(pool, redis, edge, SEND_RATE_PER_S="2") as ctx:
        ids = [await queue(pool, A) for _ in range(3)]  # slots at 0 s and 0.5 s; then wait
        task = asyncio.create_task(send(ctx, *ids))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    rows = {i: await row(pool, i) for i in ids}
    assert len(edge.calls) == 1
    assert rows[ids[0]]["status"] == "sent"
    assert {(r["status"], r["attempts"]) for i, r in rows.items() if i != ids[0]} == {("queued", 0)}


async def test_malformed_entry_is_dead_lettered_not_retried(ctx, edge):
    assert await sender.handle(ctx, [Entry("1-0", {"message_id": "nope"})]) == {
        "1-0": "message_id is not a UUID"
    }
    assert edge.calls == []


async def test_unknown_outcome_stays_sending(ctx, edge):
    message_id = await queue(ctx.pool, A)
    edge.answer(A, (200, {"messages": []}, {}))
    await send(ctx, message_id)
    r = await row(ctx.pool, message_id)
    assert (r["status"], r["attempts"]) == ("sending", 1)
    assert r["sending_at"] > datetime.now(UTC) - timedelta(seconds=5)


async def test_outage_mid_batch_hands_back_claimed_but_unsent_messages(ctx, edge):
    ids = [await queue(ctx.pool, A), await queue(ctx.pool, B)]

    async def broken(recipients: list[str]) -> dict[str, float]:
        raise ConnectionError("redis went away")  # the network edge fails after the claim

    ctx.lane().limiter.blocked = broken
    with pytest.raises(ConnectionError):
        await send(ctx, *ids)
    assert edge.calls == []
    rows = [await row(ctx.pool, i) for i in ids]
    assert {(r["status"], r["attempts"]) for r in rows} == {("queued", 0)}
    assert all(waits(r) <= 0 for r in rows)


async def test_a_batch_leaves_one_slot_apart(pool, redis, edge):
    """Five sends at 20/s: the last one leaves no earlier than its slot, 4 x 50 ms on."""
    async with worker_context(pool, redis, edge, SEND_RATE_PER_S="20") as ctx:
        ids = [await queue(pool, A) for _ in range(5)]
        edge.answer(A, *((200, {"messages": [{"id": f"wamid.{i}"}]}, {}) for i in range(5)))
        started = time.monotonic()
        await send(ctx, *ids)
    assert len(edge.calls) == 5
    assert 0.19 <= edge.calls[-1].at - started < 2


async def test_each_meta_call_is_marked_in_postgresql_before_it_leaves(ctx, edge):
    """Both calls were marked before their first byte. The one without an answer may have
    left: with its worker taken for dead and Redis emptied, it is still never queued again."""
    answered, in_doubt = await queue(ctx.pool, A), await queue(ctx.pool, B)
    edge.answer(B, (200, {"messages": []}, {}))  # an answer without a wamid: outcome unknown
    before = datetime.now(UTC)
    await send(ctx, answered, in_doubt)
    assert edge.keys() == [A, B]
    rows = [await row(ctx.pool, i) for i in (answered, in_doubt)]
    assert [r["status"] for r in rows] == ["sent", "sending"]
    for r, call in zip(rows, edge.calls, strict=True):
        assert before < r["sending_at"] <= r["left_at"] < wall_clock(call.at)
    await ctx.redis.flushdb()
    assert await liveness.recover(ctx.pool, ctx.redis, 0) == {"requeued": 0}
    assert (await row(ctx.pool, in_doubt))["status"] == "sending"


def wall_clock(monotonic: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=time.monotonic() - monotonic)


async def test_a_worker_taken_for_dead_still_sends_the_claims_nobody_took_back(ctx, edge):
    """Its key is only a hint: gone (Redis lost it, a stall), the worker's claims are still
    its own until the sweeper takes them back, and it sends them once."""
    message_id = await queue(ctx.pool, A)
    await ctx.redis.delete(WORKER_KEY.format(worker_id=ctx.liveness.worker_id))
    await send(ctx, message_id)
    assert len(edge.calls) == 1
    assert (await row(ctx.pool, message_id))["status"] == "sent"
    assert await liveness.recover(ctx.pool, ctx.redis, 0) == {"requeued": 0}


@pytest.mark.slow
async def test_messages_past_their_validity_are_never_sent_and_fail_expired(pool, redis, edge):
    """At 2 sends a second, six messages valid for 1.2 s: those whose slot comes in time are
    sent, the rest fail `expired` without a Meta call, and the Hub hears of each."""
    async with worker_context(pool, redis, edge, SEND_RATE_PER_S="2") as ctx:
        deadline = datetime.now(UTC) + timedelta(seconds=1.2)
        ids = [await queue(pool, A, expires_at=deadline) for _ in range(6)]
        edge.answer(A, *((200, {"messages": [{"id": f"wamid.v{i}"}]}, {}) for i in range(6)))
        await send(ctx, *ids)
    rows = [await row(pool, i) for i in ids]
    sent = [r for r in rows if r["status"] == "sent"]
    expired = [r for r in rows if r["status"] == "failed"]
    assert len(edge.calls) == len(sent) and 1 <= len(sent) <= 3  # slots at 0, 0.5, 1.0 s
    assert len(sent) + len(expired) == 6
    assert all(r["error"]["code"] == "expired" and r["attempts"] == 0 for r in expired)
    assert all(r["wamid"].startswith("wamid.v") for r in sent)
    failed_events = [
        f
        for _, f in await redis.xrange(HUB_STREAM)
        if f["message_id"] in {str(r["id"]) for r in expired}
    ]
    assert len(failed_events) == len(expired)


async def test_metas_131047_fails_the_message_and_closes_the_contacts_window(ctx, edge):
    message_id = await queue(ctx.pool, A)
    await service_windows.opened(ctx.pool, [(ctx.settings.phone_number_id, A, datetime.now(UTC))])
    edge.answer(A, meta_error(131047, title="Re-engagement message"))
    await send(ctx, message_id)
    r = await row(ctx.pool, message_id)
    assert (r["status"], r["error"]["code"]) == ("failed", 131047)
    window = await service_windows.get(ctx.pool, ctx.settings.phone_number_id, A)
    assert not window.is_open(datetime.now(UTC))
