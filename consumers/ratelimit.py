"""Throughput control toward Meta, shared by every sender replica through Redis.

- The rate: a GCRA schedule per business number. `reserve(n)` hands out up to `n` send
  slots spaced `1/rate` apart (never more than `_HORIZON_S` ahead), in one atomic script on
  Redis's clock, so replicas share one even pace. A send that starts late on its slot (a busy
  event loop) could bunch with the next ones, so `admit()` right before each send is the hard
  guard: a sliding one-second window in Redis never lets more than the rate through, and
  a batch it admits late leaves spaced out at twice the rate, never as one burst.
- Meta's throughput error (130429) pushes the whole number's schedule back.
- Meta's pair rate limit (131056) blocks one recipient for a while; others go on.
- Spam limits (131048) and a bad token (190) pause sending for the number: the messages in
  hand are parked, not failed, and /health/ shows the pause (the alert).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from consumers import metrics
from server.constants import PAIR_LIMIT_KEY, RATE_KEY, SEND_PAUSED_KEY

_HORIZON_S = 0.25  # slots are handed out at most this far ahead
# One second, plus the time from admission to Meta's door (a busy event loop, the network):
# measured by the simulator per second of arrival, no second ever sees more than the rate.
_WINDOW_S = 1.02
_CATCH_UP = 2  # admitted sends leave at up to twice the rate, so a late batch catches up
# A send released later than this (a stalled event loop) asks the window again: it was
# counted at its planned time, and leaving now could bunch it into the next second.
_LATE_S = 0.01
_LATE_GROWTH = 3  # each time a send asks again, it accepts 3x the lateness

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


# KEYS[1] window key; ARGV: rate, window_s, n, member prefix, spacing_s, then the members
# of sends that were released too late to go and ask again (withdrawn). The hard guard
# under the schedule: of `n` sends, admits as many as keep every window at or under `rate`,
# whatever their lateness. Admitted sends leave `spacing_s` apart (after the last one
# admitted by any replica), so a late batch reaches Meta as a stream, not a burst that a
# receiver's per-second count would split unevenly. Scores are departure times; counting
# the future ones too makes every window ending now or later hold at most `rate`.
# Returns {admitted, seconds until the first leaves, seconds until the next one could be}.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local rate, window, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local spacing = tonumber(ARGV[5])
if #ARGV > 5 then redis.call('ZREM', KEYS[1], unpack(ARGV, 6)) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local k = math.min(n, rate - redis.call('ZCARD', KEYS[1]))
local first = now
if k > 0 then
    local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
    if newest[2] and tonumber(newest[2]) + spacing > first then
        first = tonumber(newest[2]) + spacing
    end
    local args = {}
    for i = 1, k do
        args[#args + 1] = string.format('%.6f', first + (i - 1) * spacing)
        args[#args + 1] = ARGV[4] .. ':' .. i
    end
    redis.call('ZADD', KEYS[1], unpack(args))
    redis.call('PEXPIRE', KEYS[1], math.ceil((first + k * spacing - now + window) * 1000) + 1000)
else
    k = 0
end
local wait = 0
if k < n then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    wait = tonumber(oldest[2]) + window - now
end
return {k, string.format('%.6f', first - now), string.format('%.6f', wait)}
"""


@dataclass(frozen=True, slots=True)
class Slots:
    """`delays[i]` is how long to wait before the i-th granted send; empty means wait."""

    delays: list[float]
    retry_in_s: float
    first_at: float = 0.0  # the first slot on Redis's clock (unix time)


@dataclass(frozen=True, slots=True)
class Pause:
    code: Any
    title: str
    until: float  # unix time

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "title": self.title, "until": self.until}


