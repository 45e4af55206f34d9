"""Meta's template catalog (`templates`, `template_syncs`), per WhatsApp Business Account.

A full sync replaces a WABA's whole catalog in one transaction: readers see the old catalog
or the new one, never a mix, and a sync that failed part-way writes nothing. `template_syncs`
says when the catalog was last replaced (no row: never synced); a sync that started before
the one already written is dropped, so a slow sync never brings back an older catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from pypika import Order, PostgreSQLQuery, Table

from db import Params, insert_rows

templates = Table("templates")
syncs = Table("template_syncs")
_COLUMNS = {
    "waba_id": "text",
    "name": "text",
    "language": "text",
    "status": "text",
    "category": "text",
    "definition": "jsonb",
}
# Take the WABA's sync row first (it serialises concurrent syncs), unless a newer sync has it.
_CLAIM = """
INSERT INTO template_syncs (waba_id, synced_at, templates) VALUES ($1, $2, $3)
ON CONFLICT (waba_id) DO UPDATE SET synced_at = EXCLUDED.synced_at,
    templates = EXCLUDED.templates
WHERE template_syncs.synced_at < EXCLUDED.synced_at
RETURNING waba_id
"""


@dataclass(frozen=True, slots=True)
class CatalogTemplate:
    """One template in one language; `definition` is Meta's object as listed."""

    name: str
    language: str
    status: str
    category: str | None
    definition: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Sync:
    synced_at: datetime  # when the sync that wrote the catalog started reading Meta
    templates: int


async def replace_catalog(
    pool: asyncpg.Pool, waba_id: str, catalog: list[CatalogTemplate], started_at: datetime
) -> bool:
    """Make `catalog` the WABA's whole catalog; False (nothing written) when a sync that
    started later has already replaced it. A name and language listed twice is kept once."""
    unique = {(t.name, t.language): t for t in reversed(catalog)}  # the first one wins
    rows = [
        (waba_id, t.name, t.language, t.status, t.category, t.definition)
        for t in sorted(unique.values(), key=lambda t: (t.name, t.language))
    ]
    p = Params()
    delete = PostgreSQLQuery.from_(templates).delete().where(templates.waba_id == p(waba_id))
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchval(_CLAIM, waba_id, started_at, len(rows)) is None:
            return False
        await conn.execute(str(delete), *p.args)
        await insert_rows(conn, templates, _COLUMNS, rows)
    return True


async def catalog(
    conn: asyncpg.Connection | asyncpg.Pool,
    waba_id: str,
    *,
    name: str | None = None,
    status: str | None = None,
) -> list[CatalogTemplate]:
    """The WABA's templates by name and language; `name` looks one template up (each of its
    languages), `status` keeps those of one status."""
    p = Params()
    where = templates.waba_id == p(waba_id)
    if name is not None:
        where &= templates.name == p(name)
    if status is not None:
        where &= templates.status == p(status)
    q = (
        PostgreSQLQuery.from_(templates)
        .select(
            templates.name,
            templates.language,
            templates.status,
            templates.category,
            templates.definition,
        )
        .where(where)
        .orderby(templates.name, templates.language, order=Order.asc)
    )
    return [CatalogTemplate(**dict(r)) for r in await conn.fetch(str(q), *p.args)]


async def last_sync(conn: asyncpg.Connection | asyncpg.Pool, waba_id: str) -> Sync | None:
    """When the catalog was last replaced, and how many templates it has; None: never."""
    p = Params()
    q = (
        PostgreSQLQuery.from_(syncs)
        .select(syncs.synced_at, syncs.templates)
        .where(syncs.waba_id == p(waba_id))
    )
    row = await conn.fetchrow(str(q), *p.args)
    return Sync(row["synced_at"], row["templates"]) if row else None
