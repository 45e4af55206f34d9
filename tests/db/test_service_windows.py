"""The 24 h customer-service window on real PostgreSQL: opened by the contact's messages,
closed early by Meta's 131047, reopened by the next message; replays change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from db import contacts, service_windows
from db.contacts import Sighting

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
N, C = "106540352242922", "4915112345678"


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


# label, inbound messages (hours), Meta's closings (hours), now (hours), open, expires (hours)
CASES = [
    ("never wrote", [], [], 0, False, None),
    ("wrote an hour ago", [0], [], 1, True, 24),
    ("wrote a day ago", [0], [], 24, False, 24),
    ("the latest message counts, whatever the order", [5, 0], [], 28, True, 29),
    ("Meta closed it", [0], [2], 3, False, 2),
    ("a message after Meta's closing reopens it", [0, 3], [2], 4, True, 27),
    ("an old closing does not close a new window", [3], [2], 4, True, 27),
]


@pytest.mark.parametrize(
    ("label", "inbound", "closings", "now", "is_open", "expires"), CASES, ids=[c[0] for c in CASES]
)
async def test_window(pool: asyncpg.Pool, label, inbound, closings, now, is_open, expires) -> None:
    for at in inbound:
        await service_windows.opened(pool, [(N, C, h(at))])
        await service_windows.opened(pool, [(N, C, h(at))])  # Meta's retry: nothing new
    for at in closings:
        await service_windows.closed(pool, [(N, C, h(at))])
    window = await service_windows.get(pool, N, C)
    assert window.is_open(h(now)) is is_open
    assert window.expires_at == (h(expires) if expires is not None else None)


async def test_windows_are_per_number_and_contact(pool: asyncpg.Pool) -> None:
    await service_windows.opened(pool, [(N, C, T0), ("999", "4915100000000", T0)])
    assert (await service_windows.get(pool, N, C)).is_open(h(1))
    assert not (await service_windows.get(pool, "999", C)).is_open(h(1))
    assert not (await service_windows.get(pool, N, "4915100000000")).is_open(h(1))


async def test_one_call_may_name_a_contact_many_times_and_the_latest_time_counts(
    pool: asyncpg.Pool,
) -> None:
    """A webhook batch holds a contact's every message (and every 131047 to it): one
    statement, each row touched once."""
    await service_windows.opened(pool, [(N, C, h(0)), (N, C, h(5)), (N, C, h(2))])
    await service_windows.closed(pool, [(N, C, h(1)), (N, C, h(3)), (N, C, h(1))])
    window = await service_windows.get(pool, N, C)
    assert (window.last_inbound_at, window.closed_at) == (h(5), h(3))


USER = "US.13491208655302741918"
PARENT = "US.ENT.11815799212886844830"


@pytest.mark.parametrize(
    ("wrote_by", "closed_by", "asked"),
    [
        (USER, None, C),
        (C, None, USER),
        (USER, None, PARENT),
        (USER, C, USER),
        (C, USER, C),
    ],
    ids=[
        "wrote by BSUID, asked by number",
        "wrote by number, asked by BSUID",
        "wrote by BSUID, asked by parent BSUID",
        "Meta closed it for the number, asked by BSUID",
        "Meta closed it for the BSUID, asked by number",
    ],
)
async def test_the_window_belongs_to_the_person(
    pool: asyncpg.Pool, wrote_by: str, closed_by: str | None, asked: str
) -> None:
    async with pool.acquire() as conn:
        await contacts.seen(conn, [Sighting(N, C, USER, PARENT, "@sheena")])
    await service_windows.opened(pool, [(N, wrote_by, h(0))])
    if closed_by:
        await service_windows.closed(pool, [(N, closed_by, h(2))])
    window = await service_windows.get(pool, N, asked)
    assert window.last_inbound_at == h(0)
    assert window.is_open(h(3)) is (closed_by is None)
    await service_windows.opened(pool, [(N, asked, h(4))])  # a new message reopens it
    assert (await service_windows.get(pool, N, wrote_by)).is_open(h(5))


async def test_an_unlinked_bsuid_has_its_own_window(pool: asyncpg.Pool) -> None:
    await service_windows.opened(pool, [(N, USER, h(0))])
    assert (await service_windows.get(pool, N, USER)).is_open(h(1))
    assert not (await service_windows.get(pool, N, C)).is_open(h(1))