class RateLimiter:
    def __init__(self, redis: Redis, phone_number_id: str, rate_per_s: float) -> None:
        self.redis = redis
        self.phone_number_id = phone_number_id
        self.interval_s = 1.0 / rate_per_s
        self._spacing_s = self.interval_s / _CATCH_UP
        self.rate_per_s = rate_per_s
        self._rate_key = RATE_KEY.format(phone_number_id=phone_number_id)
        self._window_key = self._rate_key + ":window"
        self._paused_key = SEND_PAUSED_KEY.format(phone_number_id=phone_number_id)
        self._reserve = redis.register_script(_RESERVE)
        self._back_off = redis.register_script(_BACK_OFF)
        self._admit = redis.register_script(_ADMIT)
        self._rounds = itertools.count()
        self._waiting: list[asyncio.Future[tuple[float, str]]] = []
        self._withdrawn: list[str] = []
        self._admitting: asyncio.Task[None] | None = None

    async def reserve(self, n: int) -> Slots:
        first, granted, first_at = await self._reserve(
            keys=[self._rate_key], args=[self.interval_s, n, _HORIZON_S]
        )
        first, granted = float(first), int(granted)
        if granted == 0:
            return Slots([], max(first - _HORIZON_S, self.interval_s))
        delays = [first + i * self.interval_s for i in range(granted)]
        return Slots(delays, 0.0, float(first_at))

    async def admit(self) -> None:
        """Right before a send: wait until the window admits it. Sends asking while a
        round trip is in flight are admitted together in the next one."""
        loop = asyncio.get_running_loop()
        for tries in itertools.count():
            waiter: asyncio.Future[tuple[float, str]] = loop.create_future()
            self._waiting.append(waiter)
            if self._admitting is None:
                self._admitting = asyncio.create_task(self._admit_waiting())
            due, member = await waiter
            # The bar rises per try: on a saturated loop every release is late, and a
            # fixed bar would keep a send asking forever.
            if loop.time() - due <= _LATE_S * _LATE_GROWTH**tries:
                return
            self._withdrawn.append(member)  # it never left at its planned time
            metrics.SENDS_READMITTED.inc()

    async def _admit_waiting(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                prefix = f"{os.getpid()}:{id(self)}:{next(self._rounds)}"
                withdrawn, self._withdrawn = self._withdrawn, []
                # Planned times count from when the script was sent, not from when a busy
                # loop got round to its reply: a late reply makes these sends late, and
                # late sends ask again instead of bunching with the next admitted ones.
                # (redis-py writes it at once when a pooled connection is free; a pool wait
                # or reconnect first would make these sends leave that much early.)
                asked_at = loop.time()
                admitted, first, wait = await self._admit(
                    keys=[self._window_key],
                    args=[
                        max(1, int(self.rate_per_s)),
                        _WINDOW_S,
                        len(self._waiting),
                        prefix,
                        self._spacing_s,
                        *withdrawn,
                    ],
                )
                go, self._waiting = self._waiting[: int(admitted)], self._waiting[int(admitted) :]
                for i, waiter in enumerate(go):
                    due = asked_at + float(first) + i * self._spacing_s
                    member = f"{prefix}:{i + 1}"
                    loop.call_at(due, _release, waiter, (due, member))
                if self._waiting:
                    await asyncio.sleep(float(wait))
        except Exception as exc:  # Redis down: every send waiting hears it
            waiting, self._waiting = self._waiting, []
            for waiter in waiting:
                if not waiter.done():
                    waiter.set_exception(exc)
        finally:
            self._admitting = None

    async def back_off(self, seconds: float) -> None:
        """Meta said the number sends too fast: no replica sends on it for `seconds`."""
        await self._back_off(keys=[self._rate_key], args=[seconds])

    async def pause(self, code: Any, title: str, seconds: float) -> Pause:
        pause = Pause(code, title, time.time() + seconds)
        await self.redis.set(self._paused_key, json.dumps(pause.as_dict()), px=int(seconds * 1000))
        return pause

    async def paused(self) -> Pause | None:
        return parse_pause(await self.redis.get(self._paused_key))

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
        return PAIR_LIMIT_KEY.format(phone_number_id=self.phone_number_id, recipient=recipient)


def _release(waiter: asyncio.Future[tuple[float, str]], due: tuple[float, str]) -> None:
    if not waiter.done():  # a send cancelled while it waited
        waiter.set_result(due)


def parse_pause(raw: str | bytes | None) -> Pause | None:
    if not raw:
        return None
    data = json.loads(raw)
    return Pause(data.get("code"), data.get("title", ""), float(data.get("until", 0)))
