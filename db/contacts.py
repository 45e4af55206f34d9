"""The people the business numbers talk with (`contacts`): each identifier Meta revealed for a
person, linked per business number.

Meta names a user by phone number, business-scoped user id (BSUID), parent BSUID and
username, each only sometimes: an inbound message may carry all of them or the BSUID alone, a
status the ones of the message it is about, a system message the ids a user had and has now.
`seen()` folds each sighting into the person it names by any of its identifiers (merging two
records a sighting shows to be one person); the newest sighting wins a field it names. Most
sightings reveal nothing new: they cost one read, and only a change takes the lock and writes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, replace

import asyncpg

_FIELDS = ("phone", "user_id", "parent_user_id", "username")
# pg_advisory_xact_lock key serializing writers: changes are rare, and two batches linking
# the same person at once must not both insert them.
_LOCK = 0x636F6E74  # "cont"

# Three equality joins, not one join on an OR: each uses its index (an OR compares every
# identifier with every contact of the number).
_MATCHING = """
WITH k AS (SELECT * FROM unnest($1::text[], $2::text[]) AS k(phone_number_id, identifier))
SELECT c.id, c.phone_number_id, c.phone, c.user_id, c.parent_user_id, c.username
FROM contacts c JOIN k USING (phone_number_id) WHERE c.phone = k.identifier
UNION
SELECT c.id, c.phone_number_id, c.phone, c.user_id, c.parent_user_id, c.username
FROM contacts c JOIN k USING (phone_number_id) WHERE c.user_id = k.identifier
UNION
SELECT c.id, c.phone_number_id, c.phone, c.user_id, c.parent_user_id, c.username
FROM contacts c JOIN k USING (phone_number_id) WHERE c.parent_user_id = k.identifier
ORDER BY id
"""
_ONE = """
SELECT id, phone_number_id, phone, user_id, parent_user_id, username FROM contacts
WHERE phone_number_id = $1 AND (phone = $2 OR user_id = $2 OR parent_user_id = $2)
ORDER BY id LIMIT 1
"""
_DELETE = "DELETE FROM contacts WHERE id = ANY($1::bigint[])"
_UPDATE = """
UPDATE contacts SET phone = $2, user_id = $3, parent_user_id = $4, username = $5,
    updated_at = now()
WHERE id = $1
"""
_INSERT = """
INSERT INTO contacts (phone_number_id, phone, user_id, parent_user_id, username)
VALUES ($1, $2, $3, $4, $5)
"""


@dataclass(frozen=True, slots=True)
class Sighting:
    """What one webhook item revealed of a person on a business number; `previous` holds
    the identifiers an id change says they had."""

    phone_number_id: str
    phone: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None
    username: str | None = None
    previous: tuple[str, ...] = ()

    def identifiers(self) -> set[str]:
        return {i for i in (self.phone, self.user_id, self.parent_user_id, *self.previous) if i}


@dataclass(frozen=True, slots=True)
class Contact:
    """A person on a business number, with every identifier known for them."""

    id: int
    phone_number_id: str
    phone: str | None
    user_id: str | None
    parent_user_id: str | None
    username: str | None

    def identifiers(self) -> set[str]:
        return {i for i in (self.phone, self.user_id, self.parent_user_id) if i}


async def get(
    conn: asyncpg.Connection | asyncpg.Pool, phone_number_id: str, identifier: str
) -> Contact | None:
    """The person a phone number, BSUID or parent BSUID names on a business number."""
    row = await conn.fetchrow(_ONE, phone_number_id, identifier)
    return Contact(**dict(row)) if row else None


async def seen(conn: asyncpg.Connection, sightings: Iterable[Sighting]) -> None:
    """Link what Meta revealed to the people it names (in one transaction)."""
    wanted = list(dict.fromkeys(s for s in sightings if s.identifiers()))
    if not wanted:
        return
    book = _Book(await _matching(conn, wanted))
    if not book.apply(wanted):
        return
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
        book = _Book(await _matching(conn, wanted))  # what another writer left, under lock
        book.apply(wanted)
        await book.write(conn)


async def _matching(conn: asyncpg.Connection, sightings: list[Sighting]) -> list[Contact]:
    keys = sorted({(s.phone_number_id, i) for s in sightings for i in s.identifiers()})
    rows = await conn.fetch(_MATCHING, [k[0] for k in keys], [k[1] for k in keys])
    return [Contact(**dict(r)) for r in rows]


class _Book:
    """People as read, changed in memory by sightings, then written back."""

    def __init__(self, known: list[Contact]) -> None:
        self.people: dict[int, Contact] = {}
        self._by_id: dict[tuple[str, str], int] = {}  # (number, identifier) -> person
        for c in known:
            self._put(c)
        self.changed: set[int] = set()
        self.deleted: set[int] = set()
        self._new_ids = itertools.count(-1, -1)  # not yet stored

    def apply(self, sightings: list[Sighting]) -> bool:
        """Fold the sightings in, in order; True when anything changed."""
        for s in sightings:
            self._apply(s)
        return bool(self.changed or self.deleted)

    def _apply(self, s: Sighting) -> None:
        ids = s.identifiers()
        found = {self._by_id.get((s.phone_number_id, i)) for i in ids} - {None}
        # Stored records first, the oldest kept.
        matched = [self.people[i] for i in sorted(found, key=lambda i: (i < 0, abs(i)))]  # type: ignore[arg-type]
        if matched:
            person, *others = matched
        elif len(ids) + (s.username is not None) > 1:
            person, others = Contact(next(self._new_ids), s.phone_number_id, *[None] * 4), []
        else:
            return  # one identifier alone links nothing: the window is kept under it
        values = {f: getattr(person, f) for f in _FIELDS}
        for other in others:  # one person known under two records: keep the first
            self._drop(other)
            self.changed.discard(other.id)
            if other.id > 0:
                self.deleted.add(other.id)
            for f in _FIELDS:
                values[f] = values[f] or getattr(other, f)
        for f in _FIELDS:
            new = getattr(s, f)
            if new is not None:
                values[f] = new
        updated = replace(person, **values)
        if updated != person or others or person.id < 0:
            if person.id in self.people:
                self._drop(person)
            self._put(updated)
            self.changed.add(person.id)

    def _put(self, c: Contact) -> None:
        self.people[c.id] = c
        for i in c.identifiers():
            self._by_id[(c.phone_number_id, i)] = c.id

    def _drop(self, c: Contact) -> None:
        del self.people[c.id]
        for i in c.identifiers():
            if self._by_id.get((c.phone_number_id, i)) == c.id:
                del self._by_id[(c.phone_number_id, i)]

    async def write(self, conn: asyncpg.Connection) -> None:
        if self.deleted:
            await conn.execute(_DELETE, sorted(self.deleted))
        people = [self.people[i] for i in sorted(self.changed, key=abs)]  # in order seen
        updates = [(c.id, *(getattr(c, f) for f in _FIELDS)) for c in people if c.id > 0]
        inserts = [
            (c.phone_number_id, *(getattr(c, f) for f in _FIELDS)) for c in people if c.id < 0
        ]
        if updates:
            await conn.executemany(_UPDATE, updates)
        if inserts:
            await conn.executemany(_INSERT, inserts)
