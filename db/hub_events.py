"""The Hub event outbox (`hub_events`): one row per event, with its delivery state.

An event's id is derived from what it describes (`event_id`), so the same input can never
make a second event, and the Hub de-duplicates its retries on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

import asyncpg
from pypika import CustomFunction, Order, PostgreSQLQuery, Table
from pypika import functions as fn
from pypika.terms import Case

import db
from core.names import HUB_DEAD, HUB_DELIVERED, HUB_PENDING
from db import Params

hub_events = Table("hub_events")
attempts_table = Table("hub_event_attempts")
_any = CustomFunction("ANY", ["array"])
_NAMESPACE = UUID("5b0f2a4e-8d1c-4e55-9a43-0c6f3f1f7a10")


def event_id(*parts: str) -> str:
    """The id of the event about `parts` (message id + status, "inbound" + wamid, ...)."""
    return "evt_" + uuid5(_NAMESPACE, ":".join(parts)).hex


@dataclass(frozen=True, slots=True)
class HubEvent:
    id: str
    type: str
    message_id: UUID | None
    payload: dict[str, Any]  # the envelope POSTed to the Hub


@dataclass(frozen=True, slots=True)
class Attempt:
    """One POST to the Hub and what it decided: delivered, retry at `next_attempt_at`, dead."""

    event_id: str
    outcome: str  # HUB_DELIVERED, HUB_PENDING (retry later) or HUB_DEAD
    attempted_at: datetime
    latency_ms: int
    status_code: int | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None


async def insert_many(conn: asyncpg.Connection, events: list[HubEvent]) -> set[str]:
    """Add events to the outbox; return the ids that were new."""
    events = sorted(events, key=lambda e: e.id)  # one lock order everywhere: no deadlocks
    inserted = await db.insert_rows(
        conn,
        hub_events,
        {"id": "text", "type": "text", "message_id": "uuid", "payload": "jsonb"},
        [(e.id, e.type, e.message_id, e.payload) for e in events],
        conflict=("id",),
        returning=("id",),
    )
    return {r["id"] for r in inserted}


async def lease(
    conn: asyncpg.Connection | asyncpg.Pool, ids: list[str], seconds: float
) -> list[asyncpg.Record]:
    """Take the events among `ids` that are pending and due, for `seconds`.

    The lease (`next_attempt_at` pushed ahead) means a duplicate entry or a reclaimed batch
    finds them taken and POSTs nothing; if this worker dies mid-POST the lease runs out and
    the scheduler re-publishes them. Recording the attempt replaces the lease.
    """
    p = Params()
    taken = (
        PostgreSQLQuery.from_(hub_events)
        .select(hub_events.id)
        .where(
            (hub_events.id == _any(p(sorted(set(ids)), "text[]")))
            & (hub_events.status == HUB_PENDING)
            & db.is_due(hub_events)
        )
        .orderby(hub_events.id)
        .for_update(skip_locked=True)
    )
    q = (
        PostgreSQLQuery.update(hub_events)
        .set(hub_events.next_attempt_at, fn.Now() + p(timedelta(seconds=seconds), "interval"))
        .where(hub_events.id.isin(taken))
        .returning(hub_events.id, hub_events.payload, hub_events.attempts)
    )
    return await conn.fetch(str(q), *p.args)


async def record_attempts(conn: asyncpg.Connection, attempts: list[Attempt]) -> None:
    """Store each POST and apply its outcome to the event, in one transaction."""
    if not attempts:
        return
    attempts = sorted(attempts, key=lambda a: a.event_id)
    async with conn.transaction():
        await conn.executemany(
            _RECORD_OUTCOME,
            [(a.event_id, a.outcome, a.status_code, a.error, a.next_attempt_at) for a in attempts],
        )
        await db.insert_rows(
            conn,
            attempts_table,
            {
                "event_id": "text",
                "attempted_at": "timestamptz",
                "status_code": "int",
                "latency_ms": "int",
                "error": "text",
            },
            [(a.event_id, a.attempted_at, a.status_code, a.latency_ms, a.error) for a in attempts],
        )


def _record_outcome_sql() -> str:
    p = Params()
    event_id, status, code, error = p(None), p(None, "text"), p(None), p(None)
    next_attempt_at = p(None, "timestamptz")
    return str(
        PostgreSQLQuery.update(hub_events)
        .set(hub_events.status, status)
        .set(hub_events.last_status_code, code)
        .set(hub_events.last_error, error)
        .set(hub_events.attempts, hub_events.attempts + 1)
        .set(hub_events.next_attempt_at, next_attempt_at)
        .set(hub_events.delivered_at, Case().when(status == HUB_DELIVERED, fn.Now()))
        .where((hub_events.id == event_id) & (hub_events.status == HUB_PENDING))
    )


_RECORD_OUTCOME = _record_outcome_sql()


async def park(conn: asyncpg.Connection | asyncpg.Pool, ids: list[str], until: datetime) -> None:
    """Hold pending events until `until` without counting an attempt (the Hub is paused)."""
    p = Params()
    q = (
        PostgreSQLQuery.update(hub_events)
        .set(hub_events.next_attempt_at, p(until))
        .where(
            (hub_events.id == _any(p(sorted(ids), "text[]"))) & (hub_events.status == HUB_PENDING)
        )
    )
    await conn.execute(str(q), *p.args)


async def replay(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    ids: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[str]:
    """Give dead events a fresh schedule: by id, by creation time range, or all of them.

    They become pending and due now; the scheduler publishes them within RETRY_POLL_S.
    """
    p = Params()
    where = hub_events.status == HUB_DEAD
    if ids is not None:
        where &= hub_events.id == _any(p(ids, "text[]"))
    if since is not None:
        where &= hub_events.created_at >= p(since)
    if until is not None:
        where &= hub_events.created_at < p(until)
    q = (
        PostgreSQLQuery.update(hub_events)
        .set(hub_events.status, HUB_PENDING)
        .set(hub_events.attempts, 0)
        .set(hub_events.next_attempt_at, fn.Now())
        .where(where)
        .returning(hub_events.id)
    )
    return [r["id"] for r in await conn.fetch(str(q), *p.args)]


async def republish_due(
    conn: asyncpg.Connection | asyncpg.Pool, limit: int = 1000
) -> list[asyncpg.Record]:
    """Parked events whose next attempt is due; unparked and marked published now."""
    return await db.republish_due(
        conn, hub_events, HUB_PENDING, ("id", "type", "message_id"), limit
    )


async def republish_stale(
    conn: asyncpg.Connection | asyncpg.Pool, older_than: datetime, limit: int = 1000
) -> list[asyncpg.Record]:
    """Pending events last published before `older_than`; marks them published now."""
    return await db.republish_stale(
        conn, hub_events, HUB_PENDING, older_than, ("id", "type", "message_id"), limit
    )


async def dead(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    """How many events exhausted their retries, for /health/."""
    q = PostgreSQLQuery.from_(hub_events).select(fn.Count("*")).where(hub_events.status == HUB_DEAD)
    return await conn.fetchval(str(q))


_SUMMARY = (
    hub_events.payload.get_path_text_value("{data,status}").as_("about"),  # a status event's
    "id",
    "type",
    "message_id",
    "status",
    "attempts",
    "last_status_code",
    "last_error",
    "next_attempt_at",
    "created_at",
    "delivered_at",
)


async def about_message(
    conn: asyncpg.Connection | asyncpg.Pool, message_id: UUID | None, ids: Sequence[str] = ()
) -> list[asyncpg.Record]:
    """Every event about a message, plus the events `ids` (an inbound message's), oldest
    first; for operators (`python -m ops message`)."""
    p = Params()
    where = (hub_events.message_id == p(message_id)) | (
        hub_events.id == _any(p(list(ids), "text[]"))
    )
    q = (
        PostgreSQLQuery.from_(hub_events)
        .select(*_SUMMARY)
        .where(where)
        .orderby(hub_events.created_at)
        .orderby(hub_events.id)
    )
    return await conn.fetch(str(q), *p.args)


async def attempts_of(
    conn: asyncpg.Connection | asyncpg.Pool, event_ids: list[str]
) -> list[asyncpg.Record]:
    """Every recorded POST of these events, in the order they were made."""
    p = Params()
    a = attempts_table
    q = (
        PostgreSQLQuery.from_(a)
        .select(a.event_id, a.attempted_at, a.status_code, a.latency_ms, a.error)
        .where(a.event_id == _any(p(event_ids, "text[]")))
        .orderby(a.attempted_at)
        .orderby(a.id)
    )
    return await conn.fetch(str(q), *p.args)


async def dead_events(
    conn: asyncpg.Connection | asyncpg.Pool, limit: int = 100
) -> list[asyncpg.Record]:
    """The newest dead events with their reasons, for operators."""
    q = (
        PostgreSQLQuery.from_(hub_events)
        .select(*_SUMMARY)
        .where(hub_events.status == HUB_DEAD)
        .orderby(hub_events.created_at, order=Order.desc)
        .limit(limit)
    )
    return await conn.fetch(str(q))
