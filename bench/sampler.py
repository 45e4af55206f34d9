"""Samples taken every second while the loop and the soak run: the simulator's and the
sink's counters, every stream's backlog, and (every `rss_every` s) each process's RSS."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bench.procs import Usage
from bench.shared import Sim
from core.names import groups, number_of


async def backlog(
    redis: Redis, numbers: tuple[str, ...], shards: int = 1
) -> dict[str, dict[str, int]]:
    """XLEN and the group's pending count of every stream (handled entries are deleted,
    so XLEN is what is waiting or in work); an outbound stream is named by its number, the
    webhook and Hub-event shards are summed as `webhooks` and `hub-events`."""
    out: dict[str, dict[str, int]] = {}
    for stream, group in groups(numbers, shards):
        length = await redis.xlen(stream)
        try:
            infos = {g["name"]: g for g in await redis.xinfo_groups(stream)}
        except ResponseError:  # no stream yet
            infos = {}
        name = number_of(stream) or stream.split(":")[1]
        sums = out.setdefault(name, {"xlen": 0, "pending": 0})
        sums["xlen"] += length
        sums["pending"] += int(infos.get(group, {}).get("pending", 0))
    return out


class Sampler:
    """`start()`, then `stop()` returns the samples: one dict per second."""

    def __init__(
        self,
        sim: Sim,
        redis: Redis,
        usage: Callable[[], Usage],
        numbers: tuple[str, ...],
        rss_every: int = 0,
    ) -> None:
        self.sim, self.redis, self.usage, self.rss_every = sim, redis, usage, rss_every
        self.numbers = numbers
        self.samples: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> list[dict[str, Any]]:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        return self.samples

    async def _run(self) -> None:
        started, tick = time.perf_counter(), 0
        while True:
            tick += 1
            await asyncio.sleep(max(0.0, started + tick - time.perf_counter()))
            sim, sink = await self.sim.sim(), await self.sim.sink()
            sample: dict[str, Any] = {
                "t": tick,
                "sent": sim["accepted"],
                "hub": sink["received"],
                "backlog": await backlog(self.redis, self.numbers),
            }
            if self.rss_every and tick % self.rss_every == 0:
                meter = self.usage()
                meter.start()
                sample["rss_mb"] = {k: v["rss_mb"] for k, v in meter.stop().items()}
            self.samples.append(sample)
            last = self.samples[-2] if len(self.samples) > 1 else {"sent": 0, "hub": 0}
            queues = ", ".join(
                f"{name} {b['xlen']}/{b['pending']}" for name, b in sample["backlog"].items()
            )
            print(
                f"  {tick:4d}s sent {sample['sent']:,} (+{sample['sent'] - last['sent']:,}/s), "
                f"hub events +{sample['hub'] - last['hub']:,}/s, backlog (xlen/pending) {queues}",
                flush=True,
            )


def slope(values: list[float]) -> float:
    """Least-squares growth per sample (entries per second for a per-second series)."""
    if len(values) < 3 or len(set(values)) == 1:
        return 0.0
    return statistics.linear_regression(range(len(values)), values).slope
