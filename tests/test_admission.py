"""consumers.admission on real Redis: sends are counted by when they left, across replicas,
and a send that never left, or whose worker died, stops counting."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from consumers import admission, metrics
from consumers.admission import AdmissionWindow, Ticket, _RedisClock

WindowOf = Callable[[float], AdmissionWindow]


@pytest.fixture
def key() -> str:
    """A window key of its own for each test."""
    return f"messaging:rate:{uuid.uuid4().hex}:window"


@pytest.fixture
async def window_of(redis: Redis, key: str) -> AsyncIterator[Callable[[float], AdmissionWindow]]:
    """Windows on the test's key, closed before its Redis client: a window's last reports
    must not outlive the test (the event loop does)."""
    made: list[AdmissionWindow] = []

    def make(rate_per_s: float) -> AdmissionWindow:
        made.append(AdmissionWindow(redis, key, rate_per_s))
        return made[-1]

    yield make
    for window in made:
        await window.close()


def _busiest(times: list[float], span: float) -> int:
    """The most of the sorted `times` that fall within any `span` seconds."""
    return max(sum(1 for t in times[i:] if t < start + span) for i, start in enumerate(times))


async def _eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 3) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "not within the timeout"
        await asyncio.sleep(0.01)


async def _send(window: AdmissionWindow, left: list[float], delay_s: float = 0.0) -> None:
    """A send that takes `delay_s` from its release to being written (a busy loop)."""
    async with window.admitted() as ticket:
        await asyncio.sleep(delay_s)
        ticket.leaving()
        left.append(time.time())  # Redis runs on this machine: one clock


async def test_replicas_leave_at_most_the_rate_in_any_second(
    redis: Redis, key: str, window_of: WindowOf
) -> None:
    a, b = window_of(50), window_of(50)
    left: list[float] = []
    await asyncio.gather(*(_send(a if i % 2 else b, left) for i in range(120)))
    left.sort()
    # The window was empty, so the first 50 were admitted at once, yet planned at twice the
    # rate (10 ms apart): a burst would split unevenly over a receiver's seconds.
    assert left[49] - left[0] > 0.45
    assert _busiest(left, 1.0) <= 50
    assert left[-1] - left[0] > 2.0  # 120 sends at 50/s: the rest waited their turn


async def test_sends_that_leave_late_count_from_when_they_left(
    redis: Redis, key: str, window_of: WindowOf
) -> None:
    """Replica a's ten sends are admitted at once but written 0.4 s after their release (a
    stalled loop). Counted by plan they would lapse at ~1 s, and replica b's sends would
    join them in one second; counted by departure, b waits until they have aged out."""
    a, b = window_of(10), window_of(10)
    late: list[float] = []
    on_time: list[float] = []

    async def replica_b() -> None:
        await asyncio.sleep(0.5)
        while len(on_time) < 5:
            await _send(b, on_time)

    await asyncio.wait_for(
        asyncio.gather(*(_send(a, late, delay_s=0.4) for _ in range(10)), replica_b()), 10
    )
    assert min(on_time) > max(late) - 0.5  # b's sends left once a's began to age out
    assert _busiest(sorted(late + on_time), 1.0) <= 10


async def test_a_send_that_never_left_gives_its_place_back_at_once(
    redis: Redis, key: str, window_of: WindowOf
) -> None:
    window = window_of(5)
    for _ in range(5):
        async with window.admitted():
            pass  # e.g. the connection to Meta never opened
    started = time.monotonic()
    left: list[float] = []
    await asyncio.wait_for(asyncio.gather(*(_send(window, left) for _ in range(5))), 5)
    assert time.monotonic() - started < 0.9  # 5 places, 0.1 s apart; not after the window


async def test_a_dead_workers_pending_sends_lapse(
    redis: Redis,
    key: str,
    window_of: WindowOf,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(admission, "_PENDING_TTL_S", 0.3)
    dead, alive = window_of(5), window_of(5)
    # Admitted in one round trip, then nothing: no departure, no withdrawal.
    tickets = await asyncio.gather(*(dead._admit() for _ in range(5)))
    assert all(t.left_at is None for t in tickets)
    assert await redis.zcard(key + ":pending") == 5  # every place is held
    started = time.monotonic()
    await asyncio.wait_for(_send(alive, []), 3)  # without the lapse: ~20 s
    assert time.monotonic() - started < 0.9  # the first lapsed 0.3 s after its plan


async def test_a_release_later_than_stale_asks_again(
    redis: Redis,
    key: str,
    window_of: WindowOf,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sends due during a 0.3 s stall would leave long after their plan; those more than
    `_STALE_S` late give their places back and are admitted again."""
    monkeypatch.setattr(admission, "_STALE_S", 0.1)
    window = window_of(10)  # released 50 ms apart
    before = metrics.SENDS_READMITTED._value.get()
    left: list[float] = []
    sends = [asyncio.create_task(_send(window, left)) for _ in range(10)]
    await asyncio.sleep(0)
    while window._waiting:  # noqa: ASYNC110 - until admitted: releases planned 0, 50, ... 450 ms from now
        await asyncio.sleep(0.001)
    time.sleep(0.3)  # noqa: ASYNC251 - the event loop stalls, on purpose
    await asyncio.gather(*sends)
    # Those planned at 0-150 ms were released 0.15-0.3 s late: they asked again, were
    # planned anew after the rest, and still left.
    assert metrics.SENDS_READMITTED._value.get() - before >= 4
    assert len(left) == 10


