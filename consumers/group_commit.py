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

    One writer task per process runs while parts wait: each turn, `write` gets every part
    waiting and returns one result per part; callers only wait for their own result. `write`
    must be idempotent. If a group fails for a reason other than an outage, each part is
    written alone, so one bad part fails alone. A caller cancelled before its part's turn
    takes the part back; once taken, the part is written anyway (its events, if it was the
    only one to make them, are published by the sweeper).
    """

    def __init__(self, write: Callable[[list[P]], Awaitable[list[R]]]) -> None:
        self._write = write
        self._waiting: list[tuple[P, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, part: P) -> R:
        mine: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((part, mine))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_all())
        return await mine  # cancelling the caller cancels `mine`: the writer then skips it

    async def _write_all(self) -> None:
        group: list[tuple[P, asyncio.Future[R]]] = []
        try:
            while self._waiting:
                group, self._waiting = [(p, f) for p, f in self._waiting if not f.done()], []
                if group:
                    await self._write_group(group)
        except BaseException as exc:  # the writer itself cancelled (loop shutdown): tell all
            for _, future in group + self._waiting:
                if future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            raise
        finally:
            self._writer = None

    async def _write_group(self, group: list[tuple[P, asyncio.Future[R]]]) -> None:
        try:
            results = await self._write([p for p, _ in group])
            if len(results) != len(group):
                raise ValueError(f"write returned {len(results)} results for {len(group)} parts")
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
