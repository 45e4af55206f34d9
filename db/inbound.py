"""Inbound messages (`inbound_messages`), stored once per wamid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from pypika import PostgreSQLQuery, Table

import db
from db import Params

inbound = Table("inbound_messages")
_COLUMNS = {
    "wamid": "text",
    "phone_number_id": "text",
    "sender": "text",
    "profile_name": "text",
    "type": "text",
    "sent_at": "timestamptz",
    "payload": "jsonb",
}


@dataclass(frozen=True, slots=True)
class NewInbound:
    wamid: str
    phone_number_id: str | None
    sender: str
    profile_name: str | None
    type: str
    sent_at: datetime
    payload: dict[str, Any]


async def insert_many(conn: asyncpg.Connection, rows: list[NewInbound]) -> set[str]:
    """Store inbound messages; return the wamids that were new (Meta retries duplicates)."""
    rows = sorted(rows, key=lambda r: r.wamid)  # one lock order everywhere: no deadlocks
    stored = await db.insert_rows(
        conn,
        inbound,
        _COLUMNS,
        [
            (r.wamid, r.phone_number_id, r.sender, r.profile_name, r.type, r.sent_at, r.payload)
            for r in rows
        ],
        conflict=("wamid",),
        returning=("wamid",),
    )
    return {r["wamid"] for r in stored}


async def get(conn: asyncpg.Connection | asyncpg.Pool, wamid: str) -> asyncpg.Record | None:
    """One inbound message, without its content (operators see who and when, not what)."""
    p = Params()
    q = (
        PostgreSQLQuery.from_(inbound)
        .select("wamid", "phone_number_id", "sender", "profile_name", "type", "sent_at")
        .select("received_at")
        .where(inbound.wamid == p(wamid))
    )
    return await conn.fetchrow(str(q), *p.args)
