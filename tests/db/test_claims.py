"""db.claims on real PostgreSQL: each invariant of the send protocol, and the races between
a mark and a take-back that PostgreSQL's row locks decide."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from db import claims, messages
from db.claims import Claim, Parked
from db.messages import NewMessage
from tests.support.settings import NUMBER

W1, W2 = "worker-1", "worker-2"
DAY_S = 86400.0  # a bound no claim of a test reaches


async def queued(pool: asyncpg.Pool) -> uuid.UUID:
    m = NewMessage(uuid.uuid4(), None, "0" * 64, "4915112345678", "text", {}, None, NUMBER)
    await messages.insert(pool, m)
    return m.id


async def claimed(pool: asyncpg.Pool, worker: str = W1) -> tuple[uuid.UUID, Claim]:
    message_id = await queued(pool)
    [row] = await claims.claim(pool, [message_id], worker, NUMBER)
    return message_id, Claim(worker, row["sending_at"])


async def state(pool: asyncpg.Pool, message_id: uuid.UUID) -> tuple[str, int, bool]:
    row = await messages.get(pool, message_id)
    return row["status"], row["attempts"], row["left_at"] is not None


async def test_claim_returns_each_queued_message_once(pool: asyncpg.Pool) -> None:
    ids = [await queued(pool) for _ in range(3)]
    first = await claims.claim(pool, ids, W1, NUMBER)
    assert sorted(r["id"] for r in first) == sorted(ids)
    assert await claims.claim(pool, ids, W1, NUMBER) == []
    rows = [await messages.get(pool, i) for i in ids]
    assert {(r["status"], r["attempts"], r["left_at"]) for r in rows} == {("sending", 1, None)}
    assert [r["sending_at"] for r in rows] == [r["sending_at"] for r in first]


async def test_a_claim_takes_only_its_own_numbers_messages(pool: asyncpg.Pool) -> None:
    ours = await queued(pool)
    assert await claims.claim(pool, [ours], W1, "999") == []  # another number's
    assert (await messages.get(pool, ours))["status"] == "queued"
    assert [r["id"] for r in await claims.claim(pool, [ours], W1, NUMBER)] == [ours]


async def test_concurrent_claims_split_messages_without_overlap(pool: asyncpg.Pool) -> None:
    ids = [await queued(pool) for _ in range(20)]
    async with pool.acquire() as a, pool.acquire() as b:
        left, right = await asyncio.gather(
            claims.claim(a, ids, W1, NUMBER), claims.claim(b, ids, W2, NUMBER)
        )
    claimed_ids = [r["id"] for r in left] + [r["id"] for r in right]
    assert sorted(claimed_ids) == sorted(ids)


async def test_message_not_queued_is_never_claimed(pool: asyncpg.Pool) -> None:
    message_id = await queued(pool)
    await pool.execute("UPDATE messages SET status = 'sent' WHERE id = $1", message_id)
    assert await claims.claim(pool, [message_id], W1, NUMBER) == []
    assert (await messages.get(pool, message_id))["status"] == "sent"


async def test_a_claim_is_marked_once_and_only_by_its_holder(pool: asyncpg.Pool) -> None:
    message_id, claim = await claimed(pool)
    assert await claims.mark_left(pool, W2, [(message_id, claim.at)]) == set()
    other_claim = claim.at - timedelta(microseconds=1)
    assert await claims.mark_left(pool, W1, [(message_id, other_claim)]) == set()
    assert await claims.mark_left(pool, W1, [(message_id, claim.at)]) == {message_id}
    assert await claims.mark_left(pool, W1, [(message_id, claim.at)]) == set()
    assert await state(pool, message_id) == ("sending", 1, True)


async def test_a_marked_claim_is_never_taken_back(pool: asyncpg.Pool) -> None:
    message_id, claim = await claimed(pool)
    await claims.mark_left(pool, W1, [(message_id, claim.at)])
    assert await claims.requeue_unmarked(pool, [W1], older_than_s=0) == []
    assert await state(pool, message_id) == ("sending", 1, True)
    assert await claims.claimants(pool) == []  # nothing of W1's left to take back


async def test_a_claim_taken_back_can_no_longer_be_marked(pool: asyncpg.Pool) -> None:
    message_id, claim = await claimed(pool)
    assert await claims.claimants(pool) == [W1]
    assert await claims.requeue_unmarked(pool, [W1], DAY_S) == [(message_id, NUMBER)]
    assert await state(pool, message_id) == ("queued", 0, False)  # the try refunded
    assert await claims.mark_left(pool, W1, [(message_id, claim.at)]) == set()


async def test_a_live_workers_unmarked_claim_is_taken_back_past_the_bound(
    pool: asyncpg.Pool,
) -> None:
    """Its worker alive (not in `dead`), the claim young: left alone; once older than the
    bound (its reply lost, say), queued again."""
    message_id, _ = await claimed(pool)
    assert await claims.requeue_unmarked(pool, [], 60) == []
    await pool.execute(
        "UPDATE messages SET sending_at = now() - interval '61 seconds' WHERE id = $1", message_id
    )
    assert await claims.requeue_unmarked(pool, [], 60) == [(message_id, NUMBER)]


@pytest.mark.slow
async def test_marks_and_take_backs_racing_never_both_win(pool: asyncpg.Pool) -> None:
    """200 claims, marked by their worker and taken back by a sweeper at the same moment,
    on two connections, in both orders: each claim is either marked (it stays `sending`) or
    taken back (queued, unmarked), never both, never neither."""
    for first_marks in (True, False):
        held = [await claimed(pool) for _ in range(200)]
        ids = [(i, c.at) for i, c in held]

        async def mark(conn: asyncpg.Connection, ids: list = ids) -> set[uuid.UUID]:
            return await claims.mark_left(conn, W1, ids)

        async def take_back(conn: asyncpg.Connection) -> set[uuid.UUID]:
            return {i for i, _ in await claims.requeue_unmarked(conn, [W1], DAY_S)}

        async with pool.acquire() as a, pool.acquire() as b:
            steps = (mark(a), take_back(b)) if first_marks else (take_back(b), mark(a))
            results = await asyncio.gather(*steps)
        marked, taken = results if first_marks else results[::-1]
        assert marked.isdisjoint(taken)
        assert marked | taken == {i for i, _ in held}
        rows = await pool.fetch(
            "SELECT id, status, left_at FROM messages WHERE id = ANY($1)", list(marked | taken)
        )
        for r in rows:
            expected = ("sending", True) if r["id"] in marked else ("queued", False)
            assert (r["status"], r["left_at"] is not None) == expected
        await pool.execute("DELETE FROM messages")


async def test_an_old_claim_never_gives_back_a_newer_one(pool: asyncpg.Pool) -> None:
    """W1's claim was taken back and the message claimed again (by W1 itself): the first
    claim's hand-back changes nothing; the holder of the second gives it back."""
    message_id, first = await claimed(pool)
    await claims.requeue_unmarked(pool, [W1], DAY_S)
    [row] = await claims.claim(pool, [message_id], W1, NUMBER)
    second = Claim(W1, row["sending_at"])
    await claims.mark_left(pool, W1, [(message_id, second.at)])
    now = datetime.now(UTC)
    await claims.park(pool, [Parked(message_id, now, claim=first, counts=False)])
    assert await state(pool, message_id) == ("sending", 1, True)  # its call may be in flight
    await claims.park(pool, [Parked(message_id, now, {"code": 2}, claim=second)])
    assert await state(pool, message_id) == ("queued", 1, False)  # Meta answered: one try


