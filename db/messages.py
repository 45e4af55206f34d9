"""Outbound messages (`messages`): insert, claim, park, look up. Statuses: `db.statuses`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from pypika import CustomFunction, Parameter, PostgreSQLQuery, Table
from pypika import functions as fn
from pypika.terms import Case

import db
from core.names import QUEUED, SENDING
from db import Params

messages = Table("messages")
_any = CustomFunction("ANY", ["array"])
_all = CustomFunction("ALL", ["array"])


def param(name: str, cast: str = "") -> Parameter:
    return Parameter(f"{name}::{cast}" if cast else name)


Queued = tuple[UUID, str]  # a message to publish on its number's stream: (id, phone_number_id)
_QUEUED = ("id", "phone_number_id")


def _queued(rows: list[asyncpg.Record]) -> list[Queued]:
    return [(r["id"], r["phone_number_id"]) for r in rows]


@dataclass(frozen=True, slots=True)
class NewMessage:
    id: UUID
    idempotency_key: str | None
    request_hash: str
    recipient: str
    type: str
    payload: dict[str, Any]
    metadata: dict[str, Any] | None
    phone_number_id: str  # the business number it goes from
    expires_at: datetime | None = None  # not written to Meta by then: failed, `expired`


_COLUMNS = {
    "id": "uuid",
    "idempotency_key": "text",
    "request_hash": "text",
    "recipient": "text",
    "type": "text",
    "payload": "jsonb",
    "metadata": "jsonb",
    "phone_number_id": "text",
    "expires_at": "timestamptz",
}


async def insert(conn: asyncpg.Connection | asyncpg.Pool, m: NewMessage) -> asyncpg.Record | None:
    """Store a queued message; None when its idempotency key is already taken."""
    return (await insert_many(conn, [m])).get(m.id)


async def insert_many(
    conn: asyncpg.Connection | asyncpg.Pool, batch: list[NewMessage]
) -> dict[UUID, asyncpg.Record]:
    """Store queued messages in one statement: `{id: (id, status, created_at)}` of the rows
    stored; a message whose idempotency key is taken (also by an earlier one of `batch`)
    is left out."""
    rows = [tuple(getattr(m, name) for name in _COLUMNS) for m in batch]
    stored = await db.insert_rows(
        conn,
        messages,
        _COLUMNS,
        rows,
        conflict=("idempotency_key",),
        returning=("id", "status", "created_at"),
    )
    return {r["id"]: r for r in stored}


async def delete_queued(conn: asyncpg.Connection | asyncpg.Pool, ids: list[UUID]) -> set[UUID]:
    """Undo inserts whose stream publish failed, so a 503 really means "nothing happened".

    Returns the ids deleted. A message left out was already claimed by a sender, so its
    publish did land (a timeout after the write): it is accepted, not undone.
    """
    p = Params()
    q = (
        PostgreSQLQuery.from_(messages)
        .delete()
        .where((messages.id == _any(p(ids, "uuid[]"))) & (messages.status == QUEUED))
        .returning(messages.id)
    )
    return {r["id"] for r in await conn.fetch(str(q), *p.args)}


async def get(conn: asyncpg.Connection | asyncpg.Pool, message_id: UUID) -> asyncpg.Record | None:
    p = Params()
    q = PostgreSQLQuery.from_(messages).select("*").where(messages.id == p(message_id))
    return await conn.fetchrow(str(q), *p.args)


async def get_by_idempotency_keys(
    conn: asyncpg.Connection | asyncpg.Pool, keys: list[str]
) -> dict[str, asyncpg.Record]:
    """The messages stored under these idempotency keys, by key."""
    p = Params()
    q = (
        PostgreSQLQuery.from_(messages)
        .select("*")
        .where(messages.idempotency_key == _any(p(keys, "text[]")))
    )
    return {r["idempotency_key"]: r for r in await conn.fetch(str(q), *p.args)}


async def claim(
    conn: asyncpg.Connection | asyncpg.Pool, ids: list[UUID], worker: str, number: str
) -> list[asyncpg.Record]:
    """Move queued messages of business number `number` that are due to sending, claimed by
    `worker`, right before their Meta call.

    Only a queued row moves, so a duplicated stream entry or a second worker can never send
    the same message twice; a parked row moves only once its next attempt is due, an expired
    one never (`expired`), and one of another number never (its own number's limits apply).
    """
    p = Params()
    due = db.is_due(messages) & (messages.expires_at.isnull() | (messages.expires_at > fn.Now()))
    due &= messages.phone_number_id == p(number)
    q = (
        PostgreSQLQuery.update(messages)
        .set(messages.status, SENDING)
        .set(messages.claimed_by, p(worker))
        .set(messages.sending_at, fn.Now())
        .set(messages.updated_at, fn.Now())
        .set(messages.next_attempt_at, None)
        .set(messages.attempts, messages.attempts + 1)
        .where((messages.id == _any(p(ids, "uuid[]"))) & (messages.status == QUEUED) & due)
        .returning("id", "recipient", "payload", "attempts")
    )
    return await conn.fetch(str(q), *p.args)


@dataclass(frozen=True, slots=True)
class Parked:
    """A message put back to `queued` until `until`, with the error that made it wait."""

    message_id: UUID
    until: datetime
    error: dict[str, Any] | None = None
    claimed: bool = True  # we moved it to sending (else: still queued, never claimed)
    counts: bool = True  # the Meta call counts as an attempt (not when throttled or paused)


async def park(conn: asyncpg.Connection | asyncpg.Pool, parked: list[Parked]) -> None:
    """Park messages; the scheduler re-publishes them when due. A claimed row is parked only
    while still `sending`, an unclaimed one only while `queued`: never someone else's claim."""
    if parked:
        rows = [
            (
                p.message_id,
                p.until,
                p.error,
                *((SENDING, not p.counts) if p.claimed else (QUEUED, False)),
            )
            for p in sorted(parked, key=lambda p: p.message_id)
        ]
        await conn.executemany(_PARK, rows)


def _park_sql() -> str:
    return str(
        PostgreSQLQuery.update(messages)
        .set(messages.status, QUEUED)
        .set(messages.next_attempt_at, param("$2", "timestamptz"))
        .set(messages.last_error, fn.Coalesce(param("$3", "jsonb"), messages.last_error))
        .set(
            messages.attempts,
            Case().when(param("$5", "boolean"), messages.attempts - 1).else_(messages.attempts),
        )
        .set(messages.updated_at, fn.Now())
        .where((messages.id == param("$1")) & (messages.status == param("$4", "text")))
    )


_PARK = _park_sql()


async def contexts(conn: asyncpg.Connection, ids: list[UUID]) -> dict[UUID, asyncpg.Record]:
    """What every Hub event about these messages echoes: wamid, recipient, metadata, number."""
    p = Params()
    q = (
        PostgreSQLQuery.from_(messages)
        .select(
            messages.id,
            messages.wamid,
            messages.recipient,
            messages.metadata,
            messages.status,
            messages.phone_number_id,
        )
        .where(messages.id == _any(p(list(set(ids)), "uuid[]")))
    )
    return {r["id"]: r for r in await conn.fetch(str(q), *p.args)}


async def parties(conn: asyncpg.Connection, ids: list[UUID]) -> dict[UUID, asyncpg.Record]:
    """Who each of these messages that exist is from and to: `phone_number_id`, `recipient`."""
    if not ids:
        return {}
    p = Params()
    q = (
        PostgreSQLQuery.from_(messages)
        .select(messages.id, messages.phone_number_id, messages.recipient)
        .where(messages.id == _any(p(list(set(ids)), "uuid[]")))
    )
    return {r["id"]: r for r in await conn.fetch(str(q), *p.args)}


async def ids_by_wamid(conn: asyncpg.Connection, wamids: list[str]) -> dict[str, UUID]:
    """Our ids for Meta's wamids, for statuses that came without our callback data."""
    if not wamids:
        return {}
    p = Params()
    q = (
        PostgreSQLQuery.from_(messages)
        .select(messages.wamid, messages.id)
        .where(messages.wamid == _any(p(list(set(wamids)), "text[]")))
    )
    return {r["wamid"]: r["id"] for r in await conn.fetch(str(q), *p.args)}


async def expired(
    conn: asyncpg.Connection | asyncpg.Pool, ids: list[UUID] | None = None, limit: int = 1000
) -> list[UUID]:
    """Queued messages past their validity (of `ids`, or any): never to be sent."""
    p = Params()
    where = (
        (messages.status == QUEUED)
        & messages.expires_at.notnull()
        & (messages.expires_at <= fn.Now())
    )
    if ids is not None:
        where &= messages.id == _any(p(ids, "uuid[]"))
    q = PostgreSQLQuery.from_(messages).select(messages.id).where(where).limit(limit)
    return [r["id"] for r in await conn.fetch(str(q), *p.args)]


async def claimants(conn: asyncpg.Connection | asyncpg.Pool) -> list[str]:
    """The workers that hold messages `sending`."""
    q = (
        PostgreSQLQuery.from_(messages)
        .select(messages.claimed_by)
        .distinct()
        .where((messages.status == SENDING) & messages.claimed_by.notnull())
    )
    return [r["claimed_by"] for r in await conn.fetch(str(q))]


async def requeue_unsent(
    conn: asyncpg.Connection | asyncpg.Pool, worker: str, left: list[UUID]
) -> list[Queued]:
    """A dead `worker`'s messages still `sending` whose Meta call never started (not in
    `left`): queued again, due at once, the try refunded."""
    p = Params()
    q = (
        PostgreSQLQuery.update(messages)
        .set(messages.status, QUEUED)
        .set(messages.claimed_by, None)
        .set(messages.next_attempt_at, None)
        .set(messages.attempts, messages.attempts - 1)
        .set(messages.published_at, fn.Now())
        .set(messages.updated_at, fn.Now())
        .where(
            (messages.status == SENDING)
            & (messages.claimed_by == p(worker))
            & (messages.id != _all(p(left, "uuid[]")))
        )
        .returning(messages.id, messages.phone_number_id)
    )
    return _queued(await conn.fetch(str(q), *p.args))


async def republish_stale(
    conn: asyncpg.Connection | asyncpg.Pool, number: str, older_than: datetime, limit: int = 1000
) -> list[Queued]:
    """Queued messages of business `number` last published before `older_than`; marks them
    published now."""
    rows = await db.republish_stale(
        conn,
        messages,
        QUEUED,
        older_than,
        _QUEUED,
        limit,
        where=lambda p: messages.phone_number_id == p(number),
    )
    return _queued(rows)


async def stuck_sending(
    conn: asyncpg.Connection | asyncpg.Pool, older_than: datetime, limit: int = 1000
) -> list[asyncpg.Record]:
    """Messages claimed before `older_than` that never got an answer or a status: their
    `id` and who claimed them (`claimed_by`)."""
    p = Params()
    q = (
        PostgreSQLQuery.from_(messages)
        .select(messages.id, messages.claimed_by)
        .where((messages.status == SENDING) & (messages.sending_at < p(older_than)))
        .orderby(messages.sending_at)
        .limit(limit)
    )
    return await conn.fetch(str(q), *p.args)


async def republish_due(conn: asyncpg.Connection | asyncpg.Pool, limit: int = 1000) -> list[Queued]:
    """Parked messages whose next attempt is due; unparked and marked published now."""
    return _queued(await db.republish_due(conn, messages, QUEUED, _QUEUED, limit))
