"""The send protocol's record: who holds a message, and whether its Meta call may have left.

PostgreSQL alone decides whether a message may have reached Meta; Redis, a worker's memory
and its heartbeat are never the only record. A *claim* is one hold of a `sending` message:
`(claimed_by, sending_at)`, the worker and the moment it claimed. `left_at` is the claim's
*mark*: set when its Meta call may have left.

Invariants (each is one guarded statement, so row locks order any two of them):

1. **Claim.** Only a `queued` row that is due, unexpired and of the sender's number is
   claimed (`claim`): status `sending`, a new claim, `left_at` NULL.
2. **Mark before the first byte.** A worker writes a Meta request only after `mark_left`
   returned its message: `left_at` set where the claim is still that worker's, unchanged,
   and unmarked. So a claim is marked at most once, and only while nobody took it back.
3. **Only an unmarked claim is taken back by others.** `requeue_unmarked` queues again (try
   refunded) a claim with `left_at` NULL whose worker is dead, or which is older than the
   bound the caller gives; the same statement checks `left_at`, so it and a mark exclude
   each other: whichever commits first wins, and the other changes nothing.
4. **The claimant gives back only what it knows.** `park` returns a claim to `queued` only
   for the worker that holds that very claim, which does so only when its call never left
   (withheld, cancelled, never started) or Meta answered it.
5. **A marked claim ends by an answer.** Meta's answer (the sender), a status webhook, or,
   once `left_at` is SEND_OUTCOME_TIMEOUT_S old, `failed` with `outcome_unknown`
   (`unanswered`); a later status lifts that verdict.

Hence a message is written to Meta again only after Meta answered the earlier call, and a
claim whose call never started goes back to `queued` within the bound of 3, whatever
happened to the claimant or to the replies of its statements.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from pypika import CustomFunction, PostgreSQLQuery
from pypika import functions as fn
from pypika.terms import Case, Interval, Term, Tuple

import db
from core.names import QUEUED, SENDING
from db import Params
from db.messages import Queued, messages, param

_any = CustomFunction("ANY", ["array"])
_unnest = CustomFunction("unnest", ["ids", "claimed"])


@dataclass(frozen=True, slots=True)
class Claim:
    """One hold of a `sending` message: who claimed it, and when."""

    worker: str
    at: datetime


async def claim(
    conn: asyncpg.Connection | asyncpg.Pool, ids: list[UUID], worker: str, number: str
) -> list[asyncpg.Record]:
    """Claim (queued -> sending) the messages of `ids` that may be sent now by `worker` from
    business number `number`: `id`, `recipient`, `recipient_user_id`, `payload`, `attempts`,
    `template_category` and `sending_at` (the claim's time) of each.

    A duplicated stream entry or a second worker never claims a message twice; a parked row
    is claimed only once due, an expired one never, another number's never (its own
    number's limits apply)."""
    p = Params()
    due = db.is_due(messages) & (messages.expires_at.isnull() | (messages.expires_at > fn.Now()))
    due &= messages.phone_number_id == p(number)
    q = (
        PostgreSQLQuery.update(messages)
        .set(messages.status, SENDING)
        .set(messages.claimed_by, p(worker))
        .set(messages.sending_at, fn.Now())
        .set(messages.left_at, None)
        .set(messages.updated_at, fn.Now())
        .set(messages.next_attempt_at, None)
        .set(messages.attempts, messages.attempts + 1)
        .where((messages.id == _any(p(ids, "uuid[]"))) & (messages.status == QUEUED) & due)
        .returning(
            "id",
            "recipient",
            "recipient_user_id",
            "payload",
            "attempts",
            "template_category",
            "sending_at",
        )
    )
    return await conn.fetch(str(q), *p.args)


async def mark_left(
    conn: asyncpg.Connection | asyncpg.Pool, worker: str, held: list[tuple[UUID, datetime]]
) -> set[UUID]:
    """Mark the Meta calls of `worker`'s claims `(message id, claimed at)` as leaving now;
    returns the ids marked. A claim taken back, ended or marked already is not: its call
    must not be made."""
    if not held:
        return set()
    p = Params()
    ids, times = zip(*sorted(held), strict=True)
    claims = PostgreSQLQuery.from_(_unnest(p(list(ids), "uuid[]"), p(list(times), "timestamptz[]")))
    q = (
        PostgreSQLQuery.update(messages)
        .set(messages.left_at, fn.Now())
        .where(
            Tuple(messages.id, messages.sending_at).isin(claims.select("*"))
            & (messages.status == SENDING)
            & (messages.claimed_by == p(worker))
            & messages.left_at.isnull()
        )
        .returning(messages.id)
    )
    return {r["id"] for r in await conn.fetch(str(q), *p.args)}


async def claimants(conn: asyncpg.Connection | asyncpg.Pool) -> list[str]:
    """The workers holding unmarked claims."""
    q = (
        PostgreSQLQuery.from_(messages)
        .select(messages.claimed_by)
        .distinct()
        .where((messages.status == SENDING) & messages.claimed_by.notnull())
        .where(messages.left_at.isnull())
    )
    return [r["claimed_by"] for r in await conn.fetch(str(q))]


async def requeue_unmarked(
    conn: asyncpg.Connection | asyncpg.Pool, dead: list[str], older_than_s: float
) -> list[Queued]:
    """Unmarked claims of the `dead` workers, or older than `older_than_s` (on PostgreSQL's
    clock, whatever the workers' clocks say): queued again, due at once, the try refunded
    (their calls never started)."""
    p = Params()
    unmarked = (messages.status == SENDING) & messages.left_at.isnull()
    # A claim being marked right now is skipped (its mark wins), so this never waits on a
    # worker's mark nor deadlocks with one.
    candidates = (
        PostgreSQLQuery.from_(messages)
        .select(messages.id)
        .where(unmarked)
        .where(
            (messages.claimed_by == _any(p(dead, "text[]")))
            | (messages.sending_at < _ago(p, older_than_s))
        )
        .for_update(skip_locked=True)
    )
    q = (
        PostgreSQLQuery.update(messages)
        .set(messages.status, QUEUED)
        .set(messages.next_attempt_at, None)
        .set(messages.attempts, messages.attempts - 1)
        .set(messages.published_at, fn.Now())
        .set(messages.updated_at, fn.Now())
        .where(messages.id.isin(candidates) & unmarked)
        .returning(messages.id, messages.phone_number_id)
    )
    return [(r["id"], r["phone_number_id"]) for r in await conn.fetch(str(q), *p.args)]


async def unanswered(
    conn: asyncpg.Connection | asyncpg.Pool, older_than_s: float, limit: int = 1000
) -> list[UUID]:
    """Messages whose Meta call may have left more than `older_than_s` ago (PostgreSQL's
    clock) and that have neither Meta's answer nor a status since."""
    p = Params()
    q = (
        PostgreSQLQuery.from_(messages)
        .select(messages.id)
        .where((messages.status == SENDING) & (messages.left_at < _ago(p, older_than_s)))
        .orderby(messages.left_at)
        .limit(limit)
    )
    return [r["id"] for r in await conn.fetch(str(q), *p.args)]


def _ago(p: Params, seconds: float) -> Term:
    return fn.Now() - p(seconds, "float8") * Interval(seconds=1)


@dataclass(frozen=True, slots=True)
class Parked:
    """A message put back to `queued` until `until`, with the error that made it wait."""

    message_id: UUID
    until: datetime
    error: dict[str, Any] | None = None
    claim: Claim | None = None  # the claim given back (None: never claimed, still queued)
    counts: bool = True  # the Meta call counts as an attempt (not when throttled or paused)


async def park(conn: asyncpg.Connection | asyncpg.Pool, parked: list[Parked]) -> None:
    """Park messages; the scheduler re-publishes them when due. A claimed one is parked only
    while that very claim holds it, an unclaimed one only while `queued`."""
    rows = [
        (
            p.message_id,
            p.until,
            p.error,
            SENDING if p.claim else QUEUED,
            p.claim is not None and not p.counts,
            p.claim.worker if p.claim else None,
            p.claim.at if p.claim else None,
        )
        for p in sorted(parked, key=lambda p: p.message_id)
    ]
    if rows:
        await conn.executemany(_PARK, rows)


def _park_sql() -> str:
    held = (messages.claimed_by == param("$6", "text")) & (
        messages.sending_at == param("$7", "timestamptz")
    )
    return str(
        PostgreSQLQuery.update(messages)
        .set(messages.status, QUEUED)
        .set(messages.next_attempt_at, param("$2", "timestamptz"))
        .set(messages.left_at, None)
        .set(messages.last_error, fn.Coalesce(param("$3", "jsonb"), messages.last_error))
        .set(
            messages.attempts,
            Case().when(param("$5", "boolean"), messages.attempts - 1).else_(messages.attempts),
        )
        .set(messages.updated_at, fn.Now())
        .where((messages.id == param("$1")) & (messages.status == param("$4", "text")))
        .where((param("$4", "text") == QUEUED) | held)
    )


_PARK = _park_sql()
