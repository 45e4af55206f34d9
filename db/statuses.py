"""The status timeline (`message_statuses`) and how a status report moves a message.

A status only ever moves a message up in rank (`status_rank()` of the migrations: queued,
sending, sent, delivered, read, played, then failed); each status keeps its first timestamp;
every statement locks rows in one order, so concurrent batches (webhooks and sender) never
deadlock. The first status carrying Meta's `pricing` sets the message's pricing columns
(`record`); later ones never change them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from pypika import CustomFunction, Order, PostgreSQLQuery, Table
from pypika import functions as fn
from pypika.terms import Case, LiteralValue

import db
from core.names import (
    DELIVERED,
    FAILED,
    OUTCOME_UNKNOWN,
    PLAYED,
    READ,
    SENDING,
    SENT,
    STATUSES,
)
from core.pricing import Pricing
from db import Params
from db.messages import messages, param

statuses = Table("message_statuses")
_any = CustomFunction("ANY", ["array"])
_rank = CustomFunction("status_rank", ["status"])

# The timestamp column each status fills, once (the first report wins).
_STATUS_COLUMNS = {
    "sent": "sent_at",
    "delivered": "delivered_at",
    "read": "read_at",
    "played": "played_at",
    "failed": "failed_at",
}


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One status report about one message, from our sender or from Meta."""

    message_id: UUID
    status: str
    occurred_at: datetime
    source: str  # "sender" or "meta"
    wamid: str | None = None
    error: dict[str, Any] | None = None
    details: dict[str, Any] | None = None
    # The recipient's ids and username Meta's status revealed (`StatusUpdate.contact()`).
    contact: dict[str, Any] | None = None
    user_id: str | None = None  # the recipient's BSUID, when this report revealed it


async def timeline(
    conn: asyncpg.Connection | asyncpg.Pool, message_id: UUID
) -> list[asyncpg.Record]:
    p = Params()
    q = (
        PostgreSQLQuery.from_(statuses)
        .select(statuses.status, statuses.occurred_at, statuses.source, statuses.details)
        .where(statuses.message_id == p(message_id))
        .orderby(statuses.occurred_at, order=Order.asc)
        .orderby(statuses.recorded_at, order=Order.asc)
    )
    return await conn.fetch(str(q), *p.args)


@dataclass(frozen=True, slots=True)
class Priced:
    """A message whose pricing was just set (the worker counts the billable ones)."""

    message_id: UUID
    phone_number_id: str
    billable: bool | None
    category: str | None


@dataclass(frozen=True, slots=True)
class Recorded:
    """What `record` changed: the new status reports, and the messages priced now."""

    applied: list[StatusChange]
    priced: list[Priced]


async def record_statuses(
    conn: asyncpg.Connection, changes: list[StatusChange], *, only_while_sending: bool = False
) -> list[StatusChange]:
    """`record`'s new status reports."""
    return (await record(conn, changes, only_while_sending=only_while_sending)).applied


async def record(
    conn: asyncpg.Connection, changes: list[StatusChange], *, only_while_sending: bool = False
) -> Recorded:
    """Add status reports to the timeline, apply the new ones to their messages, and price
    the messages the first report carrying Meta's `pricing` is about.

    Returns the reports that were new (a duplicate webhook applies nothing, but may still
    bring pricing) and the messages priced now. A message's status only ever moves up in
    rank; each status keeps its own first timestamp; pricing is set once.
    `only_while_sending` applies the changes only to messages still `sending` (the sweeper's
    verdicts must not overwrite a status that landed meanwhile). Call inside a transaction.
    """
    if only_while_sending:
        changes = [c for c in changes if c.message_id in await _lock_sending(conn, changes)]
    if not changes:
        return Recorded([], [])
    # Every statement takes its locks in (message_id, status) order, so concurrent batches
    # (a webhook batch and a sender batch, say) can never deadlock.
    changes = sorted(changes, key=lambda c: (c.message_id, c.status))
    inserted = await db.insert_rows(
        conn,
        statuses,
        {
            "message_id": "uuid",
            "status": "text",
            "occurred_at": "timestamptz",
            "source": "text",
            "details": "jsonb",
        },
        [(c.message_id, c.status, c.occurred_at, c.source, c.details) for c in changes],
        conflict=("message_id", "status"),
        returning=("message_id", "status"),
    )
    new = {(r["message_id"], r["status"]) for r in inserted}
    # Meta's `sent` webhook repeats what the sender recorded, but brings pricing and the
    # conversation: keep them on the timeline entry that has none of Meta's (the sender's
    # holds at most Meta's `message_status`), whether that entry is older or was just
    # inserted from the sender's report in this same batch.
    first: dict[tuple[UUID, str], StatusChange] = {}
    details: dict[tuple[UUID, str], dict[str, Any]] = {}
    for c in changes:
        key = (c.message_id, c.status)
        first.setdefault(key, c)
        if c.details:
            details[key] = {**c.details, **details.get(key, {})}  # the first's keys win
    late = {k: v for k, v in details.items() if k not in new or v != first[k].details}
    if late:
        await conn.executemany(_ADD_DETAILS, [(*k, v) for k, v in sorted(late.items())])
    # Of duplicates within the batch the first wins, as in the INSERT above (`first` keeps
    # the sorted order, so the updates lock rows in it too).
    applied = [c for k, c in first.items() if k in new]
    priced = await _record_pricing(conn, changes)
    if applied:
        await conn.executemany(
            _UPDATE_STATUS,
            [(c.message_id, c.status, c.occurred_at, c.wamid, c.error, c.user_id) for c in applied],
        )
    return Recorded(applied, priced)


