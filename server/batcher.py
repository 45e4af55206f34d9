"""Micro-batching: concurrent callers' items go out together, each caller gets its own result.

A flush takes everything waiting (up to `max_batch`); at most `max_in_flight` flushes run at
once, so batches grow only when the process is busy: a lone item is flushed on the next
loop iteration, adding no delay. Used for the send path's INSERT + XADD and for the
webhook path's XADD: one round trip per batch instead of one per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """`flush(items)` returns one result per item, in order, or raises for all of them."""

    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[Sequence[R]]],
        max_in_flight: int = 4,
        max_batch: int = 512,
    ) -> None:
        self.flush = flush
        self.max_in_flight = max_in_flight
        self.max_batch = max_batch
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._flushes: set[asyncio.Task[None]] = set()
        self._scheduled = False

    async def submit(self, item: T) -> R:
        """`item`'s result, once the flush that carried it is done."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._schedule()
        return await future

    async def close(self) -> None:
        """Let the flushes under way and the items waiting finish (callers wait for them)."""
        while self._flushes or self._waiting:
            self._schedule()
            await asyncio.gather(*self._flushes, return_exceptions=True)
            await asyncio.sleep(0)

    def _schedule(self) -> None:
        if self._waiting and not self._scheduled and len(self._flushes) < self.max_in_flight:
            self._scheduled = True
            # On the next iteration: requests read in this one join the same batch.
            asyncio.get_running_loop().call_soon(self._start_flush)

    def _start_flush(self) -> None:
        self._scheduled = False
        batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
        if not batch:
            return
        task = asyncio.create_task(self._run(batch))
        self._flushes.add(task)
        task.add_done_callback(self._flush_done)

    def _flush_done(self, task: asyncio.Task[None]) -> None:
        self._flushes.discard(task)
        self._schedule()

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self.flush([item for item, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # the caller may have gone away (client disconnected)
                future.set_result(result)
