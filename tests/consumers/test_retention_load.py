"""Retention on 100,000 old messages: each batch walks its index (EXPLAIN), the purge takes
every old message past `sending` and nothing else, the status API still answers for a purged
message, and sends keep their p99 while the purge runs (measured, printed: `-s`)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

import db
from consumers import retention
from core.settings import Settings
from db.retention import RULES, batch_sql
from tests.conftest import Services
from tests.support.explain import explain
from tests.support.inprocess import serving
from tests.support.settings import NUMBER, VALID

pytestmark = pytest.mark.slow

OLD_MESSAGES = 100_000  # 1 in 100 still queued or sending: never purged
OLD_OTHERS = 20_000  # inbound messages and delivered Hub events
RECENT = 2_000
SENDS = 400  # the baseline's; during the purge, sends go on until it ends
CLIENTS = 4

_OLD_MESSAGES = """
INSERT INTO messages (id, request_hash, recipient, type, payload, metadata, status,
                      phone_number_id, wamid, error, created_at, sent_at)
SELECT gen_random_uuid(), 'h', '4915112345678', 'text',
       jsonb_build_object('type', 'text', 'text', jsonb_build_object('body', repeat('x', 300))),
       jsonb_build_object('order', i),
       CASE WHEN i % 200 = 0 THEN 'queued' WHEN i % 100 = 0 THEN 'sending'
            ELSE (ARRAY['sent', 'delivered', 'read', 'played', 'failed'])[1 + i % 5] END,
       $1, 'wamid.old' || i,
       CASE WHEN i % 5 = 4 AND i % 100 <> 0
            THEN '{"code": 131026, "title": "Message undeliverable"}'::jsonb END,
       now() - interval '31 days' - i * interval '20 seconds',
       now() - interval '31 days' - i * interval '20 seconds'
FROM generate_series(1, $2) AS i
"""
_RECENT_MESSAGES = """
INSERT INTO messages (id, request_hash, recipient, type, payload, status, phone_number_id,
                      created_at)
SELECT gen_random_uuid(), 'h', '4915112345678', 'text', '{"type": "text"}', 'read', $1,
       now() - i * interval '1 minute'
FROM generate_series(1, $2) AS i
"""
_OLD_INBOUND = """
INSERT INTO inbound_messages (wamid, sender, type, sent_at, payload, received_at)
SELECT 'wamid.in' || i, '4915112345678', 'text', now(),
       jsonb_build_object('text', jsonb_build_object('body', repeat('y', 300))),
       now() - interval '31 days' - i * interval '20 seconds'
FROM generate_series(1, $1) AS i
"""
_OLD_EVENTS = """
INSERT INTO hub_events (id, type, payload, status, created_at, delivered_at)
SELECT 'evt_old' || i, 'message.received', jsonb_build_object('data', repeat('z', 300)),
       'delivered', now() - interval '31 days' - i * interval '20 seconds',
       now() - interval '31 days' - i * interval '20 seconds'
FROM generate_series(1, $1) AS i
"""
_SEND = orjson.dumps({"to": "+4915112345678", "type": "text", "text": {"body": "Shipped"}})


@pytest.fixture
async def filled(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Pool]:
    """The unit-test database with the old and recent rows; emptied again at the end."""
    started = time.perf_counter()
    await pool.execute(_OLD_MESSAGES, NUMBER, OLD_MESSAGES)
    await pool.execute(_RECENT_MESSAGES, NUMBER, RECENT)
    await pool.execute(_OLD_INBOUND, OLD_OTHERS)
    await pool.execute(_OLD_EVENTS, OLD_OTHERS)
    # Vacuumed and written out now, so neither autovacuum nor a checkpoint works on these rows
    # while latencies are measured.
    await pool.execute("VACUUM ANALYZE messages, inbound_messages, hub_events")
    await pool.execute("CHECKPOINT")
    print(f"\ninserted {OLD_MESSAGES + RECENT + 2 * OLD_OTHERS} rows in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    try:
        yield pool
    finally:
        await pool.execute(
            "TRUNCATE messages, message_statuses, inbound_messages, hub_events, hub_event_attempts"
        )


def _summary(plan: str) -> str:
    lines = plan.splitlines()
    return " | ".join(line.strip() for line in lines if "Scan" in line or "Execution" in line)


def _purge_in_own_loop(database_url: str, settings: Settings) -> tuple[dict[str, int], float]:
    """The worker's purge, in its own event loop and pool (as in its own process)."""

    async def purge() -> tuple[dict[str, int], float]:
        pool = await db.create_pool(database_url, min_size=1, max_size=2)
        started = time.perf_counter()
        try:
            return await retention.purge(pool, settings), time.perf_counter() - started
        finally:
            await pool.close()

    return asyncio.run(purge())


async def _sends(client: httpx.AsyncClient, until: Any) -> list[float]:
    """Latencies (s) of sends from CLIENTS clients at once, each in turn, until `until()`."""
    latencies: list[float] = []

    async def one_client() -> None:
        while not until(len(latencies)):
            started = time.perf_counter()
            r = await client.post(
                "/api/v1/messages/send/",
                content=_SEND,
                headers={"Content-Type": "application/json"},
            )
            latencies.append(time.perf_counter() - started)
            assert r.status_code == 202, r.text

    await asyncio.gather(*(one_client() for _ in range(CLIENTS)))
    return latencies


