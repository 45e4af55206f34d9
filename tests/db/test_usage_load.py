"""Usage on a year of messages: a month's report reads only `messages_priced_idx` (an
index-only scan, EXPLAIN: next to no heap fetch); the times are printed (`-s`) beside a
year's (which PostgreSQL may rightly read in full) and a month's without the index.

The suite fills 200,000 messages; `USAGE_LOAD_MESSAGES=1000000` reproduces the figures in
docs/api.md (the same year, the same share of it per month, five times as dense)."""

from __future__ import annotations

import os
import re
import statistics
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from db.usage import usage_sql
from tests.support.explain import explain

pytestmark = pytest.mark.slow

MESSAGES = int(os.environ.get("USAGE_LOAD_MESSAGES", "200000"))
SPACING_S = 30 * 1_000_000 // MESSAGES  # 347 days in all; 1 in 10 never priced (failed, pending)
RUNS = 5
CHUNK = 100_000

_FILL = """
INSERT INTO messages (id, request_hash, recipient, type, payload, status, phone_number_id,
                      caller, created_at, pricing_billable, pricing_model, pricing_type,
                      pricing_category, priced_at)
SELECT gen_random_uuid(), 'h',
       (ARRAY['4915112345678', '447700900123', '12125550100', '5511987654321'])[1 + i % 4],
       'template', '{}', 'read',
       (ARRAY['106540352242922', '106540352242999'])[1 + i % 2],
       (ARRAY['default', 'billing', 'support'])[1 + i % 3],
       $1::timestamptz - i * $4 * interval '1 second',
       CASE WHEN i % 10 <> 0 THEN i % 7 <> 0 END, 'PMP',
       CASE WHEN i % 10 <> 0 THEN CASE WHEN i % 7 = 0 THEN 'free_customer_service'
                                       ELSE 'regular' END END,
       CASE WHEN i % 10 <> 0 THEN (ARRAY['marketing', 'utility', 'authentication',
                                          'service'])[1 + i % 4] END,
       CASE WHEN i % 10 <> 0 THEN $1::timestamptz - i * $4 * interval '1 second' END
FROM generate_series($2::int, $3::int) AS i
"""
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def filled(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Pool]:
    started = time.perf_counter()
    for first in range(1, MESSAGES + 1, CHUNK):  # each statement within the pool's 30 s
        await pool.execute(_FILL, NOW, first, min(first + CHUNK - 1, MESSAGES), SPACING_S)
    await pool.execute(
        "VACUUM ANALYZE messages", timeout=300
    )  # sets the visibility map: index-only
    print(f"\ninserted {MESSAGES} messages in {time.perf_counter() - started:.1f} s")
    try:
        yield pool
    finally:
        await pool.execute("TRUNCATE messages CASCADE")


async def _median_ms(pool: asyncpg.Pool, sql: str, args: list[Any]) -> tuple[float, int]:
    times, rows = [], 0
    for _ in range(RUNS):
        started = time.perf_counter()
        rows = sum(r["messages"] for r in await pool.fetch(sql, *args))
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), rows


@pytest.mark.timeout(600)
async def test_usage_reads_only_the_priced_index(filled: asyncpg.Pool) -> None:
    month = (NOW - timedelta(days=30), NOW)
    year = (NOW - timedelta(days=366), NOW)
    cases = {
        "month": usage_sql(*month),
        "month, one number and caller, rate card prefixes": usage_sql(
            *month, phone_number_id="106540352242999", caller="billing", prefix_digits=4
        ),
        "year": usage_sql(*year, prefix_digits=4),
    }
    for label, (sql, args) in cases.items():
        plan = await explain(filled, sql, *args)
        if label != "year":  # a period of the whole table may rightly be read in full
            assert "Index Only Scan using messages_priced_idx" in plan, plan
            assert "Seq Scan" not in plan, plan
        ms, counted = await _median_ms(filled, sql, args)
        if label != "year":
            # The visibility map answers for the rows, not the table: a handful of pages an
            # older snapshot kept VACUUM from marking all-visible may still be read.
            fetches = int(re.search(r"Heap Fetches: (\d+)", plan)[1])  # type: ignore[index]
            assert fetches <= counted // 100, plan
        scan = next(line.strip().split("  (")[0] for line in plan.splitlines() if "Scan" in line)
        print(f"{label}: {counted} priced messages counted, median {ms:.1f} ms of {RUNS} ({scan})")
    sql, args = cases["month"]
    plan = await explain(filled, sql, *args, without="messages_priced_idx")
    scan = next(line.strip() for line in plan.splitlines() if "Execution Time" in line)
    print(f"month without messages_priced_idx: {scan}")
