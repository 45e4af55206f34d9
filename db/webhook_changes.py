"""Other webhook changes (`webhook_changes`), stored once per content-derived id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from pypika import Table

import db

webhook_changes = Table("webhook_changes")
_COLUMNS = {
    "id": "text",
    "field": "text",
    "entry_id": "text",
    "entry_time": "timestamptz",
    "value": "jsonb",
}


@dataclass(frozen=True, slots=True)
class NewChange:
    id: str  # the Hub event id, so a replayed change is recognised
    field: str
    entry_id: str | None
    entry_time: datetime | None
    value: dict[str, Any]


async def insert_many(conn: asyncpg.Connection, rows: list[NewChange]) -> set[str]:
    """Store changes; return the ids that were new (Meta retries, and replays happen)."""
    rows = sorted(rows, key=lambda r: r.id)  # one lock order everywhere: no deadlocks
    stored = await db.insert_rows(
        conn,
        webhook_changes,
        _COLUMNS,
        [(r.id, r.field, r.entry_id, r.entry_time, r.value) for r in rows],
        conflict=("id",),
        returning=("id",),
    )
    return {r["id"] for r in stored}
