"""consumers.ratelimit on real Redis: two replicas share one rate, back-offs and pauses hold."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from redis.asyncio import Redis

from consumers.ratelimit import LEEWAY_S, RateLimiter
from core.numbers import BusinessNumber

NUMBER = "106540352242922"


def new_limiter(redis: Redis, rate_per_s: float) -> RateLimiter:
    return RateLimiter(redis, BusinessNumber(NUMBER, "token", rate_per_s, "http://meta.test"))


async def _take_slots(limiter: RateLimiter, seconds: float, slots: list[float]) -> None:
    """Act like a sender: reserve up to 20 slots at a time; note each slot on Redis's clock."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        granted = await limiter.reserve(20)
        if not granted.delays:
            await asyncio.sleep(granted.retry_in_s)
            continue
        slots += [granted.first_at + d - granted.delays[0] for d in granted.delays]
        await asyncio.sleep(granted.delays[-1])


def _busiest(times: list[float], span: float) -> int:
    """The most of the sorted `times` that fall within any `span` seconds."""
    return max(sum(1 for t in times[i:] if t < start + span) for i, start in enumerate(times))


@pytest.mark.slow
async def test_two_replicas_never_exceed_the_rate_together(redis: Redis) -> None:
    a, b = new_limiter(redis, 100), new_limiter(redis, 100)
    slots: list[float] = []
    await asyncio.gather(_take_slots(a, 1.5, slots), _take_slots(b, 1.5, slots))
    slots.sort()
    assert _busiest(slots, 1.0) <= 101  # 100/s, +1 for a slot on the window's closing edge
    assert len(slots) >= 140  # and the rate is actually used (1.5 s x 100/s, less start-up)
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) > 0.0099  # 10 ms apart, whichever replica took them


async def test_back_off_holds_every_replica(redis: Redis) -> None:
    a, b = new_limiter(redis, 1000), new_limiter(redis, 1000)
    await a.back_off(2.0)
    granted = await b.reserve(5)
    assert granted.delays == [] and 1.5 < granted.retry_in_s <= 2.0


async def test_pause_and_pair_limits_are_shared_and_expire(redis: Redis) -> None:
    a, b = new_limiter(redis, 80), new_limiter(redis, 80)
    assert await b.paused() is None
    await a.pause(131048, "Spam rate limit hit", 0.3)
    pause = await b.paused()
    assert pause is not None and (pause.code, pause.title) == (131048, "Spam rate limit hit")
    await a.block_recipient("4915100000001", 0.3)
    assert set(await b.blocked(["4915100000001", "4915100000002"])) == {"4915100000001"}
    await asyncio.sleep(0.4)
    assert await b.paused() is None
    assert await b.blocked(["4915100000001"]) == {}


async def test_slots_that_come_due_late_together_leave_spaced(redis: Redis) -> None:
    limiter = new_limiter(redis, 100)  # 10 ms apart
    loop = asyncio.get_running_loop()
    left: list[float] = []

    async def send(at: float) -> None:
        await limiter.depart(at)
        left.append(loop.time())

    late = loop.time() - 0.5  # a stalled loop: ten slots, all due half a second ago
    on_time = loop.time() + 0.2
    await asyncio.gather(*(send(late + i * 0.01) for i in range(10)), send(on_time))
    late_ones = sorted(left)[:10]
    gaps = [b - a for a, b in itertools.pairwise(late_ones)]
    assert min(gaps) >= 0.01 - LEEWAY_S - 0.0005  # one by one, never a burst
    assert late_ones[-1] - late_ones[0] >= 0.09 - LEEWAY_S - 0.001  # at the number's pace
    assert left[-1] >= on_time  # and never before a slot's time
