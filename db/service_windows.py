"""Meta's customer-service window (`service_windows`), per business number and person.

A contact's message to a number opens the window for `WINDOW` from when it was sent; Meta's
131047 answer ("more than 24 hours have passed") closes it before that. Free-form messages
are allowed only while it is open; templates always are. Both timestamps only move forward,
so replays and out-of-order webhooks change nothing.

Rows are kept per identifier (`wa_id`: the phone number, or the BSUID of a user whose number
Meta withholds), and a window belongs to the person: `get()` answers for every identifier
`db.contacts` links to the one asked about, so a user who wrote by BSUID is inside their
window when written to by phone number, and the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from pypika import Table

windows = Table("service_windows")
WINDOW = timedelta(hours=24)

_OPENED = """
INSERT INTO service_windows (phone_number_id, wa_id, last_inbound_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
ON CONFLICT (phone_number_id, wa_id) DO UPDATE SET last_inbound_at =
    GREATEST(service_windows.last_inbound_at, EXCLUDED.last_inbound_at)
"""
_CLOSED = """
INSERT INTO service_windows (phone_number_id, wa_id, closed_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
ON CONFLICT (phone_number_id, wa_id) DO UPDATE SET closed_at =
    GREATEST(service_windows.closed_at, EXCLUDED.closed_at)
"""


# The latest opening and closing over every identifier of the person.
_PERSON = """
SELECT max(last_inbound_at) AS last_inbound_at, max(closed_at) AS closed_at
FROM service_windows
WHERE phone_number_id = $1 AND wa_id IN (
    SELECT $2::text
    UNION ALL
    SELECT unnest(ARRAY[phone, user_id, parent_user_id]) FROM contacts
    WHERE phone_number_id = $1 AND (phone = $2 OR user_id = $2 OR parent_user_id = $2)
)
"""


@dataclass(frozen=True, slots=True)
class Window:
    phone_number_id: str
    wa_id: str
    last_inbound_at: datetime | None
    closed_at: datetime | None

    @property
    def expires_at(self) -> datetime | None:
        """When it closes (or closed), None if the contact never wrote."""
        if self.last_inbound_at is None:
            return None
        ends = self.last_inbound_at + WINDOW
        if self.closed_at is not None and self.closed_at >= self.last_inbound_at:
            return min(ends, self.closed_at)  # Meta closed it; a later message reopens it
        return ends

    def is_open(self, now: datetime) -> bool:
        ends = self.expires_at
        return ends is not None and now < ends


async def opened(
    conn: asyncpg.Connection | asyncpg.Pool, rows: list[tuple[str, str, datetime]]
) -> None:
    """Contacts wrote: (phone number id, wa_id, when their message was sent); a contact may
    come many times, its latest message counts."""
    await _upsert(conn, _OPENED, rows)


async def closed(
    conn: asyncpg.Connection | asyncpg.Pool, rows: list[tuple[str, str, datetime]]
) -> None:
    """Meta said the windows are closed (131047): (phone number id, wa_id, when it said so);
    a contact may come many times, the latest closing counts."""
    await _upsert(conn, _CLOSED, rows)


async def _upsert(
    conn: asyncpg.Connection | asyncpg.Pool, sql: str, rows: list[tuple[str, str, datetime]]
) -> None:
    if rows:
        rows = _latest_of_each(rows)
        await conn.execute(sql, *(list(column) for column in zip(*rows, strict=True)))


def _latest_of_each(rows: list[tuple[str, str, datetime]]) -> list[tuple[str, str, datetime]]:
    """One row per number and contact, with its latest time, in key order. An upsert may
    touch a row only once (PostgreSQL's CardinalityViolationError), and a batch can hold a
    contact's many messages; one lock order everywhere means no deadlocks."""
    latest: dict[tuple[str, str], datetime] = {}
    for number, wa_id, at in rows:
        seen = latest.get((number, wa_id))
        if seen is None or at > seen:
            latest[(number, wa_id)] = at
    return [(number, wa_id, at) for (number, wa_id), at in sorted(latest.items())]


async def get(
    conn: asyncpg.Connection | asyncpg.Pool, phone_number_id: str, identifier: str
) -> Window:
    """The window of the person a phone number or (parent) BSUID names on a number."""
    row = await conn.fetchrow(_PERSON, phone_number_id, identifier)
    return Window(phone_number_id, identifier, row["last_inbound_at"], row["closed_at"])