async def test_an_unclaimed_message_is_parked_only_while_queued(pool: asyncpg.Pool) -> None:
    message_id, _ = await claimed(pool)
    await claims.park(pool, [Parked(message_id, datetime.now(UTC))])
    assert await state(pool, message_id) == ("sending", 1, False)


async def test_unanswered_are_the_marked_claims_older_than_the_bound(pool: asyncpg.Pool) -> None:
    marked_long_ago, claim = await claimed(pool)
    await claims.mark_left(pool, W1, [(marked_long_ago, claim.at)])
    await pool.execute(
        "UPDATE messages SET left_at = now() - interval '1 hour' WHERE id = $1", marked_long_ago
    )
    marked_now, claim = await claimed(pool)
    await claims.mark_left(pool, W1, [(marked_now, claim.at)])
    never_marked, _ = await claimed(pool)
    await pool.execute(
        "UPDATE messages SET sending_at = now() - interval '1 hour' WHERE id = $1", never_marked
    )
    assert await claims.unanswered(pool, 600) == [marked_long_ago]


async def test_a_claim_carries_what_the_sender_needs_of_a_send_by_bsuid(
    pool: asyncpg.Pool,
) -> None:
    payload = {"recipient_type": "individual", "recipient": "US.1349", "type": "text"}
    m = NewMessage(uuid.uuid4(), None, "0" * 64, "US.1349", "text", payload, None, NUMBER)
    await messages.insert(pool, dataclasses.replace(m, recipient_user_id="US.1349"))
    [row] = await claims.claim(pool, [m.id], W1, NUMBER)
    assert (row["recipient"], row["recipient_user_id"]) == ("US.1349", "US.1349")
    assert row["payload"] == payload  # written to Meta as stored: `recipient`, no `to`
