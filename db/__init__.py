"""PostgreSQL access: one asyncpg pool per process, queries built with pypika.

Each table has a small module (`db.messages`, `db.inbound`, `db.hub_events`) whose functions
build `(sql, args)` pairs with pypika and run them on a connection or pool; nothing here
knows about HTTP or streams.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from pypika import CustomFunction, Parameter, PostgreSQLQuery, Table
from pypika import functions as fn
from pypika.terms import Term

__all__ = ["Params", "create_pool", "insert_rows", "is_due", "republish_due", "republish_stale"]
_unnest = CustomFunction("unnest", ["array"])


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in and out as Python objects, encoded with orjson.
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )


async def _keep(conn: asyncpg.Connection) -> None:
    """No reset on release: we keep no session state on pooled connections (the migration
    lock uses a connection of its own), and asyncpg's default reset costs a round trip."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """Open the process's pool; every connection speaks jsonb as Python objects."""
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep,
        command_timeout=30,
    )


class Params:
    """Collects query arguments and hands out their `$n` placeholders, in order."""

    def __init__(self) -> None:
        self.args: list[Any] = []

    def __call__(self, value: Any, cast: str = "") -> Term:
        self.args.append(value)
        return Parameter(f"${len(self.args)}{'::' + cast if cast else ''}")


async def insert_rows(
    conn: asyncpg.Connection | asyncpg.Pool,
    table: Table,
    columns: dict[str, str],
    rows: list[tuple[Any, ...]],
    *,
    conflict: tuple[str, ...] = (),
    returning: tuple[str, ...] = (),
) -> list[asyncpg.Record]:
    """Insert many rows in one statement; `columns` maps each column to its PostgreSQL type.
    With `conflict`, rows that collide are skipped (ON CONFLICT DO NOTHING).

    One array per column, unnested in lockstep: the statement text is the same for any
    number of rows, so asyncpg prepares it once (a VALUES list per row count would fill
    the prepared-statement caches of the worker and of PostgreSQL with one per count).
    """
    if not rows:
        return []
    sql = _insert_sql(table.get_table_name(), tuple(columns.items()), conflict, returning)
    arrays = [list(column) for column in zip(*rows, strict=True)]
    if returning:
        return await conn.fetch(sql, *arrays)
    await conn.execute(sql, *arrays)
    return []


@functools.lru_cache(maxsize=64)
def _insert_sql(
    table: str,
    columns: tuple[tuple[str, str], ...],
    conflict: tuple[str, ...],
    returning: tuple[str, ...],
) -> str:
    q = (
        PostgreSQLQuery.into(Table(table))
        .columns(*(name for name, _ in columns))
        .select(
            *(_unnest(Parameter(f"${i}::{type_}[]")) for i, (_, type_) in enumerate(columns, 1))
        )
    )
    if conflict:
        q = q.on_conflict(*conflict).do_nothing()
    if returning:
        q = q.returning(*returning)
    return str(q)


async def republish_stale(
    conn: asyncpg.Connection | asyncpg.Pool,
    table: Table,
    waiting_status: str,
    older_than: datetime,
    returning: tuple[str, ...],
    limit: int = 1000,
    where: Callable[[Params], Term] | None = None,
) -> list[asyncpg.Record]:
    """Rows still `waiting_status`, not parked, last published before `older_than` (and
    matching `where`), marked published now. SKIP LOCKED lets two sweepers (or a sweeper and
    a worker) never block each other."""
    p = Params()
    criteria = (
        (table.status == waiting_status)
        & table.next_attempt_at.isnull()
        & (table.published_at < p(older_than))
    )
    if where is not None:
        criteria &= where(p)
    stale = (
        PostgreSQLQuery.from_(table)
        .select(table.id)
        .where(criteria)
        .orderby(table.published_at)
        .limit(limit)
        .for_update(skip_locked=True)
    )
    return await conn.fetch(_mark_published(table, stale, returning), *p.args)


def is_due(table: Table) -> Term:
    """Not parked, or parked until a time that has come."""
    return table.next_attempt_at.isnull() | (table.next_attempt_at <= fn.Now())


async def republish_due(
    conn: asyncpg.Connection | asyncpg.Pool,
    table: Table,
    waiting_status: str,
    returning: tuple[str, ...],
    limit: int = 1000,
) -> list[asyncpg.Record]:
    """Parked rows whose next attempt is due, unparked and marked published now."""
    due = (
        PostgreSQLQuery.from_(table)
        .select(table.id)
        .where((table.status == waiting_status) & (table.next_attempt_at <= fn.Now()))
        .orderby(table.next_attempt_at)
        .limit(limit)
        .for_update(skip_locked=True)
    )
    return await conn.fetch(_mark_published(table, due, returning))


def _mark_published(table: Table, rows: Any, returning: tuple[str, ...]) -> str:
    return str(
        PostgreSQLQuery.update(table)
        .set(table.published_at, fn.Now())
        .set(table.next_attempt_at, None)
        .where(table.id.isin(rows))
        .returning(*returning)
    )