async def test_departures_are_stamped_on_redis_clock(
    redis: Redis, key: str, window_of: WindowOf
) -> None:
    """A replica whose clock is 0.5 s behind Redis still stamps its sends on Redis's clock,
    so they age out of the window no earlier than they should."""
    window = window_of(10)
    window._clock = _RedisClock(lambda: time.time() - 0.5)  # any local clock will do
    async with window.admitted() as ticket:
        seconds, micros = await redis.time()
        ticket.leaving()
    assert isinstance(ticket, Ticket) and ticket.left_at is not None
    assert 0 <= ticket.left_at - (seconds + micros / 1e6) < 0.2


async def test_a_departure_reported_while_redis_fails_goes_with_the_next_exchange(
    redis: Redis,
    key: str,
    window_of: WindowOf,
) -> None:
    window = window_of(10)
    script, failures = window._script, iter([ConnectionError("Redis went away")])

    async def flaky(**kwargs: object) -> object:
        failure = next(failures, None) if kwargs["args"][6] else None  # type: ignore[index]
        if failure:
            raise failure
        return await script(**kwargs)

    window._script = flaky  # type: ignore[method-assign]
    await _send(window, [])  # admitted; its departure report meets the outage
    await _eventually(lambda: _idle(window))
    assert await redis.zcard(key + ":pending") == 1
    # Sent again on its own shortly after, or with the next exchange.
    await _eventually(lambda: _counts(redis, key, pending=0, departed=1))


async def _idle(window: AdmissionWindow) -> bool:
    return window._exchanging is None


async def _counts(redis: Redis, key: str, **expected: int) -> bool:
    return all([await redis.zcard(f"{key}:{k}") == n for k, n in expected.items()])


async def test_a_send_cancelled_just_after_its_release_gives_its_place_back(
    redis: Redis,
    key: str,
    window_of: WindowOf,
) -> None:
    """Cancelled between its admission and resuming (e.g. at shutdown): its place is given
    back, not held until it lapses."""
    window = window_of(5)
    task = asyncio.create_task(_send(window, []))
    release = window._release

    def release_then_cancel(*args: Any) -> None:
        release(*args)  # the waiter has its result; the task has not resumed yet
        task.cancel()

    window._release = release_then_cancel  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        await task
    await _eventually(lambda: _counts(redis, key, pending=0, departed=0))


def test_the_clock_offset_is_the_best_recent_sample() -> None:
    """A slow round trip overstates the offset, never understates it: the smallest recent
    sample wins; one older than the age limit (a step of Redis's clock) no longer counts."""
    clock = _RedisClock(lambda: 1000.0)
    clock.observe(redis_now=5000.030, asked_at=1000.0)  # a slow reply: 30 ms late
    clock.observe(redis_now=5000.002, asked_at=1000.001)
    assert clock.offset == pytest.approx(4000.001)
    assert clock.now() == pytest.approx(5000.001)
    clock.observe(redis_now=5100.0, asked_at=1000.0 + admission._CLOCK_SAMPLE_AGE_S + 1)
    assert clock.offset == pytest.approx(4089.0)  # the older samples aged out
