"""Usage: priced messages counted over a period, by business number, caller, pricing category
and billable (`GET /api/v1/usage/`).

A message counts in the period its `created_at` falls in (when it was accepted), once Meta
priced it (`priced_at` set by its first status carrying `pricing`); retention's purge keeps
these columns, so purged messages still count. The query reads only the partial index
`messages_priced_idx` (migration 0016): an index-only scan of the period, however many
messages the table holds outside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg
from pypika import CustomFunction, PostgreSQLQuery
from pypika import functions as fn

from db import Params
from db.messages import messages

_left = CustomFunction("left", ["text", "n"])


@dataclass(frozen=True, slots=True)
class UsageRow:
    """How many priced messages share these values."""

    phone_number_id: str
    caller: str
    category: str | None
    billable: bool | None
    prefix: str  # the recipient's first digits (as many as the rate card needs; else "")
    messages: int


def usage_sql(
    start: datetime,
    end: datetime,
    *,
    phone_number_id: str | None = None,
    caller: str | None = None,
    prefix_digits: int = 0,
) -> tuple[str, list[object]]:
    """The query and its arguments: messages created in [start, end), grouped."""
    p = Params()
    where = (
        messages.priced_at.notnull()
        & (messages.created_at >= p(start))
        & (messages.created_at < p(end))
    )
    if phone_number_id is not None:
        where &= messages.phone_number_id == p(phone_number_id)
    if caller is not None:
        where &= messages.caller == p(caller)
    prefix = _left(messages.recipient, p(prefix_digits, "int")).as_("prefix")
    groups = (
        messages.phone_number_id,
        messages.caller,
        messages.pricing_category.as_("category"),
        messages.pricing_billable.as_("billable"),
    )
    q = (
        PostgreSQLQuery.from_(messages)
        .select(*groups, prefix, fn.Count("*").as_("messages"))
        .where(where)
        .groupby(*(range(1, 6)))
    )
    return str(q), p.args


async def usage(
    conn: asyncpg.Connection | asyncpg.Pool,
    start: datetime,
    end: datetime,
    *,
    phone_number_id: str | None = None,
    caller: str | None = None,
    prefix_digits: int = 0,
) -> list[UsageRow]:
    """Priced messages created in [start, end), counted by number, caller, category, billable
    and the recipient's first `prefix_digits` digits."""
    sql, args = usage_sql(
        start, end, phone_number_id=phone_number_id, caller=caller, prefix_digits=prefix_digits
    )
    return [UsageRow(**dict(r)) for r in await conn.fetch(sql, *args)]
