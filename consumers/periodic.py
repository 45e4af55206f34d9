"""The workers' timed loops, one way: a step every interval until stop, never dying of an error.

The scheduler, the sweeper, the template sync and the heartbeat each run on `periodic()`;
the stream consumers and the sender wait with `sleep_unless_stopped()`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from core.failures import OUTAGES


async def periodic(
    name: str,
    step: Callable[[], Awaitable[object]],
    every_s: float,
    stop: asyncio.Event,
    logger: logging.Logger,
    quiet: tuple[type[Exception], ...] = OUTAGES,
) -> None:
    """Await `step()` now and then `every_s` after each run ends, until `stop` is set.

    An error of a `quiet` kind (PostgreSQL or Redis unavailable, by default) is one warning
    line; any other is logged with its traceback; either way the next run comes as usual.
    """
    while not stop.is_set():
        try:
            await step()
        except quiet as exc:
            logger.warning("%s skipped (%s: %s)", name, type(exc).__name__, exc)
        except Exception:  # never die quietly: the next run tries again
            logger.exception("%s failed", name)
        await sleep_unless_stopped(stop, every_s)


async def sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less if `stop` is set meanwhile: every loop's pause, one way."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
