"""EXPLAIN ANALYZE of a statement inside a transaction that is rolled back, so what the
statement changes (a purge) and an index dropped to compare plans both come back."""

from __future__ import annotations

from typing import Any

import asyncpg


async def explain(pool: asyncpg.Pool, sql: str, *args: Any, without: str = "") -> str:
    """The plan of `sql` as run, with the index `without` dropped for the while if given."""
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            if without:
                await conn.execute(f"DROP INDEX {without}")
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
        finally:
            await tx.rollback()
    return "\n".join(r[0] for r in rows)
