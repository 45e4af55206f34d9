"""The Hub event outbox (`hub_events`): one row per event, with its delivery state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from pypika import CustomFunction, PostgreSQLQuery, Table
from pypika import functions as fn
from pypika.terms import Case

import db
from db import Params
from server.constants import HUB_DEAD, HUB_DELIVERED, HUB_PENDING

hub_events = Table("hub_events")
_any = CustomFunction("ANY", ["array"])
_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class HubEvent:
    id: str
    type: str
    message_id: UUID | None
    payload: dict[str, Any]  # the envelope POSTed to the Hub


@dataclass(frozen=True, slots=True)
class Attempt:
    event_id: str
    status_code: int | None
    error: str | None


async def insert_many(conn: asyncpg.Connection, events: list[HubEvent]) -> set[str]:
    """Add events to the outbox; return the ids that were new."""
    new: set[str] = set()
    for start in range(0, len(events), _CHUNK):
        p = Params()
        q = PostgreSQLQuery.into(hub_events).columns("id", "type", "message_id", "payload")
        for e in events[start : start + _CHUNK]:
            q = q.insert(p(e.id), p(e.type), p(e.message_id), p(e.payload, "jsonb"))
        q = q.on_conflict("id").do_nothing().returning("id")
        new.update(r["id"] for r in await conn.fetch(str(q), *p.args))
    return new


async def pending(conn: asyncpg.Connection | asyncpg.Pool, ids: list[str]) -> list[asyncpg.Record]:
    """The events among `ids` still waiting for delivery (a re-published one may be done)."""
    p = Params()
    q = (
        PostgreSQLQuery.from_(hub_events)
        .select(hub_events.id, hub_events.payload, hub_events.attempts)
        .where((hub_events.id == _any(p(ids, "text[]"))) & (hub_events.status == HUB_PENDING))
    )
    return await conn.fetch(str(q), *p.args)


async def record_outcomes(
    conn: asyncpg.Connection | asyncpg.Pool,
    delivered: list[Attempt],
    dead: list[Attempt],
    attempts: dict[str, int],
) -> None:
    """Mark events delivered or dead, with the last status code or error and attempt count."""
    rows = [
        (a.event_id, HUB_DELIVERED, a.status_code, a.error, attempts[a.event_id]) for a in delivered
    ]
    rows += [(a.event_id, HUB_DEAD, a.status_code, a.error, attempts[a.event_id]) for a in dead]
    if rows:
        await conn.executemany(_RECORD_OUTCOME, sorted(rows))


def _record_outcome_sql() -> str:
    p = Params()
    event_id, status, code, error, attempts = p(None), p(None, "text"), p(None), p(None), p(None)
    return str(
        PostgreSQLQuery.update(hub_events)
        .set(hub_events.status, status)
        .set(hub_events.last_status_code, code)
        .set(hub_events.last_error, error)
        .set(hub_events.attempts, hub_events.attempts + attempts)
        .set(hub_events.delivered_at, Case().when(status == HUB_DELIVERED, fn.Now()))
        .where(hub_events.id == event_id)
    )


_RECORD_OUTCOME = _record_outcome_sql()


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
