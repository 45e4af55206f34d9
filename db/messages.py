"""Outbound messages (`messages`): insert, look up, republish. Claims and marks: `db.claims`;
statuses: `db.statuses`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from pypika import CustomFunction, Parameter, PostgreSQLQuery, Table
from pypika import functions as fn

import db
from core.names import QUEUED
from db import Params

messages = Table("messages")
_any = CustomFunction("ANY", ["array"])


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
    recipient: str  # the key: the phone digits, or the BSUID when sent by BSUID alone
    type: str
    payload: dict[str, Any]
    metadata: dict[str, Any] | None
    phone_number_id: str  # the business number it goes from
    expires_at: datetime | None = None  # not written to Meta by then: failed, `expired`
    recipient_user_id: str | None = None  # the BSUID the caller named, beside or instead of `to`
    template_category: str | None = None  # the catalog's category of a template (MARKETING...)
    caller: str = "default"  # the name of the API key the send came with


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
    "recipient_user_id": "text",
    "template_category": "text",
    "caller": "text",
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


async def contexts(conn: asyncpg.Connection, ids: list[UUID]) -> dict[UUID, asyncpg.Record]:
    """What every Hub event about these messages echoes: wamid, recipient (key and user id),
    metadata, number."""
    p = Params()
    q = (
        PostgreSQLQuery.from_(messages)
        .select(
            messages.id,
            messages.wamid,
            messages.recipient,
            messages.recipient_user_id,
            messages.metadata,
            messages.status,
            messages.phone_number_id,
        )
        .where(messages.id == _any(p(list(set(ids)), "uuid[]")))
    )
    return {r["id"]: r for r in await conn.fetch(str(q), *p.args)}


async def parties(conn: asyncpg.Connection, ids: list[UUID]) -> dict[UUID, asyncpg.Record]:
    """Who each of these messages that exist is from and to: `phone_number_id`, `recipient`
    and `recipient_user_id` (`whatsapp.recipients.Recipient.stored`)."""
    if not ids:
        return {}
    p = Params()
    q = (
        PostgreSQLQuery.from_(messages)
        .select(
            messages.id, messages.phone_number_id, messages.recipient, messages.recipient_user_id
        )
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


async def republish_due(conn: asyncpg.Connection | asyncpg.Pool, limit: int = 1000) -> list[Queued]:
    """Parked messages whose next attempt is due; unparked and marked published now."""
    return _queued(await db.republish_due(conn, messages, QUEUED, _QUEUED, limit))