async def _record_pricing(conn: asyncpg.Connection, changes: list[StatusChange]) -> list[Priced]:
    """Set the pricing of messages that have none from the first of `changes` that carries
    Meta's `pricing` (the earliest status, by rank); return the messages priced now.

    Runs between the timeline's rows and the status updates: when any change brings pricing,
    every message of `changes` is locked here, in id order, so no statement of the batch takes
    a lock out of the order the others take them in.
    """
    first: dict[UUID, Pricing] = {}
    for c in sorted(changes, key=lambda c: (c.message_id, _rank_of(c.status))):
        pricing = Pricing.from_meta((c.details or {}).get("pricing"))
        if pricing is not None:
            first.setdefault(c.message_id, pricing)
    if not first:
        return []
    await conn.execute(_LOCK_ALL, sorted({c.message_id for c in changes}))
    ids = sorted(first)
    rows = await conn.fetch(
        _SET_PRICING,
        ids,
        [first[i].billable for i in ids],
        [first[i].model for i in ids],
        [first[i].type for i in ids],
        [first[i].category for i in ids],
    )
    return [Priced(r["id"], r["phone_number_id"], r["billable"], r["category"]) for r in rows]


def _rank_of(status: str) -> int:
    return STATUSES.index(status) if status in STATUSES else len(STATUSES)


async def _lock_sending(conn: asyncpg.Connection, changes: list[StatusChange]) -> set[UUID]:
    p = Params()
    q = (
        PostgreSQLQuery.from_(messages)
        .select(messages.id)
        .where(
            (messages.id == _any(p(sorted({c.message_id for c in changes}), "uuid[]")))
            & (messages.status == SENDING)
        )
        .orderby(messages.id)
        .for_update()
    )
    return {r["id"] for r in await conn.fetch(str(q), *p.args)}


def _update_status_sql() -> str:
    status = "$2"
    # The sweeper's `outcome_unknown` was a guess: a status Meta reports later is the truth.
    lifted = (
        (messages.status == FAILED)
        & (LiteralValue("messages.error->>'code'") == OUTCOME_UNKNOWN)
        & param(status, "text").isin([SENT, DELIVERED, READ, PLAYED])
    )
    q = PostgreSQLQuery.update(messages).set(
        messages.status,
        Case()
        .when(_rank(messages.status) < _rank(param(status, "text")), param(status))
        .when(lifted, param(status))
        .else_(messages.status),
    )
    for name, column in _STATUS_COLUMNS.items():
        stamp = Case().when(param(status) == name, fn.Coalesce(messages[column], param("$3")))
        if name == FAILED:
            stamp = stamp.when(lifted, None)
        q = q.set(messages[column], stamp.else_(messages[column]))
    return str(
        q.set(messages.wamid, fn.Coalesce(messages.wamid, param("$4")))
        .set(
            messages.recipient_user_id,
            fn.Coalesce(messages.recipient_user_id, param("$6", "text")),
        )
        .set(
            messages.error,
            Case().when(lifted, None).else_(fn.Coalesce(param("$5", "jsonb"), messages.error)),
        )
        .set(messages.updated_at, fn.Now())
        .where(messages.id == param("$1"))
    )


_UPDATE_STATUS = _update_status_sql()
# The lock an UPDATE of non-key columns takes (FOR UPDATE would block the FK checks of the
# timeline's inserts), taken in id order.
_LOCK_ALL = "SELECT id FROM messages WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE"
# Only a message without pricing gets it (`priced_at IS NULL`), so RETURNING names exactly the
# messages priced by this call: a repeated webhook prices nothing twice.
_SET_PRICING = """
UPDATE messages AS m SET
    pricing_billable = v.billable, pricing_model = v.model, pricing_type = v.type,
    pricing_category = v.category, priced_at = now()
FROM unnest($1::uuid[], $2::boolean[], $3::text[], $4::text[], $5::text[])
    AS v (id, billable, model, type, category)
WHERE m.id = v.id AND m.priced_at IS NULL
RETURNING m.id, m.phone_number_id, m.pricing_billable AS billable, m.pricing_category AS category
"""
_ADD_DETAILS = str(
    PostgreSQLQuery.update(statuses)
    .set(statuses.details, LiteralValue("$3::jsonb || coalesce(message_statuses.details, '{}')"))
    .where(
        (statuses.message_id == param("$1"))
        & (statuses.status == param("$2", "text"))
        & (
            statuses.details.isnull()
            | (
                LiteralValue("message_statuses.details - 'message_status'")
                == LiteralValue("'{}'::jsonb")
            )
        )
    )
)
