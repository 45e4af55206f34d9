"""Status timeline and the Hub event outbox, on real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from consumers import events
from db import claims, messages, statuses
from db.messages import NewMessage
from db.statuses import StatusChange
from hub.events import status_event
from tests.support.settings import HUB_STREAM, NUMBER

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ERROR = {"code": 131026, "title": "Message undeliverable", "message": "receiver incapable"}
STAMPS = ("sent_at", "delivered_at", "read_at", "played_at", "failed_at")


def new_message() -> NewMessage:
    return NewMessage(
        id=uuid.uuid4(),
        idempotency_key=None,
        request_hash="0" * 64,
        recipient="4915112345678",
        type="text",
        payload={"type": "text", "text": {"body": "hi"}},
        metadata={"order": "A-17"},
        phone_number_id=NUMBER,
    )


async def queued(pool: asyncpg.Pool) -> uuid.UUID:
    m = new_message()
    assert await messages.insert(pool, m) is not None
    return m.id


def change(message_id: uuid.UUID, status: str, minute: int = 0, **extra: Any) -> StatusChange:
    return StatusChange(message_id, status, T0 + timedelta(minutes=minute), "meta", **extra)


async def record(pool: asyncpg.Pool, changes: list[StatusChange]) -> list[StatusChange]:
    async with pool.acquire() as conn, conn.transaction():
        return await statuses.record_statuses(conn, changes)


@pytest.mark.parametrize(
    ("sequence", "final", "stamped"),
    [
        (["sent", "delivered", "read"], "read", {"sent_at", "delivered_at", "read_at"}),
        (["read", "delivered", "sent"], "read", {"sent_at", "delivered_at", "read_at"}),
        (["delivered"], "delivered", {"delivered_at"}),
        (["failed", "read"], "failed", {"failed_at", "read_at"}),
        (["sent", "archived"], "sent", {"sent_at"}),
        (["archived"], "queued", set()),
        (
            ["sent", "delivered", "read", "played"],
            "played",
            {"sent_at", "delivered_at", "read_at", "played_at"},
        ),
        (["played", "read", "delivered"], "played", {"played_at", "read_at", "delivered_at"}),
        (["played", "failed"], "failed", {"played_at", "failed_at"}),
    ],
    ids=[
        "in-order",
        "out-of-order-never-moves-back",
        "single",
        "failed-is-terminal",
        "unknown-status-changes-nothing",
        "unknown-status-on-queued",
        "voice-note-played-after-read",
        "played-outranks-read",
        "failed-outranks-played",
    ],
)
async def test_status_sequence_ends_in_highest_rank(
    pool: asyncpg.Pool, sequence: list[str], final: str, stamped: set[str]
) -> None:
    message_id = await queued(pool)
    for minute, status in enumerate(sequence):
        assert await record(pool, [change(message_id, status, minute)]) != []
    row = await messages.get(pool, message_id)
    assert row["status"] == final
    assert {column for column in STAMPS if row[column] is not None} == stamped
    for minute, status in enumerate(sequence):
        if f"{status}_at" in STAMPS:
            assert row[f"{status}_at"] == T0 + timedelta(minutes=minute)
    timeline = await statuses.timeline(pool, message_id)
    assert [r["status"] for r in timeline] == sequence


async def test_duplicate_status_returns_nothing_and_changes_nothing(pool: asyncpg.Pool) -> None:
    message_id = await queued(pool)
    first = change(message_id, "delivered", 1)
    assert await record(pool, [first]) == [first]
    before = await messages.get(pool, message_id)
    assert await record(pool, [change(message_id, "delivered", 5)]) == []
    after = await messages.get(pool, message_id)
    assert after["delivered_at"] == T0 + timedelta(minutes=1)
    assert dict(after) == dict(before)
    assert len(await statuses.timeline(pool, message_id)) == 1


async def test_duplicate_within_one_batch_keeps_the_first_report(pool: asyncpg.Pool) -> None:
    message_id = await queued(pool)
    first = change(message_id, "delivered", 1)
    assert await record(pool, [first, change(message_id, "delivered", 7)]) == [first]
    row = await messages.get(pool, message_id)
    [entry] = await statuses.timeline(pool, message_id)
    assert row["delivered_at"] == entry["occurred_at"] == first.occurred_at


async def test_a_status_meta_reports_lifts_an_outcome_unknown_verdict(pool: asyncpg.Pool) -> None:
    """The sweeper guessed; Meta's later status is the truth. Any other failure is final."""
    guessed, refused = await queued(pool), await queued(pool)
    unknown = {"code": "outcome_unknown", "title": "No answer from Meta"}
    await record(pool, [StatusChange(guessed, "failed", T0, "sender", error=unknown)])
    await record(pool, [StatusChange(refused, "failed", T0, "meta", error={"code": 131026})])
    late = [change(guessed, "delivered", 3), change(refused, "delivered", 3)]
    assert set(await record(pool, late)) == set(late)  # both new: both make their event
    row = await messages.get(pool, guessed)
    assert (row["status"], row["error"], row["failed_at"]) == ("delivered", None, None)
    assert row["delivered_at"] == T0 + timedelta(minutes=3)
    assert [t["status"] for t in await statuses.timeline(pool, guessed)] == ["failed", "delivered"]
    assert (await messages.get(pool, refused))["status"] == "failed"
    await record(pool, [change(guessed, "failed", 4, error=unknown)])
    assert (await messages.get(pool, guessed))["status"] == "delivered"  # no second guess


