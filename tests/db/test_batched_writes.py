"""Every multi-row write a webhook batch feeds, on real PostgreSQL, given one key twice in one
call (a batch holds Meta's retries and a contact's many messages, and the group commit joins
batches): one row per key, and no statement fails."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from pypika import PostgreSQLQuery, Table
from pypika import functions as fn

from db import held_statuses, hub_events, inbound, service_windows, webhook_changes
from db.held_statuses import HeldStatus
from db.hub_events import HubEvent
from db.inbound import NewInbound
from db.webhook_changes import NewChange
from tests.support.settings import NUMBER

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CONTACT = "4915112345678"


@dataclass(frozen=True)
class Case:
    label: str
    write: Callable[[asyncpg.Pool, list[Any]], Awaitable[Any]]
    rows: list[Any]  # the same key more than once
    table: Table


CASES = [
    Case(
        "inbound messages",
        inbound.insert_many,
        [NewInbound("wamid.1", NUMBER, CONTACT, None, "text", T0, {"id": "wamid.1"})] * 2,
        inbound.inbound,
    ),
    Case(
        "other webhook changes",
        webhook_changes.insert_many,
        [NewChange("evt_1", "account_update", "1", T0, {"event": "x"})] * 2,
        webhook_changes.webhook_changes,
    ),
    Case(
        "Hub events",
        hub_events.insert_many,
        [HubEvent("evt_1", "message.received", None, {"id": "evt_1"})] * 2,
        hub_events.hub_events,
    ),
    Case(
        "held statuses",
        held_statuses.hold,
        [HeldStatus("wamid.1", "read", NUMBER, {"id": "wamid.1"}, T0)] * 2,
        held_statuses.held,
    ),
    Case(
        "service windows opened",
        service_windows.opened,
        [(NUMBER, CONTACT, T0), (NUMBER, CONTACT, T0 + timedelta(minutes=1))],
        service_windows.windows,
    ),
    Case(
        "service windows closed",
        service_windows.closed,
        [(NUMBER, CONTACT, T0 + timedelta(minutes=1)), (NUMBER, CONTACT, T0)],
        service_windows.windows,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
async def test_one_key_twice_in_one_call_is_one_row(pool: asyncpg.Pool, case: Case) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await case.write(conn, case.rows)
    count = PostgreSQLQuery.from_(case.table).select(fn.Count("*"))
    assert await pool.fetchval(str(count)) == 1
