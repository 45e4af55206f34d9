"""Statuses for messages we do not know (`held_statuses`): held, matched again, or foreign.

A status whose wamid (and callback data) names no message of ours is held until
`hold_until`, in case the sender's write of that wamid is still on its way; the scheduler
matches held statuses again each pass. One still unmatched when its hold runs out is kept
as foreign (`foreign_at`): a message another app sent on the number, or one we lost track of.
A status is held once per wamid and status (Meta's retries change nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from pypika import CustomFunction, Order, PostgreSQLQuery, Table
from pypika import functions as fn

import db
from db import Params

held = Table("held_statuses")
_any = CustomFunction("ANY", ["array"])


@dataclass(frozen=True, slots=True)
class HeldStatus:
    wamid: str
    status: str
    phone_number_id: str | None
    raw: dict[str, Any]  # Meta's status object
    hold_until: datetime


async def hold(conn: asyncpg.Connection | asyncpg.Pool, rows: list[HeldStatus]) -> int:
    """Hold statuses; returns how many were new."""
    stored = await db.insert_rows(
        conn,
        held,
        {
            "wamid": "text",
            "status": "text",
            "phone_number_id": "text",
            "raw": "jsonb",
            "hold_until": "timestamptz",
        },
        [(r.wamid, r.status, r.phone_number_id, r.raw, r.hold_until) for r in rows],
        conflict=("wamid", "status"),
        returning=("id",),
    )
    return len(stored)


async def waiting(
    conn: asyncpg.Connection | asyncpg.Pool, limit: int = 500
) -> list[asyncpg.Record]:
    """Held statuses not yet foreign, oldest first."""
    q = (
        PostgreSQLQuery.from_(held)
        .select(held.id, held.raw, held.phone_number_id, held.hold_until)
        .where(held.foreign_at.isnull())
        .orderby(held.id)
        .limit(limit)
    )
    return await conn.fetch(str(q))


async def release(conn: asyncpg.Connection | asyncpg.Pool, ids: list[int]) -> None:
    """Forget held statuses that found their message (they were recorded)."""
    if ids:
        p = Params()
        q = PostgreSQLQuery.from_(held).delete().where(held.id == _any(p(ids, "bigint[]")))
        await conn.execute(str(q), *p.args)


async def make_foreign(
    conn: asyncpg.Connection | asyncpg.Pool, ids: list[int]
) -> list[asyncpg.Record]:
    """Mark held statuses foreign (once); returns those this call marked (id, wamid, status)."""
    if not ids:
        return []
    p = Params()
    q = (
        PostgreSQLQuery.update(held)
        .set(held.foreign_at, fn.Now())
        .where((held.id == _any(p(ids, "bigint[]"))) & held.foreign_at.isnull())
        .returning(held.id, held.wamid, held.status)
    )
    return await conn.fetch(str(q), *p.args)


async def foreign(
    conn: asyncpg.Connection | asyncpg.Pool, limit: int = 50, wamid: str | None = None
) -> list[asyncpg.Record]:
    """Foreign and still held statuses, newest first (all, or one wamid's)."""
    p = Params()
    q = PostgreSQLQuery.from_(held).select(
        held.wamid,
        held.status,
        held.phone_number_id,
        held.received_at,
        held.hold_until,
        held.foreign_at,
    )
    if wamid is not None:
        q = q.where(held.wamid == p(wamid))
    q = q.orderby(held.received_at, order=Order.desc).limit(limit)
    return await conn.fetch(str(q), *p.args)