async def test_failure_stores_its_error(pool: asyncpg.Pool) -> None:
    message_id = await queued(pool)
    await record(pool, [change(message_id, "sent", 0, wamid="wamid.ABC")])
    await record(pool, [change(message_id, "failed", 1, error=ERROR)])
    row = await messages.get(pool, message_id)
    assert (row["status"], row["error"], row["wamid"]) == ("failed", ERROR, "wamid.ABC")
    assert row["failed_at"] == T0 + timedelta(minutes=1)


async def test_one_batch_updates_many_messages(pool: asyncpg.Pool) -> None:
    first, second = await queued(pool), await queued(pool)
    applied = await record(
        pool,
        [change(first, "sent"), change(second, "delivered"), change(first, "read", 1)],
    )
    assert len(applied) == 3
    assert (await messages.get(pool, first))["status"] == "read"
    assert (await messages.get(pool, second))["status"] == "delivered"


async def hub_rows(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT id, type, message_id, payload FROM hub_events ORDER BY id")


async def test_each_new_status_makes_one_event_row_and_one_stream_entry(
    ctx, pool: asyncpg.Pool, redis: Redis
) -> None:
    message_id = await queued(pool)
    published = await events.record(ctx, [change(message_id, "sent", wamid="wamid.XYZ")])
    [row] = await hub_rows(pool)
    [(_, entry)] = await redis.xrange(HUB_STREAM)
    assert [e.id for e in published] == [row["id"]]
    assert entry == {"event_id": row["id"], "type": "message.status", "message_id": str(message_id)}
    data = row["payload"]["data"]
    assert (data["status"], data["wamid"], data["metadata"]) == (
        "sent",
        "wamid.XYZ",
        {"order": "A-17"},
    )


async def test_duplicate_status_makes_no_event(ctx, pool: asyncpg.Pool, redis: Redis) -> None:
    message_id = await queued(pool)
    await events.record(ctx, [change(message_id, "delivered", 1)])
    assert await events.record(ctx, [change(message_id, "delivered", 2)]) == []
    assert len(await hub_rows(pool)) == 1
    assert await redis.xlen(HUB_STREAM) == 1


MESSAGE_A, MESSAGE_B = uuid.uuid4(), uuid.uuid4()


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        (change(MESSAGE_A, "sent", 0), change(MESSAGE_A, "sent", 9, wamid="wamid.1"), True),
        (
            StatusChange(MESSAGE_A, "failed", T0, "sender"),
            StatusChange(MESSAGE_A, "failed", T0, "meta", error=ERROR),
            True,
        ),
        (change(MESSAGE_A, "sent"), change(MESSAGE_A, "delivered"), False),
        (change(MESSAGE_A, "sent"), change(MESSAGE_B, "sent"), False),
    ],
    ids=["later-replay", "other-source", "other-status", "other-message"],
)
def test_event_id_depends_only_on_message_and_status(
    first: StatusChange, second: StatusChange, same: bool
) -> None:
    context = {
        "wamid": None,
        "recipient": "4915112345678",
        "recipient_user_id": None,
        "metadata": None,
        "phone_number_id": NUMBER,
    }
    a, b = status_event(first, context), status_event(second, context)
    assert (a.id == b.id) is same


