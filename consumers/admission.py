"""The hard guard under the send schedule: in any one second, at most the rate of sends
leaves toward Meta, counted by when each request was actually written, across replicas.

Why departures and not plans: a send planned for 12:00:00.990 that a busy event loop writes
at 12:00:01.030 belongs to the next second. Counting plans let such sends bunch with the
next second's own (on the wire, 2026-12-02: up to 1,035 sends in a sliding second on a
loaded machine, although no planned second held more than 1,000). aiohttp writes a request
in a task of its own one loop turn after the call, so no check before the call can bound
that; the Meta session's trace stamps the ticket in the same step as the write instead.

So in Redis an admitted send is *pending* (it counts, however late it is) until its
departure is reported; from then on it counts until one window after it left. A send that
never left gives its place back. A worker that dies leaves its pending sends counting for
`_PENDING_TTL_S`, then they lapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from redis.asyncio import Redis

from consumers import metrics

# One second, plus the jitter between writing a request and the receiver counting it (its
# event loop, the hosts' clocks): the receiver's busiest second stays at or under the rate.
_WINDOW_S = 1.02
_CATCH_UP = 2  # admitted sends leave at up to twice the rate, so a late batch catches up
# An admitted send no one reports on (its worker died) stops counting after this. It must
# be longer than any admission-to-write: a release up to `_STALE_S` late, then up to three
# connection tries (consumers/retries.at_once) of at most 5 s each (worker.http_session).
_PENDING_TTL_S = 20.0
# A send released later than this asks again: after a stall that long, its place is better
# given to sends on time.
_STALE_S = 1.0
_CLOCK_SAMPLES = 64  # the Redis clock offset is the best of the last 64 round trips...
_CLOCK_SAMPLE_AGE_S = 10.0  # ...of the last 10 s, so a clock step on Redis's host ages out
_RETRY_REPORTS_S = 0.5  # after a Redis error, reports left over are sent again this soon

# KEYS: departed sends (scored by when they left), pending sends (scored by plan), the
# earliest time the next admitted send may be planned. ARGV: rate, window_s, n, member
# prefix, spacing_s, pending_ttl_s, count of departures, then that many (member, left_at)
# pairs, then the members withdrawn (admitted, never left). Admits as many of `n` as keep
# departed-within-the-window + pending at or under `rate`, planned `spacing_s` apart.
# Returns {admitted, seconds until the first may leave, seconds until a place frees, now}.
_EXCHANGE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local rate, window, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local spacing, ttl, departed = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local i = 8
for _ = 1, departed do
    redis.call('ZREM', KEYS[2], ARGV[i])
    redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
    i = i + 2
end
if i <= #ARGV then redis.call('ZREM', KEYS[2], unpack(ARGV, i)) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
local k = math.min(n, rate - redis.call('ZCARD', KEYS[1]) - redis.call('ZCARD', KEYS[2]))
local first = math.max(now, tonumber(redis.call('GET', KEYS[3]) or '0'))
if k > 0 then
    local args = {}
    for j = 1, k do
        args[#args + 1] = string.format('%.6f', first + (j - 1) * spacing)
        args[#args + 1] = ARGV[4] .. ':' .. j
    end
    redis.call('ZADD', KEYS[2], unpack(args))
    redis.call('SET', KEYS[3], string.format('%.6f', first + k * spacing), 'PX', 60000)
else
    k = 0
end
local wait = 0
if k < n then
    -- the earliest a place frees: the oldest departure ages out of the window, or the
    -- oldest pending send lapses or, leaving no earlier than planned or now, ages out
    -- (a withdrawal in this process wakes the waiting sooner)
    local d = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    local p = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    local freed = math.huge
    if d[2] then freed = tonumber(d[2]) + window end
    if p[2] then
        local planned = tonumber(p[2])
        freed = math.min(freed, math.max(planned, now) + window, planned + ttl)
    end
    wait = math.max(freed - now, 0.005)
end
local keep = math.ceil((ttl + window) * 1000)
redis.call('PEXPIRE', KEYS[1], keep)
redis.call('PEXPIRE', KEYS[2], keep)
return {k, string.format('%.6f', first - now), string.format('%.6f', wait),
        string.format('%.6f', now)}
"""


@dataclass(slots=True, eq=False)
class Ticket:
    """One admitted send. Pass it as the request's `trace_request_ctx` to a session built
    with `departure_trace()`; the request must have a body (the stamp rides its write)."""

    member: str
    window: AdmissionWindow
    left_at: float | None = None  # unix time on Redis's clock

    def leaving(self) -> None:
        """The request is being written now."""
        if self.left_at is None:
            self.left_at = self.window.departed(self.member)


def departure_trace() -> aiohttp.TraceConfig:
    """aiohttp calls this trace just before writing a request's body, with the buffered
    headers, in the same step as the socket write: the one place a departure is exact."""
    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(_on_chunk_sent)
    return trace


async def _on_chunk_sent(_session: Any, ctx: Any, _params: Any) -> None:
    if isinstance(ctx.trace_request_ctx, Ticket):
        ctx.trace_request_ctx.leaving()


