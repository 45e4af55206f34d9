"""consumers.ratelimit on real Redis: two replicas share one rate, back-offs and pauses hold."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest
from redis.asyncio import Redis

from consumers import metrics, ratelimit
from consumers.ratelimit import RateLimiter

NUMBER = "106540352242922"


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


async def test_two_replicas_never_exceed_the_rate_together(redis: Redis) -> None:
    a, b = RateLimiter(redis, NUMBER, 100), RateLimiter(redis, NUMBER, 100)
    slots: list[float] = []
    await asyncio.gather(_take_slots(a, 1.5, slots), _take_slots(b, 1.5, slots))
    slots.sort()
    assert _busiest(slots, 1.0) <= 101  # 100/s, +1 for a slot on the window's closing edge
    assert len(slots) >= 140  # and the rate is actually used (1.5 s x 100/s, less start-up)
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) > 0.0099  # 10 ms apart, whichever replica took them


async def test_back_off_holds_every_replica(redis: Redis) -> None:
    a, b = RateLimiter(redis, NUMBER, 1000), RateLimiter(redis, NUMBER, 1000)
    await a.back_off(2.0)
    granted = await b.reserve(5)
    assert granted.delays == [] and 1.5 < granted.retry_in_s <= 2.0


async def test_pause_and_pair_limits_are_shared_and_expire(redis: Redis) -> None:
    a, b = RateLimiter(redis, NUMBER, 80), RateLimiter(redis, NUMBER, 80)
    assert await b.paused() is None
    await a.pause(131048, "Spam rate limit hit", 0.3)
    pause = await b.paused()
    assert pause is not None and (pause.code, pause.title) == (131048, "Spam rate limit hit")
    await a.block_recipient("4915100000001", 0.3)
    assert set(await b.blocked(["4915100000001", "4915100000002"])) == {"4915100000001"}
    await asyncio.sleep(0.4)
    assert await b.paused() is None
    assert await b.blocked(["4915100000001"]) == {}


async def test_admission_window_holds_however_late_the_sends_are(redis: Redis) -> None:
    """Sends that all arrive at once (a stalled event loop) are let through at the rate."""
    a, b = RateLimiter(redis, NUMBER, 50), RateLimiter(redis, NUMBER, 50)
    loop = asyncio.get_running_loop()
    admitted: list[float] = []

    async def sender(limiter: RateLimiter, sends: int) -> None:
        for _ in range(sends):
            await limiter.admit()
            admitted.append(loop.time())

    await asyncio.gather(*(sender(a if i % 2 else b, 6) for i in range(20)))
    admitted.sort()
    # The window was empty, so the first 50 go at once, yet spaced at twice the rate
    # (10 ms apart): a burst would split unevenly over a receiver's seconds.
    assert 0.45 < admitted[49] - admitted[0] < 0.9
    assert _busiest(admitted[:50], 0.05) < 10
    assert _busiest(admitted, 1.0) <= 50
    assert admitted[-1] - admitted[0] > 2.0  # 120 sends at 50/s: the rest waited their turn


async def test_a_send_released_late_by_a_stalled_loop_asks_the_window_again(
    redis: Redis,
) -> None:
    """Sends due during a 0.3 s stall would all leave at once when it ends, bunched into one
    second; they give their planned times back and are spaced out again instead."""
    limiter = RateLimiter(redis, NUMBER, 10)  # released 50 ms apart
    loop = asyncio.get_running_loop()
    before = metrics.SENDS_READMITTED._value.get()
    left: list[float] = []

    async def send() -> None:
        await limiter.admit()
        left.append(loop.time())

    sends = [asyncio.create_task(send()) for _ in range(10)]
    await asyncio.sleep(0.03)  # admitted: releases planned 0, 50, ... 450 ms from now
    time.sleep(0.3)  # noqa: ASYNC251 - the event loop stalls, on purpose
    await asyncio.gather(*sends)
    assert metrics.SENDS_READMITTED._value.get() - before >= 4  # those due in the stall
    left.sort()
    assert min(b - a for a, b in itertools.pairwise(left)) > 0.04
    assert left[-1] - left[0] < 1.0  # their planned times were given back, not lost


async def test_sends_whose_admission_reply_is_read_late_are_late(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window plans departures from when its script ran. A loop that reads the reply
    0.2 s later must count those sends late (they ask again), not release them 0.2 s after
    their planned times, where they would bunch with sends admitted on time."""
    limiter = RateLimiter(redis, NUMBER, 10)  # planned 50 ms apart: 0, 50, ... 200 ms
    script, stalls = limiter._admit, iter([0.2])
    loop = asyncio.get_running_loop()

    async def reply_read_late(**kwargs: Any) -> Any:
        reply = await script(**kwargs)
        time.sleep(next(stalls, 0))  # noqa: ASYNC251 - the event loop stalls, on purpose
        return reply

    async def send() -> None:
        await limiter.admit()
        left.append(loop.time())

    monkeypatch.setattr(limiter, "_admit", reply_read_late)
    before = metrics.SENDS_READMITTED._value.get()
    left: list[float] = []
    await asyncio.gather(*(send() for _ in range(5)))
    assert metrics.SENDS_READMITTED._value.get() - before >= 3  # those planned at 0-100 ms
    left.sort()
    assert min(b - a for a, b in itertools.pairwise(left)) > 0.04  # re-planned, spaced


async def test_on_a_saturated_loop_a_late_send_asks_again_a_few_times_then_goes(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When every release is late (a loop busy all the time), asking again forever would
    stop sending altogether: the lateness a send accepts grows with each try."""
    monkeypatch.setattr(ratelimit, "_LATE_S", 1e-6)  # every release counts as late at first
    limiter = RateLimiter(redis, NUMBER, 1000)
    before = metrics.SENDS_READMITTED._value.get()
    await asyncio.wait_for(asyncio.gather(*(limiter.admit() for _ in range(50))), 5)
    # 1 µs, 3, 9, ... 19.7 ms after 9 tries: far more than any release here is late
    assert 50 <= metrics.SENDS_READMITTED._value.get() - before <= 50 * 9
