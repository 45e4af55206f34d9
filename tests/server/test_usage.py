"""`GET /api/v1/usage/` in-process on real PostgreSQL: priced messages counted by category,
number and caller over a period of `created_at`, its filters and their 400s, and the rate
card's estimated cost."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from core.api_keys import parse
from db import messages
from db.messages import NewMessage
from tests.conftest import Services
from tests.support.inprocess import Served, serving

A, B = "106540352242922", "106540352242999"
DAY = datetime(2026, 11, 10, 9, 30, tzinfo=UTC)
NOV = {"from": "2026-11-01", "to": "2026-11-30"}


@pytest.fixture
async def app(
    database_url: str, services: Services, pool: asyncpg.Pool, redis: Redis
) -> AsyncIterator[Served]:
    async with serving(database_url, services.redis_url) as served:
        yield served


async def stored(
    pool: asyncpg.Pool,
    *,
    number: str = A,
    caller: str = "default",
    category: str | None = "marketing",
    billable: bool | None = True,
    to: str = "4915112345678",
    created_at: datetime = DAY,
    priced: bool = True,
    purged: bool = False,
) -> uuid.UUID:
    m = NewMessage(
        id=uuid.uuid4(),
        idempotency_key=None,
        request_hash="0" * 64,
        recipient=to,
        type="template",
        payload={},
        metadata=None,
        phone_number_id=number,
        caller=caller,
    )
    await messages.insert(pool, m)
    await pool.execute(
        "UPDATE messages SET created_at = $2, pricing_billable = $3, pricing_category = $4, "
        "pricing_model = 'PMP', priced_at = CASE WHEN $5 THEN now() END, "
        "payload = CASE WHEN $6 THEN NULL ELSE payload END, "
        "purged_at = CASE WHEN $6 THEN now() END WHERE id = $1",
        m.id,
        created_at,
        billable,
        category,
        priced,
        purged,
    )
    return m.id


async def usage(app: Served, **params: str) -> Any:
    client, _ = app
    return await client.get("/api/v1/usage/", params=params)


async def a_month(pool: asyncpg.Pool) -> None:
    """Two numbers, three callers, three categories; and what does not count."""
    await stored(pool, caller="billing", category="marketing", to="4915112345678")
    await stored(pool, caller="billing", category="marketing", to="447700900123")
    await stored(pool, caller="support", category="service", billable=False)
    await stored(pool, number=B, caller="billing", category="utility", to="12125550100")
    await stored(pool, number=B, category="authentication", to="US.13491208655302741918")
    await stored(pool, category="utility", purged=True)  # retention kept the row: it counts
    await stored(pool, priced=False)  # no status brought pricing yet
    await stored(pool, created_at=DAY - timedelta(days=30))  # October
    await stored(pool, created_at=datetime(2026, 12, 1, tzinfo=UTC))  # December


async def test_counts_by_category_number_and_caller(app: Served, pool: asyncpg.Pool) -> None:
    await a_month(pool)
    r = await usage(app, **NOV)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["from"], body["to"]) == ("2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00")
    assert body["currency"] is None and "estimated_cost" not in body["totals"]
    assert body["totals"] == {"messages": 6, "billable": 5, "free": 1}
    assert body["by_category"] == {
        "authentication": {"messages": 1, "billable": 1, "free": 0},
        "marketing": {"messages": 2, "billable": 2, "free": 0},
        "service": {"messages": 1, "billable": 0, "free": 1},
        "utility": {"messages": 2, "billable": 2, "free": 0},
    }
    assert body["by_phone_number"] == {
        A: {"messages": 4, "billable": 3, "free": 1},
        B: {"messages": 2, "billable": 2, "free": 0},
    }
    assert body["by_caller"] == {
        "billing": {"messages": 3, "billable": 3, "free": 0},
        "default": {"messages": 2, "billable": 2, "free": 0},
        "support": {"messages": 1, "billable": 0, "free": 1},
    }


# label, the query, the totals it answers
FILTERS = [
    ("one number", {**NOV, "phone_number_id": B}, (2, 2, 0)),
    ("one caller", {**NOV, "caller": "support"}, (1, 0, 1)),
    ("number and caller", {**NOV, "phone_number_id": A, "caller": "billing"}, (2, 2, 0)),
    ("a caller nobody is", {**NOV, "caller": "marketing-team"}, (0, 0, 0)),
    ("`to` a date counts that whole day", {"from": "2026-11-10", "to": "2026-11-10"}, (6, 5, 1)),
    (
        "date-times: [from, to)",
        {"from": "2026-11-10T09:30:00Z", "to": "2026-11-10T09:30:00.000001+00:00"},
        (6, 5, 1),
    ),
    ("a naive date-time is UTC", {"from": "2026-11-10T09:30:01", "to": "2026-11-11"}, (0, 0, 0)),
    ("from alone: until now", {"from": "2026-10-01"}, (9 - 1, 7, 1)),
    ("to alone: from the first of its month", {"to": "2026-10-31"}, (1, 1, 0)),
]


@pytest.mark.parametrize(("label", "params", "totals"), FILTERS, ids=[f[0] for f in FILTERS])
async def test_filters(
    app: Served, pool: asyncpg.Pool, label: str, params: dict[str, str], totals: tuple
) -> None:
    await a_month(pool)
    r = await usage(app, **params)
    assert r.status_code == 200, r.text
    t = r.json()["totals"]
    assert (t["messages"], t["billable"], t["free"]) == totals


async def test_the_default_period_is_the_current_month(app: Served, pool: asyncpg.Pool) -> None:
    now = datetime.now(UTC)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    await stored(pool, created_at=max(now - timedelta(seconds=1), month))
    await stored(pool, created_at=month - timedelta(microseconds=1))
    body = (await usage(app)).json()
    assert body["from"] == month.isoformat()
    assert body["totals"]["messages"] == 1


# label, the query, the field each 400 names
ERRORS = [
    ("unknown parameter", {"form": "2026-11-01"}, ["form"]),
    ("from not a date", {"from": "yesterday"}, ["from"]),
    ("to not a date", {"to": "2026-13-01"}, ["to"]),
    ("empty from", {"from": ""}, ["from"]),
    ("to past the calendar", {"to": "9999-12-31"}, ["to"]),
    ("to at its very start", {"to": "0001-01-01T00:00:00Z"}, ["to"]),
    ("from before year 1 in UTC", {"from": "0001-01-01T00:00:00+14:00"}, ["from"]),
    ("to before from", {"from": "2026-11-02", "to": "2026-11-01T00:00:00Z"}, ["to"]),
    ("number not digits", {"phone_number_id": "+1 555"}, ["phone_number_id"]),
    ("caller not a name", {"caller": "bad name!"}, ["caller"]),
    ("several at once", {"from": "x", "caller": "", "limit": "5"}, ["limit", "from", "caller"]),
]


@pytest.mark.parametrize(("label", "params", "fields"), ERRORS, ids=[e[0] for e in ERRORS])
async def test_bad_queries_are_400_naming_the_field(
    app: Served, label: str, params: dict[str, str], fields: list[str]
) -> None:
    r = await usage(app, **params)
    assert r.status_code == 400, r.text
    assert [f["field"] for f in r.json()["error"]["fields"]] == fields


async def test_each_message_records_the_caller_of_its_key(app: Served) -> None:
    """`billing:KEY` sends as billing; a bare key, the rotating-out one too, as default."""
    client, env = app
    keys = {k.key: k.caller for k in parse(env["MESSAGING_SERVICE_API_KEY"])}
    assert sorted(keys.values()) == ["billing", "default", "default"]
    body = {"to": "+4915112345678", "type": "text", "text": {"body": "Shipped"}}
    for key, caller in keys.items():
        r = await client.post("/api/v1/messages/send/", json=body, headers={"Api-Key": key})
        assert r.status_code == 202, r.text
        status = await client.get(r.headers["Location"], headers={"Api-Key": key})
        assert (status.json()["caller"], status.json()["pricing"]) == (caller, None)


async def test_it_needs_the_api_key(app: Served) -> None:
    client, _ = app
    r = await client.get("/api/v1/usage/", headers={"Api-Key": "wrong"})
    assert r.status_code == 401


RATES = {
    "currency": "USD",
    "rates": {
        "49": {"marketing": 0.1365, "utility": 0.0456},
        "44": {"marketing": 0.0705},
        "1": {"utility": 0.004},
        "*": {"authentication": 0.03},
    },
}
CSV = "country_calling_code,category,price,currency\n" + "".join(
    f"{code},{category},{price},USD\n"
    for code, prices in RATES["rates"].items()
    for category, price in prices.items()
)


@pytest.mark.parametrize("kind", ["json", "csv"])
async def test_a_rate_card_turns_counts_into_estimated_cost(
    database_url: str, services: Services, pool: asyncpg.Pool, tmp_path: Path, kind: str
) -> None:
    card = tmp_path / f"rates.{kind}"
    card.write_text(json.dumps(RATES) if kind == "json" else CSV)
    await a_month(pool)
    await stored(pool, category="marketing_lite", to="4915112345678")  # no rate: unrated
    async with serving(database_url, services.redis_url, USAGE_RATE_CARD_PATH=str(card)) as app:
        body = (await usage(app, **NOV)).json()
    assert body["currency"] == "USD"
    cost = {name: (c["estimated_cost"], c["unrated"]) for name, c in body["by_category"].items()}
    assert cost == {
        "authentication": (0.03, 0),  # sent by BSUID alone: the `*` rate
        "marketing": (0.207, 0),  # one to +49, one to +44
        "marketing_lite": (0.0, 1),
        "service": (0.0, 0),  # free: never priced
        "utility": (0.0496, 0),  # +1 and +49 (purged, still counted)
    }
    assert body["by_caller"]["billing"]["estimated_cost"] == pytest.approx(0.1365 + 0.0705 + 0.004)
    assert body["totals"]["estimated_cost"] == pytest.approx(0.2866)
    assert body["totals"]["unrated"] == 1
