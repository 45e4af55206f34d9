"""consumers.periodic: a step at once and then every interval until stop; an outage is one
warning line, any other error is logged with its traceback, and neither ends the loop."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from consumers.periodic import periodic

logger = logging.getLogger("tests.periodic")


async def test_runs_at_once_then_every_interval_until_stopped() -> None:
    stop, loop, runs = asyncio.Event(), asyncio.get_running_loop(), []

    async def step() -> None:
        runs.append(loop.time())
        if len(runs) == 3:
            stop.set()

    started = loop.time()
    await asyncio.wait_for(periodic("test", step, 0.05, stop, logger), 5)
    assert runs[0] - started < 0.05
    assert [b - a > 0.045 for a, b in itertools.pairwise(runs)] == [True, True]


async def test_errors_are_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()
    errors: list[Exception] = [RedisConnectionError("Redis is down"), KeyError("a bug")]

    async def step() -> None:
        if errors:
            raise errors.pop(0)
        stop.set()

    with caplog.at_level(logging.WARNING, logger=logger.name):
        await asyncio.wait_for(periodic("test pass", step, 0.01, stop, logger), 5)
    outage, bug = caplog.records
    assert (outage.levelno, outage.getMessage(), outage.exc_info) == (
        logging.WARNING,
        "test pass skipped (ConnectionError: Redis is down)",
        None,
    )
    assert (bug.levelno, bug.getMessage()) == (logging.ERROR, "test pass failed")
    assert bug.exc_info and bug.exc_info[0] is KeyError


async def test_quiet_errors_are_one_warning_line_whatever_they_are(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()

    async def step() -> None:
        stop.set()
        raise KeyError("a bug")

    with caplog.at_level(logging.WARNING, logger=logger.name):
        await periodic("test pass", step, 0.01, stop, logger, quiet=(Exception,))
    [line] = caplog.records
    assert (line.levelno, line.getMessage(), line.exc_info) == (
        logging.WARNING,
        "test pass skipped (KeyError: 'a bug')",
        None,
    )


async def test_a_stop_ends_the_wait_at_once() -> None:
    stop, runs = asyncio.Event(), []

    async def step() -> None:
        runs.append(1)

    task = asyncio.create_task(periodic("test", step, 60, stop, logger))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 1)
    assert runs == [1]