async def test_recorded_event_id_is_derived_from_message_and_status(
    ctx, pool: asyncpg.Pool, redis: Redis
) -> None:
    message_id = await queued(pool)
    [event] = await events.record(ctx, [change(message_id, "sent")])
    assert event.id == events.event_id(str(message_id), "sent")
    assert [r["id"] for r in await hub_rows(pool)] == [event.id]


@pytest.mark.slow
async def test_concurrent_batches_in_opposite_order_never_deadlock(pool: asyncpg.Pool) -> None:
    rows = await pool.fetch(
        "INSERT INTO messages (id, request_hash, recipient, type, payload, phone_number_id) "
        "SELECT gen_random_uuid(), '', '1', 'text', '{}', '1' FROM generate_series(1, 3000) "
        "RETURNING id"
    )
    ids = [r["id"] for r in rows]
    forward = [change(i, s) for i in ids for s in ("sent", "delivered")]
    backward = list(reversed(forward))
    for _ in range(3):
        await asyncio.gather(record(pool, forward), record(pool, backward))
    rows = await pool.fetch("SELECT status FROM messages WHERE id = ANY($1)", ids)
    assert {r["status"] for r in rows} == {"delivered"}


async def test_sweeper_verdict_never_overwrites_a_status_that_landed(pool: asyncpg.Pool) -> None:
    message_id = await queued(pool)
    await claims.claim(pool, [message_id], "worker-1", NUMBER)
    await record(pool, [change(message_id, "sent")])
    async with pool.acquire() as conn, conn.transaction():
        applied = await statuses.record_statuses(
            conn, [change(message_id, "failed", 1, error=ERROR)], only_while_sending=True
        )
    assert applied == []
    row = await messages.get(pool, message_id)
    assert (row["status"], row["error"]) == ("sent", None)


async def test_pricing_is_kept_when_both_sent_reports_are_in_one_batch(pool: asyncpg.Pool) -> None:
    """The group commit can put the sender's `sent` and Meta's (with pricing) in one write."""
    message_id = await queued(pool)
    pricing = {"pricing": {"billable": True, "category": "utility"}}
    sender = StatusChange(message_id, "sent", T0, "sender", wamid="wamid.A")
    [applied] = await record(pool, [sender, change(message_id, "sent", 1, details=pricing)])
    assert applied.source == "sender"
    [entry] = await statuses.timeline(pool, message_id)
    assert (entry["source"], entry["details"]) == ("sender", pricing)


async def test_pricing_from_a_repeated_status_is_kept_on_the_timeline(pool: asyncpg.Pool) -> None:
    message_id = await queued(pool)
    await record(pool, [StatusChange(message_id, "sent", T0, "sender", wamid="wamid.A")])
    pricing = {"pricing": {"billable": True, "category": "utility"}}
    assert await record(pool, [change(message_id, "sent", 1, details=pricing)]) == []
    [entry] = await statuses.timeline(pool, message_id)
    assert (entry["source"], entry["details"]) == ("sender", pricing)
    other = {"pricing": {"billable": False}}
    await record(pool, [change(message_id, "sent", 2, details=other)])  # the first one stays
    assert (await statuses.timeline(pool, message_id))[0]["details"] == pricing


@pytest.mark.parametrize(
    ("named", "revealed", "kept"),
    [
        (None, [None, None], None),  # a phone send Meta never names a BSUID for
        (None, ["US.1349", None], "US.1349"),  # Meta's send answer names it
        (None, [None, "US.1349"], "US.1349"),  # a later status names it
        ("US.1349", ["US.ENT.99", None], "US.1349"),  # the caller's stays
        (None, ["US.1349", "US.1350"], "US.1349"),  # the first revealed stays
    ],
    ids=["none", "answer", "later-status", "caller-named", "first-wins"],
)
async def test_the_recipients_bsuid_is_stored_once_revealed(
    pool: asyncpg.Pool, named: str | None, revealed: list[str | None], kept: str | None
) -> None:
    m = dataclasses.replace(new_message(), recipient_user_id=named)
    await messages.insert(pool, m)
    for status, user_id in zip(("sent", "delivered"), revealed, strict=True):
        await record(pool, [change(m.id, status, user_id=user_id)])
    row = await messages.get(pool, m.id)
    assert (row["recipient"], row["recipient_user_id"]) == ("4915112345678", kept)
    [context] = (await messages.parties(pool, [m.id])).values()
    assert context["recipient_user_id"] == kept
