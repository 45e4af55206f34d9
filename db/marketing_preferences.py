"""Contacts' marketing preferences (`marketing_preferences`), per business number and contact.

A user stops or resumes marketing messages from a number (Meta's user_preferences webhook or
`user_preference_changed` system message), or Meta's 131050 says they stopped. The latest by
Meta's time wins: an older or replayed fact changes nothing. A user Meta names by phone and
by business-scoped user id has a row under each name; a lookup asks both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg
from pypika import CustomFunction, PostgreSQLQuery, Table

from db import Params

preferences = Table("marketing_preferences")
_any = CustomFunction("ANY", ["array"])

STOP = "stop"
RESUME = "resume"

# Strictly newer only: a replay (same time) or an older fact leaves the row as it is.
_RECORD = """
INSERT INTO marketing_preferences (phone_number_id, contact, value, changed_at, source)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[])
ON CONFLICT (phone_number_id, contact) DO UPDATE
    SET value = EXCLUDED.value, changed_at = EXCLUDED.changed_at, source = EXCLUDED.source,
        recorded_at = now()
    WHERE EXCLUDED.changed_at > marketing_preferences.changed_at
RETURNING phone_number_id, contact, value, changed_at, source
"""


@dataclass(frozen=True, slots=True)
class Preference:
    """One fact: `contact` (wa_id or BSUID) said `value` (stop, resume) to business number
    `phone_number_id` at `at` (Meta's time); `source` says how we learnt it."""

    phone_number_id: str
    contact: str
    value: str
    at: datetime
    source: str

    @property
    def stopped(self) -> bool:
        return self.value == STOP


async def record(
    conn: asyncpg.Connection | asyncpg.Pool, facts: list[Preference]
) -> list[Preference]:
    """Store the facts that are newer than what is stored; return those (the changes)."""
    rows = _latest_of_each(facts)
    if not rows:
        return []
    columns = [
        [p.phone_number_id for p in rows],
        [p.contact for p in rows],
        [p.value for p in rows],
        [p.at for p in rows],
        [p.source for p in rows],
    ]
    return [_preference(r) for r in await conn.fetch(_RECORD, *columns)]


async def get(
    conn: asyncpg.Connection | asyncpg.Pool, phone_number_id: str, contacts: list[str]
) -> Preference | None:
    """The latest preference any of `contacts` (a user's names) gave the number, or None."""
    names = [c for c in contacts if c]
    if not names:
        return None
    p = Params()
    q = (
        PostgreSQLQuery.from_(preferences)
        .select("phone_number_id", "contact", "value", "changed_at", "source")
        .where(preferences.phone_number_id == p(phone_number_id))
        .where(preferences.contact == _any(p(names, "text[]")))
        .orderby(preferences.changed_at)
    )
    rows = await conn.fetch(str(q), *p.args)
    return _preference(rows[-1]) if rows else None


def _latest_of_each(facts: list[Preference]) -> list[Preference]:
    """One fact per number and contact (an upsert touches a row once), the latest; at the same
    time a stop wins. In key order: one lock order everywhere, no deadlocks."""
    latest: dict[tuple[str, str], Preference] = {}
    for f in facts:
        key = (f.phone_number_id, f.contact)
        seen = latest.get(key)
        if seen is None or (f.at, f.stopped) > (seen.at, seen.stopped):
            latest[key] = f
    return [latest[k] for k in sorted(latest)]


def _preference(row: asyncpg.Record) -> Preference:
    return Preference(
        row["phone_number_id"], row["contact"], row["value"], row["changed_at"], row["source"]
    )