class _RedisClock:
    """Unix time on Redis's clock, where every replica's departures are compared. The offset
    from our monotonic clock (wall-clock steps here change nothing) is the smallest (Redis's
    now - our time when we asked) of the recent exchanges: never below the true offset, so a
    departure is never stamped early (it would age out of the window too soon); a slow
    exchange only makes the estimate more careful."""

    def __init__(self, local: Callable[[], float] = time.monotonic) -> None:
        self.local = local
        self._seen: deque[tuple[float, float]] = deque(maxlen=_CLOCK_SAMPLES)
        self.offset = 0.0

    def observe(self, redis_now: float, asked_at: float) -> None:
        self._seen.append((asked_at, redis_now - asked_at))
        while self._seen[0][0] < asked_at - _CLOCK_SAMPLE_AGE_S:
            self._seen.popleft()
        self.offset = min(offset for _, offset in self._seen)

    def now(self) -> float:
        return self.local() + self.offset


class AdmissionWindow:
    def __init__(self, redis: Redis, key: str, rate_per_s: float) -> None:
        self._keys = [key + ":departed", key + ":pending", key + ":next"]
        self._rate = max(1, int(rate_per_s))
        self._spacing_s = 1.0 / rate_per_s / _CATCH_UP
        self._script = redis.register_script(_EXCHANGE)
        self._clock = _RedisClock()
        self._members = uuid.uuid4().hex[:12]  # unique across replicas and restarts
        self._rounds = itertools.count()
        self._waiting: list[asyncio.Future[tuple[float, str]]] = []
        self._departed: list[tuple[str, float]] = []
        self._withdrawn: list[str] = []
        self._exchanging: asyncio.Task[None] | None = None
        self._freed = asyncio.Event()  # a place given back here: worth asking again
        self._retry: asyncio.TimerHandle | None = None  # reports left after a Redis error
        self._closed = False

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[Ticket]:
        """Wait until the window admits one send; if it never left, give the place back."""
        ticket = await self._admit()
        try:
            yield ticket
        finally:
            if ticket.left_at is None:
                self._withdraw(ticket.member)

    async def close(self) -> None:
        """Send the reports still held, briefly, then stop (the process is going)."""
        if self._departed or self._withdrawn:
            self._kick()
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
        if self._exchanging is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._exchanging, 1.0)

    def departed(self, member: str) -> float:
        left_at = self._clock.now()
        self._departed.append((member, left_at))
        self._kick()
        return left_at

    async def _admit(self) -> Ticket:
        loop = asyncio.get_running_loop()
        while True:
            waiter: asyncio.Future[tuple[float, str]] = loop.create_future()
            self._waiting.append(waiter)
            self._kick()
            try:
                due, member = await waiter
            except asyncio.CancelledError:  # admitted just before: give the place back
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._withdraw(waiter.result()[1])
                raise
            if loop.time() - due <= _STALE_S:
                return Ticket(member, self)
            self._withdraw(member)
            metrics.SENDS_READMITTED.inc()

    def _withdraw(self, member: str) -> None:
        self._withdrawn.append(member)
        self._freed.set()
        self._kick()

    def _kick(self) -> None:
        if self._exchanging is None and not self._closed:
            self._exchanging = asyncio.create_task(self._exchange())

    async def _exchange(self) -> None:
        """One round trip at a time: the sends that asked meanwhile are admitted together,
        and the departures and withdrawals reported meanwhile ride along."""
        loop = asyncio.get_running_loop()
        departed: list[tuple[str, float]] = []
        withdrawn: list[str] = []
        try:
            while self._waiting or self._departed or self._withdrawn:
                self._waiting = [w for w in self._waiting if not w.done()]  # cancelled
                departed, self._departed = self._departed, []
                withdrawn, self._withdrawn = self._withdrawn, []
                self._freed.clear()
                prefix = f"{self._members}:{next(self._rounds)}"
                n = len(self._waiting)
                # Planned times count from when the script was sent, not from when a busy
                # loop read its reply: a late reply makes the sends late, never early.
                asked_at, asked_local = loop.time(), self._clock.local()
                admitted, first, wait, now = await self._script(
                    keys=self._keys,
                    args=[
                        self._rate,
                        _WINDOW_S,
                        n,
                        prefix,
                        self._spacing_s,
                        _PENDING_TTL_S,
                        len(departed),
                        *itertools.chain.from_iterable((m, f"{t:.6f}") for m, t in departed),
                        *withdrawn,
                    ],
                )
                self._clock.observe(float(now), asked_local)
                k = int(admitted)
                go, self._waiting = self._waiting[:k], self._waiting[k:]
                for i, waiter in enumerate(go):
                    due = asked_at + float(first) + i * self._spacing_s
                    loop.call_at(due, self._release, waiter, due, f"{prefix}:{i + 1}")
                if k < n:  # the window is full: ask again when a place frees, or sooner
                    # when this process gives one back
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._freed.wait(), float(wait))
        except BaseException as exc:
            # The reports go with a later exchange (applying one twice changes nothing).
            self._departed[:0], self._withdrawn[:0] = departed, withdrawn
            if not isinstance(exc, Exception):  # cancelled: the process is stopping
                raise
            waiting, self._waiting = self._waiting, []
            for waiter in waiting:  # Redis down: every send waiting hears it
                if not waiter.done():
                    waiter.set_exception(exc)
            if self._departed or self._withdrawn:
                self._retry = loop.call_later(_RETRY_REPORTS_S, self._kick)
        finally:
            self._exchanging = None

    def _release(self, waiter: asyncio.Future[tuple[float, str]], due: float, member: str) -> None:
        if waiter.done():  # the send was cancelled while it waited
            self._withdraw(member)
        else:
            waiter.set_result((due, member))
