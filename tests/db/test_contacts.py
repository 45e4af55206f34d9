"""One person, several identifiers, on real PostgreSQL: what inbound messages, statuses and
id changes reveal is linked per business number, records a sighting shows to be one person
are merged, and a sighting that reveals nothing new writes nothing."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from db import contacts
from db.contacts import Sighting

N, N2 = "106540352242922", "110200345501442"
PHONE, PHONE2 = "4915112345678", "4915187654321"
USER, USER2 = "US.13491208655302741918", "US.20731208655302741777"
PARENT = "US.ENT.11815799212886844830"

# label, sightings in order, expected people on N as (phone, user_id, parent_user_id, username)
CASES = [
    ("a number alone links nothing", [Sighting(N, PHONE)], []),
    ("a BSUID alone links nothing", [Sighting(N, None, USER)], []),
    (
        "an inbound message with number and BSUID",
        [Sighting(N, PHONE, USER)],
        [(PHONE, USER, None, None)],
    ),
    (
        "a username user: BSUID, parent BSUID and username",
        [Sighting(N, None, USER, PARENT, "@sheena")],
        [(None, USER, PARENT, "@sheena")],
    ),
    (
        "a later status reveals the number: the same person",
        [Sighting(N, None, USER, None, "@sheena"), Sighting(N, PHONE, USER)],
        [(PHONE, USER, None, "@sheena")],
    ),
    (
        "known apart by number and by BSUID, then linked: merged into one",
        [
            Sighting(N, PHONE, None, None, "@old"),
            Sighting(N, None, USER, PARENT),
            Sighting(N, PHONE, USER),
        ],
        [(PHONE, USER, PARENT, "@old")],
    ),
    (
        "the newest username wins",
        [Sighting(N, None, USER, None, "@old"), Sighting(N, None, USER, None, "@new")],
        [(None, USER, None, "@new")],
    ),
    (
        "the parent BSUID finds the person",
        [Sighting(N, None, USER, PARENT), Sighting(N, PHONE, None, PARENT)],
        [(PHONE, USER, PARENT, None)],
    ),
    (
        "a BSUID change moves the person to the new id",
        [Sighting(N, PHONE, USER), Sighting(N, None, USER2, previous=(USER,))],
        [(PHONE, USER2, None, None)],
    ),
    (
        "a number change: new number and new BSUID",
        [Sighting(N, PHONE, USER), Sighting(N, PHONE2, USER2, previous=(PHONE, USER))],
        [(PHONE2, USER2, None, None)],
    ),
    (
        "two people stay two",
        [Sighting(N, PHONE, USER), Sighting(N, PHONE2, USER2)],
        [(PHONE, USER, None, None), (PHONE2, USER2, None, None)],
    ),
    (
        "people are per business number",
        [Sighting(N2, PHONE, USER)],
        [],
    ),
]


async def _people(pool: asyncpg.Pool, number: str = N) -> list[tuple]:
    rows = await pool.fetch(
        "SELECT phone, user_id, parent_user_id, username FROM contacts"
        " WHERE phone_number_id = $1 ORDER BY id",
        number,
    )
    return [tuple(r) for r in rows]


@pytest.mark.parametrize(("label", "sightings", "people"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("batched", [False, True], ids=["one by one", "in one batch"])
async def test_sightings_link_people(pool: asyncpg.Pool, label, sightings, people, batched):
    async with pool.acquire() as conn:
        for part in [sightings] if batched else [[s] for s in sightings]:
            await contacts.seen(conn, part)
    assert await _people(pool) == people


async def test_any_identifier_finds_the_person(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await contacts.seen(conn, [Sighting(N, PHONE, USER, PARENT, "@sheena")])
    found = [await contacts.get(pool, N, i) for i in (PHONE, USER, PARENT)]
    assert {p.id for p in found if p} == {found[0].id}  # type: ignore[union-attr]
    assert found[0] is not None and found[0].username == "@sheena"
    assert await contacts.get(pool, N2, PHONE) is None
    assert await contacts.get(pool, N, PHONE2) is None


async def test_what_is_known_already_writes_nothing(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await contacts.seen(conn, [Sighting(N, PHONE, USER, None, "@sheena")])
        before = await conn.fetchval("SELECT updated_at FROM contacts")
        await contacts.seen(conn, [Sighting(N, PHONE, USER), Sighting(N, None, USER, None)])
        assert await conn.fetchval("SELECT updated_at FROM contacts") == before


async def test_two_writers_linking_one_person_make_one_record(pool: asyncpg.Pool) -> None:
    """Two worker processes see the same new person at once: the lock makes them take turns."""

    async def see() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await contacts.seen(conn, [Sighting(N, PHONE, USER, None, "@sheena")])

    await asyncio.gather(see(), see(), see())
    assert await _people(pool) == [(PHONE, USER, None, "@sheena")]
