"""Throughput control toward Meta, per business number, shared by every sender replica.

- The rate: one GCRA schedule per number in Redis. `reserve(n)` hands out up to `n` send
  slots spaced `1/rate` apart on Redis's clock, at most `HORIZON_S` ahead, in one atomic
  script, so every replica draws from one even pace and no slot is handed out twice (a
  sender whose horizon is full comes back when half of it is free, so it claims and marks
  its messages a chunk at a time, not one by one). A
  sender waits for its slot's time and then calls Meta: no second of the schedule holds more
  than the rate, and no send leaves before its slot (read on our clock from when the script
  was sent, so early by at most the one-way trip to Redis). A busy event loop can only make
  sends leave late, and `depart()` keeps late sends from bunching: each process keeps its
  own pace on the number, so one replica alone never puts more than the rate (plus
  `rate x LEEWAY_S + 1`) in any second. What replicas can bunch together is what one
  held ahead when it stalled, at most `rate x HORIZON_S` (50 at 1,000/s), plus the write
  jitter measured in docs/performance.md.
- Meta's throughput error (130429) pushes the whole number's schedule back: that answer,
  not a second limiter here, is the guard against what the schedule cannot see.
- Meta's pair rate limit (131056) blocks one recipient for a while; others go on.
- Spam limits (131048) and a bad token (190) pause sending for the number: the messages in
  hand are parked, not failed, and /health/ shows the pause (the alert).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from core.numbers import BusinessNumber
from core.pauses import Pause, read_pause, set_pause

HORIZON_S = 0.05  # slots are handed out at most this far ahead: a bound on bunching
# How far ahead of its pace a process may send (timers fire up to ~1 ms late): a process puts
# at most the rate plus rate x LEEWAY_S + 1 sends in any second (1,021 at 1,000/s, 26 at 25/s).
LEEWAY_S = 0.02

# KEYS[1] rate key; ARGV: interval_s, n, horizon_s. Returns {first_slot_delay_s, granted,
# first_slot_at}: the delay is relative to Redis's own clock, so replicas' clocks never matter.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local interval, n, horizon = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local granted = math.min(n, math.floor((now + horizon - tat) / interval) + 1)
if granted < 0 then granted = 0 end
redis.call('SET', KEYS[1], string.format('%.6f', tat + granted * interval), 'PX', 3600000)
return {string.format('%.6f', tat - now), granted, string.format('%.6f', tat)}
"""

# KEYS[1] rate key; ARGV: seconds. Nothing is sent on this number before now + seconds.
_BACK_OFF = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) + tonumber(t[2]) / 1e6 + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < until_ then redis.call('SET', KEYS[1], string.format('%.6f', until_), 'PX', 3600000) end
return 1
"""


@dataclass(frozen=True, slots=True)
class Slots:
    """`delays[i]` is how long to wait before the i-th granted send; empty means wait."""

    delays: list[float]
    retry_in_s: float
    first_at: float = 0.0  # the first slot on Redis's clock (unix time)


class RateLimiter:
    def __init__(self, redis: Redis, number: BusinessNumber) -> None:
        self.redis = redis
        self.number = number
        self.interval_s = 1.0 / number.rate_per_s
        self._rate_key = number.rate_key
        self._paused_key = number.paused_key
        self._reserve = redis.register_script(_RESERVE)
        self._back_off = redis.register_script(_BACK_OFF)
        self._pace = 0.0  # event-loop time the next send on the number is due at this pace
        self._departing = asyncio.Lock()

    async def depart(self, at: float) -> None:
        """Wait for a slot's time `at` (event-loop clock), then keep this process's pace on the
        number (a GCRA of its own, `LEEWAY_S` of tolerance): slots that come due late together
        (a busy loop, a slow claim) leave one by one, spaced, never in a burst; a timer that
        fires a little late costs no throughput."""
        loop = asyncio.get_running_loop()
        await asyncio.sleep(at - loop.time())
        async with self._departing:  # first come, first served: one wake-up per send
            wait = self._pace - LEEWAY_S - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._pace = max(self._pace, loop.time()) + self.interval_s

    async def reserve(self, n: int) -> Slots:
        first, granted, first_at = await self._reserve(
            keys=[self._rate_key], args=[self.interval_s, n, HORIZON_S]
        )
        first, granted = float(first), int(granted)
        if granted == 0:  # come back when half the horizon is free: slots by the chunk
            return Slots([], max(first - HORIZON_S / 2, self.interval_s))
        delays = [first + i * self.interval_s for i in range(granted)]
        return Slots(delays, 0.0, float(first_at))

    async def back_off(self, seconds: float) -> None:
        """Meta said the number sends too fast: no replica sends on it for `seconds`."""
        await self._back_off(keys=[self._rate_key], args=[seconds])

    async def pause(self, code: Any, title: str, seconds: float) -> Pause:
        return await set_pause(self.redis, self._paused_key, code, title, seconds)

    async def paused(self) -> Pause | None:
        return await read_pause(self.redis, self._paused_key)

    async def block_recipient(self, recipient: str, seconds: float) -> None:
        await self.redis.set(self._pair_key(recipient), "1", px=max(1, int(seconds * 1000)))

    async def blocked(self, recipients: list[str]) -> dict[str, float]:
        """Recipients under a pair rate limit, with the seconds left on each."""
        if not recipients:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for r in recipients:
                pipe.pttl(self._pair_key(r))
            ttls = await pipe.execute()
        return {r: ms / 1000 for r, ms in zip(recipients, ttls, strict=True) if ms > 0}

    def _pair_key(self, recipient: str) -> str:
        return self.number.pair_limit_key(recipient)
