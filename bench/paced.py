"""An open-loop load generator: requests at a fixed rate, whatever the answers' latency.

wrk drives as fast as the service answers; the full loop and the soak need a steady rate
instead (Meta's tier, not the API's ceiling). Request i is due at start + i / rate; each
keep-alive connection takes the next due request, so a slow answer delays no schedule but
its own connection's, and latency is counted from the due time (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import itertools
import time

from bench.load import LoadResult, Tally, Target, connection, raw_request


async def paced(target: Target, rate: float, seconds: float, connections: int = 32) -> LoadResult:
    host, port, request = raw_request(target)
    tally, slots = Tally(), itertools.count()
    started = time.perf_counter()
    total = int(rate * seconds)

    def next_due() -> float | None:
        i = next(slots)
        return started + i / rate if i < total else None

    await asyncio.gather(
        *(connection(host, port, request, next_due, tally) for _ in range(connections))
    )
    return tally.result("paced", time.perf_counter() - started, rate=rate)
