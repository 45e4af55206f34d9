"""Group commit: a process's batches share one transaction instead of queueing on row locks.

A message's sent, delivered and read statuses arrive 50 ms apart, so batches in flight at
once (the sender's, the webhook processor's) touch the same rows. In concurrent transactions
each one waits on the others' row locks, and a lock is held through every round trip of its
transaction, each of which waits its turn in a busy event loop: under load the waits chain,
connections sit idle in transaction and the pool runs dry (the 2026-12-02 soak stalls,
docs/performance.md). Here one transaction at a time writes everything submitted while the
previous one ran: nothing waits inside PostgreSQL, and the busier the process, the fewer and
larger its transactions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from server.errors import TRANSIENT

P = TypeVar("P")
R = TypeVar("R")


class GroupCommit(Generic[P, R]):
    """`submit(part)` returns what `write(parts)` returned for that part, once it is written.

    `write` gets every part waiting when its turn comes and returns one result per part; it
    must be idempotent (a part whose writer was cancelled mid-write is written again). If a
    group fails for a reason other than an outage, each part is written alone, so one bad
    part fails alone.
    """

    def __init__(self, write: Callable[[list[P]], Awaitable[list[R]]]) -> None:
        self._write = write
        self._waiting: list[tuple[P, asyncio.Future[R]]] = []
        self._turn = asyncio.Lock()

    async def submit(self, part: P) -> R:
        mine: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((part, mine))
        try:
            async with self._turn:
                if not mine.done():  # no earlier writer took it: write all that waits
                    group, self._waiting = self._waiting, []
                    await self._run(group, mine)
        except asyncio.CancelledError:
            self._waiting = [(p, f) for p, f in self._waiting if f is not mine]
            mine.cancel()
            raise
        return mine.result()

    async def _run(self, group: list[tuple[P, asyncio.Future[R]]], mine: asyncio.Future[R]) -> None:
        try:
            await self._write_group(group)
        except asyncio.CancelledError:  # the others' parts go back first in line
            self._waiting[:0] = [(p, f) for p, f in group if not f.done() and f is not mine]
            raise

    async def _write_group(self, group: list[tuple[P, asyncio.Future[R]]]) -> None:
        try:
            results = await self._write([p for p, _ in group])
        except TRANSIENT as exc:  # an outage fails them all alike: each caller retries
            _settle(group, exc)
            return
        except Exception as exc:
            if len(group) == 1:
                _settle(group, exc)
                return
            for one in group:
                await self._write_group([one])
            return
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():
                future.set_result(result)


def _settle(group: list[tuple[P, asyncio.Future[R]]], exc: Exception) -> None:
    for _, future in group:
        if not future.done():
            future.set_exception(exc)
