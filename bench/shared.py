"""What the worker-side scenarios (drain, scale, loop, soak, idle) share: the deployed
timings, a backlog queued in bulk, and the simulator's per-second send counts.

The stack's defaults are shortened for tests (100 ms blocking reads, 50 ms retry polls, a
3 s sweeper margin); these scenarios measure the service as deployed, so they put the
production defaults back (only the send rate is raised to Meta's top tier).
"""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

import httpx
import orjson

from bench.scenario import Bench
from core import broker
from db import create_pool
from db.messages import NewMessage, insert_many

RATE = 1000  # Meta's top tier: messages per second per business number
DEPLOYED = {
    "SEND_RATE_PER_S": str(RATE),
    "STREAM_BLOCK_MS": "1000",
    "STREAM_IDLE_TIMEOUT_S": "60",
    "SWEEP_INTERVAL_S": "30",
    "SWEEP_STALE_S": "120",
    "SEND_OUTCOME_TIMEOUT_S": "600",
    "RETRY_POLL_S": "0.5",
    "RETRY_INITIAL_S": "0.5",
    "RETRY_MAX_S": "60",
    "HUB_RETRY_SCHEDULE_S": "5,300,1800",
    "SIM_STATUS_DELAY_MS": "50",  # the simulator's own defaults: sent, delivered, read
    "SIM_BATCH_MS": "20",  # 50 ms apart, flushed in POSTs every 20 ms (up to 1,000 each)
}
_CHUNK = 5000


def _message(k: int, number: str) -> NewMessage:
    message_id = uuid.uuid4()
    to = f"49151{k % 10_000_000:08d}"
    payload = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": f"Your order #{k} has shipped"},
        "biz_opaque_callback_data": str(message_id),
    }
    return NewMessage(message_id, None, "0" * 64, to, "text", payload, {"order_id": k}, number)


async def queue_messages(bench: Bench, count: int, numbers: tuple[str, ...]) -> float:
    """Store `count` queued messages, from `numbers` in turn, and publish them, in chunks
    (insert, then XADD, as the API does, so no row waits long unpublished); returns the
    seconds it took."""
    started = time.perf_counter()
    pool = await create_pool(bench.database_url, max_size=2)
    try:
        for first in range(0, count, _CHUNK):
            ks = range(first, min(first + _CHUNK, count))
            batch = [_message(k, numbers[k % len(numbers)]) for k in ks]
            await insert_many(pool, batch)
            await broker.publish_outbound(bench.redis, [(m.id, m.phone_number_id) for m in batch])
    finally:
        await pool.close()
    return time.perf_counter() - started


class Sim:
    """The simulator's and the sink's counters over HTTP."""

    def __init__(self, sim_url: str, sink_url: str) -> None:
        self.sim_url, self.sink_url = sim_url, sink_url
        self.http = httpx.AsyncClient(timeout=10)

    async def sim(self) -> dict[str, Any]:
        return orjson.loads((await self.http.get(f"{self.sim_url}/_sim/stats")).content)

    async def sink(self) -> dict[str, Any]:
        return orjson.loads((await self.http.get(f"{self.sink_url}/_sink/stats")).content)

    async def close(self) -> None:
        await self.http.aclose()


def full_seconds(per_second: dict[str, int], since: float = 0, until: float = 1e12) -> list[int]:
    """Accepted sends in each second from the first to the last second with sends (within
    `since`..`until`, unix), leaving out those two (partial) seconds; gaps count as 0."""
    busy = [int(s) for s in per_second if since <= int(s) <= until]
    if not busy:
        return []
    return [per_second.get(str(s), 0) for s in range(min(busy) + 1, max(busy))]


def rate_summary(counts: list[int]) -> dict[str, float]:
    if not counts:
        return {"median": 0.0, "min": 0.0, "max": 0.0, "seconds": 0}
    return {
        "median": statistics.median(counts),
        "min": min(counts),
        "max": max(counts),
        "seconds": len(counts),
    }
