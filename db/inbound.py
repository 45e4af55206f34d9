"""Inbound messages (`inbound_messages`), stored once per wamid; the sender is named by phone
number (`sender`, null when Meta withholds it), BSUID and parent BSUID."""

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
    "sender_user_id": "text",
    "sender_parent_user_id": "text",
    "username": "text",
}


@dataclass(frozen=True, slots=True)
class NewInbound:
    wamid: str
    phone_number_id: str | None
    sender: str | None  # the phone number; None when Meta withheld it
    profile_name: str | None
    type: str
    sent_at: datetime
    payload: dict[str, Any]
    user_id: str | None = None
    parent_user_id: str | None = None
    username: str | None = None

    @property
    def key(self) -> str:
        """The identifier the sender's service window is kept under: number, else BSUID."""
        return self.sender or self.user_id  # type: ignore[return-value]


async def insert_many(conn: asyncpg.Connection, rows: list[NewInbound]) -> set[str]:
    """Store inbound messages; return the wamids that were new (Meta retries duplicates)."""
    rows = sorted(rows, key=lambda r: r.wamid)  # one lock order everywhere: no deadlocks
    stored = await db.insert_rows(
        conn,
        inbound,
        _COLUMNS,
        [
            (
                r.wamid,
                r.phone_number_id,
                r.sender,
                r.profile_name,
                r.type,
                r.sent_at,
                r.payload,
                r.user_id,
                r.parent_user_id,
                r.username,
            )
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
        .select("sender_user_id", "sender_parent_user_id", "username", "received_at")
        .where(inbound.wamid == p(wamid))
    )
    return await conn.fetchrow(str(q), *p.args)
