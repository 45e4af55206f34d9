"""Inbound messages (`inbound_messages`), stored once per wamid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from pypika import PostgreSQLQuery, Table

from db import Params

inbound = Table("inbound_messages")
_CHUNK = 1000


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
    new: set[str] = set()
    for start in range(0, len(rows), _CHUNK):
        p = Params()
        q = PostgreSQLQuery.into(inbound).columns(
            "wamid", "phone_number_id", "sender", "profile_name", "type", "sent_at", "payload"
        )
        for r in rows[start : start + _CHUNK]:
            q = q.insert(
                p(r.wamid),
                p(r.phone_number_id),
                p(r.sender),
                p(r.profile_name),
                p(r.type),
                p(r.sent_at),
                p(r.payload, "jsonb"),
            )
        q = q.on_conflict("wamid").do_nothing().returning("wamid")
        new.update(r["wamid"] for r in await conn.fetch(str(q), *p.args))
    return new