def _p(latencies: list[float], q: int) -> float:
    return statistics.quantiles(latencies, n=100)[q - 1] * 1000


async def test_purge_of_100k_old_rows_keeps_sends_p99_and_the_status_api(
    filled: asyncpg.Pool, database_url: str, services: Services
) -> None:
    pool = filled
    cutoff = datetime.now(UTC) - timedelta(days=30)
    oldest = datetime.min.replace(tzinfo=UTC)
    messages_rule = RULES[0]
    sql = batch_sql(messages_rule, 1000)
    plan = await explain(pool, sql, cutoff, oldest)
    scan = await explain(pool, sql, cutoff, oldest, without="messages_unpurged_idx")
    print(f"batch of 1000 from the index: {_summary(plan)}")
    print(f"batch of 1000 without it:     {_summary(scan)}")
    assert "Index Scan using messages_unpurged_idx" in plan
    assert "Seq Scan on messages" not in plan
    for rule, index in (
        (RULES[1], "inbound_messages_unpurged_idx"),
        (RULES[2], "hub_events_delivered_idx"),
    ):
        assert f"Index Scan using {index}" in await explain(
            pool, batch_sql(rule, 1000), cutoff, oldest
        )

    settings = Settings.from_env({**VALID, "RETENTION_DAYS": "30"})
    async with serving(database_url, services.redis_url) as (client, _):
        warmup = await _sends(client, lambda n: n >= 200)  # connections open, statements prepared
        baseline = await _sends(client, lambda n: n >= SENDS)
        purging = asyncio.create_task(asyncio.to_thread(_purge_in_own_loop, database_url, settings))
        during = await _sends(client, lambda n: purging.done() and n >= SENDS)
        done, took = await purging
        after = await _sends(client, lambda n: n >= SENDS)

        print(f"purge: {done} in {took:.1f} s (batches of {settings.retention_batch_rows},"
              f" {settings.retention_pause_ms} ms apart)")  # fmt: skip
        phases = (("before the purge", baseline), ("during the purge", during), ("after it", after))
        for label, lat in phases:
            print(f"send {label:<16}: n={len(lat)} p50={_p(lat, 50):.1f} ms "
                  f"p99={_p(lat, 99):.1f} ms max={max(lat) * 1000:.1f} ms")  # fmt: skip

        terminal = OLD_MESSAGES - OLD_MESSAGES // 100
        assert done == {
            "messages": terminal,
            "inbound_messages": OLD_OTHERS,
            "hub_events": OLD_OTHERS,
            "webhook_changes": 0,
            "held_statuses": 0,
        }
        counts = await pool.fetchrow(
            "SELECT count(*) FILTER (WHERE purged_at IS NOT NULL) AS purged,"
            " count(*) FILTER (WHERE purged_at IS NULL AND payload IS NOT NULL"
            "   AND status IN ('queued', 'sending') AND created_at < $1) AS unsent_kept,"
            " count(*) FILTER (WHERE purged_at IS NULL AND created_at > $1) AS recent_kept"
            " FROM messages",
            cutoff,
        )
        assert dict(counts) == {
            "purged": terminal,
            "unsent_kept": OLD_MESSAGES // 100,
            "recent_kept": RECENT + len(warmup) + len(baseline) + len(during) + len(after),
        }

        sizes = await pool.fetchrow(
            "SELECT avg(pg_column_size(m.*)) FILTER (WHERE purged_at IS NOT NULL) AS purged,"
            " avg(pg_column_size(m.*)) FILTER (WHERE purged_at IS NULL AND created_at < $1)"
            " AS with_body FROM messages m",
            cutoff,
        )
        print(f"message row: {sizes['with_body']:.0f} bytes with its body (300 characters),"
              f" {sizes['purged']:.0f} purged")  # fmt: skip

        # Generous: the machine is shared; the numbers printed above are the measurement.
        assert _p(during, 99) < max(2000.0, 20 * max(_p(baseline, 99), _p(after, 99)))

        failed = await pool.fetchrow(
            "SELECT id, created_at FROM messages WHERE status = 'failed' AND purged_at IS NOT NULL"
            " LIMIT 1"
        )
        await pool.execute(
            "INSERT INTO message_statuses (message_id, status, occurred_at, source, details)"
            " VALUES ($1, 'failed', $2, 'meta', '{\"errors\": [{\"code\": 131026}]}')",
            failed["id"],
            failed["created_at"],
        )
        answer = await client.get(f"/api/v1/messages/status/{failed['id']}/")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["status"], body["error"]["code"], body["metadata"]["order"] > 0) == (
        "failed",
        131026,
        True,
    )
    assert body["purged_at"] is not None and body["sent_at"] is not None
    assert [t["status"] for t in body["timeline"]] == ["queued", "failed"]
