"""Retention: what is older than RETENTION_DAYS loses its body, one small batch at a time.

One rule per table (the decision table: docs/operations.md, "Retention"):

- `messages` past `sending`: the body (`payload`) becomes NULL and `purged_at` is set. The
  row stays, `metadata` too: the status API, `ops message` and the Hub events of statuses
  Meta reports later (which echo `metadata`) work as before.
- `inbound_messages`: the same; the row keeps who, when, and the wamid that recognises
  Meta's retries.
- `hub_events` delivered: deleted, with their attempts. Pending and dead ones are kept.
- `webhook_changes`: deleted.
- `held_statuses` foreign: deleted. Held ones are being matched: kept.

A batch is one statement: it takes up to `limit` rows from the rule's index, oldest first and
from where the previous batch stopped (`after`, a keyset), locks them with SKIP LOCKED (a row
a sender or the webhook processor holds is left for the next run), and purges them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from pypika import Parameter, PostgreSQLQuery, Table
from pypika import functions as fn
from pypika.terms import Criterion

from core.names import QUEUED, SENDING


@dataclass(frozen=True)
class Rule:
    """Which rows of `table` retention takes, by the age in `since`, and what it does."""

    table: str
    key: str  # the primary key
    since: str  # rows whose `since` is before the cutoff are taken...
    also: Callable[[Table], Criterion] | None  # ...if they match this (the index's predicate)
    purge: bool  # True: `payload` set NULL and `purged_at` set; False: the row is deleted
    what: str  # what retention does to it, for people


def _sent_unpurged(t: Table) -> Criterion:
    return t.purged_at.isnull() & t.status.notin([QUEUED, SENDING])


def _unpurged(t: Table) -> Criterion:
    return t.purged_at.isnull()


def _delivered(t: Table) -> Criterion:
    return t.status == "delivered"


RULES = (
    Rule("messages", "id", "created_at", _sent_unpurged, True, "body purged, once past sending"),
    Rule("inbound_messages", "wamid", "received_at", _unpurged, True, "body purged"),
    Rule("hub_events", "id", "delivered_at", _delivered, False, "deleted once delivered"),
    Rule("webhook_changes", "id", "received_at", None, False, "deleted"),
    Rule("held_statuses", "id", "foreign_at", None, False, "deleted once foreign"),
)


def _taken(rule: Rule, t: Table) -> Criterion:
    """The rows of `rule` older than $1."""
    since = t.field(rule.since)
    where = since < Parameter("$1")
    return where if rule.also is None else rule.also(t) & where


@functools.lru_cache(maxsize=32)
def batch_sql(rule: Rule, limit: int) -> str:
    """One batch of `rule`: $1 the cutoff, $2 the keyset (the oldest `since` still to look
    at); returns `since` of each row it purged."""
    t = Table(rule.table)
    since = t.field(rule.since)
    taken = (
        PostgreSQLQuery.from_(t)
        .select(t.field(rule.key))
        .where(_taken(rule, t) & (since >= Parameter("$2")))
        .orderby(since)
        .limit(limit)
        .for_update(skip_locked=True)
    )
    if rule.purge:
        q = PostgreSQLQuery.update(t).set(t.payload, None).set(t.purged_at, fn.Now())
    else:
        q = PostgreSQLQuery.from_(t).delete()
    return str(q.where(t.field(rule.key).isin(taken)).returning(since))


async def purge_batch(
    conn: asyncpg.Connection | asyncpg.Pool,
    rule: Rule,
    cutoff: datetime,
    after: datetime,
    limit: int,
) -> list[datetime]:
    """Purge up to `limit` rows of `rule` from `after` (inclusive) to `cutoff`; returns the
    age of each row purged."""
    return [r[0] for r in await conn.fetch(batch_sql(rule, limit), cutoff, after)]


async def backlog(conn: asyncpg.Connection | asyncpg.Pool, cutoff: datetime) -> dict[str, int]:
    """How many rows before `cutoff` each rule has still to take (`ops retention`)."""
    out = {}
    for rule in RULES:
        t = Table(rule.table)
        q = PostgreSQLQuery.from_(t).select(fn.Count("*")).where(_taken(rule, t))
        out[rule.table] = await conn.fetchval(str(q), cutoff)
    return out
