"""Pricing as data: Meta's `pricing` on status webhooks -> the message's pricing columns, set
once by the first status that carries it; and the worker's billable counter, counted once
per message. On real PostgreSQL (and Redis for the outbox)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from consumers import events
from consumers.context import Context
from db import statuses
from db.statuses import StatusChange
from tests.db.test_statuses import change, queued
from tests.support.settings import NUMBER

COLUMNS = ("pricing_billable", "pricing_model", "pricing_type", "pricing_category")
MARKETING = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"}
SERVICE = {
    "billable": False,
    "pricing_model": "PMP",
    "type": "free_customer_service",
    "category": "service",
}

# label, the statuses (status, Meta's pricing object or None) in one batch, the columns
PRICINGS: list[tuple[str, list[tuple[str, Any]], tuple[Any, ...] | None]] = [
    ("marketing template", [("sent", MARKETING)], (True, "PMP", "regular", "marketing")),
    (
        "free-form in the window",
        [("delivered", SERVICE)],
        (False, "PMP", SERVICE["type"], "service"),
    ),
    (
        "free entry point (click-to-WhatsApp ad)",
        [
            (
                "sent",
                {
                    "billable": False,
                    "pricing_model": "PMP",
                    "type": "free_entry_point",
                    "category": "service",
                },
            )
        ],
        (False, "PMP", "free_entry_point", "service"),
    ),
    (
        "no `billable` (Meta deprecates it): `type: regular` is billable",
        [("sent", {"pricing_model": "PMP", "type": "regular", "category": "utility"})],
        (True, "PMP", "regular", "utility"),
    ),
    (
        "no `billable`, a free type",
        [
            (
                "sent",
                {"pricing_model": "PMP", "type": "free_customer_service", "category": "utility"},
            )
        ],
        (False, "PMP", "free_customer_service", "utility"),
    ),
    (
        "CBP before July 2025: no `type`",
        [("sent", {"billable": True, "pricing_model": "CBP", "category": "authentication"})],
        (True, "CBP", None, "authentication"),
    ),
    (
        "`billable` written as a string",
        [("sent", {**MARKETING, "billable": "false"})],
        (False, "PMP", "regular", "marketing"),
    ),
    (
        "international authentication",
        [("sent", {**MARKETING, "category": "authentication_international"})],
        (True, "PMP", "regular", "authentication_international"),
    ),
    ("no pricing at all", [("sent", None), ("delivered", None)], None),
    ("pricing that is not an object", [("sent", "PMP")], None),
    ("an empty pricing object", [("sent", {})], None),
    (
        "sent and delivered in one batch, priced differently: the earliest status wins",
        [("delivered", {**MARKETING, "category": "utility"}), ("sent", MARKETING)],
        (True, "PMP", "regular", "marketing"),
    ),
    (
        "only a later status carries it",
        [("sent", None), ("read", MARKETING)],
        (True, "PMP", "regular", "marketing"),
    ),
]


def _changes(message_id: uuid.UUID, statuses_: list[tuple[str, Any]]) -> list[StatusChange]:
    return [
        change(message_id, status, i, details={"pricing": p} if p is not None else None)
        for i, (status, p) in enumerate(statuses_)
    ]


async def _columns(pool: asyncpg.Pool, message_id: uuid.UUID) -> tuple[Any, ...] | None:
    row = await pool.fetchrow("SELECT * FROM messages WHERE id = $1", message_id)
    return None if row["priced_at"] is None else tuple(row[c] for c in COLUMNS)


async def _record(pool: asyncpg.Pool, changes: list[StatusChange]) -> list[statuses.Priced]:
    async with pool.acquire() as conn, conn.transaction():
        return (await statuses.record(conn, changes)).priced


@pytest.mark.parametrize(("label", "sequence", "columns"), PRICINGS, ids=[p[0] for p in PRICINGS])
async def test_pricing_objects_become_columns(
    pool: asyncpg.Pool, label: str, sequence: list[tuple[str, Any]], columns: Any
) -> None:
    message_id = await queued(pool)
    priced = await _record(pool, _changes(message_id, sequence))
    assert await _columns(pool, message_id) == columns
    assert [p.message_id for p in priced] == ([message_id] if columns else [])


async def test_a_later_status_never_changes_the_pricing_but_keeps_its_own(pool: asyncpg.Pool):
    """Meta's `sent` then `delivered`, each with pricing: the first sets the columns; the
    second (even if it says otherwise) changes nothing but its own timeline entry."""
    message_id = await queued(pool)
    assert (
        len(await _record(pool, [change(message_id, "sent", 0, details={"pricing": MARKETING})]))
        == 1
    )
    other = {**MARKETING, "billable": False, "category": "utility"}
    later = [change(message_id, "delivered", 1, details={"pricing": other})]
    assert await _record(pool, later) == []
    assert await _columns(pool, message_id) == (True, "PMP", "regular", "marketing")
    timeline = {t["status"]: t["details"] for t in await statuses.timeline(pool, message_id)}
    assert timeline["delivered"] == {"pricing": other}


async def test_a_repeated_webhook_prices_nothing_twice(pool: asyncpg.Pool) -> None:
    message_id = await queued(pool)
    sent = [change(message_id, "sent", 0, details={"pricing": MARKETING})]
    assert len(await _record(pool, sent)) == 1
    assert await _record(pool, sent) == []


async def test_pricing_of_a_status_we_already_had_is_still_taken(pool: asyncpg.Pool) -> None:
    """The sender records `sent` from Meta's answer; Meta's `sent` webhook (a duplicate status,
    not applied again) is the one that brings pricing."""
    message_id = await queued(pool)
    await _record(
        pool, [StatusChange(message_id, "sent", change(message_id, "sent").occurred_at, "sender")]
    )
    assert (
        len(await _record(pool, [change(message_id, "sent", 0, details={"pricing": MARKETING})]))
        == 1
    )
    assert (await _columns(pool, message_id))[3] == "marketing"


def _billable(category: str) -> float:
    labels = {"category": category, "phone_number_id": NUMBER}
    return REGISTRY.get_sample_value("messaging_billable_messages_total", labels) or 0.0


async def test_the_worker_counts_billable_messages_once_per_message(ctx: Context) -> None:
    """Through the outbox write (`consumers.events.record`): counted when the columns are
    first set; free messages and repeated or later statuses are not counted."""
    marketing, service = await queued(ctx.pool), await queued(ctx.pool)
    before = _billable("marketing"), _billable("service")
    await events.record(
        ctx,
        [
            change(marketing, "sent", 0, details={"pricing": MARKETING}),
            change(service, "sent", 0, details={"pricing": SERVICE}),
        ],
    )
    await events.record(ctx, [change(marketing, "delivered", 1, details={"pricing": MARKETING})])
    await events.record(ctx, [change(marketing, "sent", 0, details={"pricing": MARKETING})])
    assert (_billable("marketing") - before[0], _billable("service") - before[1]) == (1, 0)


async def test_pricing_never_deadlocks_with_a_concurrent_batch(pool: asyncpg.Pool) -> None:
    """The sender's `sent` reports and Meta's (a duplicate `sent` with pricing, then
    `delivered`) for the same messages, written at once by two transactions, many times:
    the pricing takes its locks in the batch's order, so neither waits for the other in a
    cycle (PostgreSQL would abort one with a deadlock)."""
    for _ in range(10):
        ids = [await queued(pool) for _ in range(40)]
        sender = [StatusChange(i, "sent", change(i, "sent").occurred_at, "sender") for i in ids]
        meta = [change(i, "sent", 0, details={"pricing": MARKETING}) for i in reversed(ids)]
        meta += [change(i, "delivered", 1) for i in ids]
        results = await asyncio.gather(
            _record(pool, sender), _record(pool, meta), return_exceptions=True
        )
        assert not [r for r in results if isinstance(r, BaseException)], results
        assert {await _columns(pool, i) for i in ids} == {(True, "PMP", "regular", "marketing")}
