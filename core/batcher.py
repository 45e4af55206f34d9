"""Micro-batching: concurrent callers' items go out together, each caller gets its own result.

A flush takes what is waiting (up to `max_batch`); at most `max_in_flight` flushes run at
once, so batches grow only when the process is busy: a lone item is flushed on the next
loop iteration, adding no delay. The web uses it for the send path's INSERT + XADD and the
webhook path's XADD (one round trip per batch instead of one per request); the worker, with
one flush in flight, as its group commit of status writes (`consumers.events`): one
transaction at a time, so concurrent batches never wait on each other's row locks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
_Waiting = list[tuple[T, asyncio.Future[R]]]


class Batcher(Generic[T, R]):
    """`flush(items)` returns one result per item, in order, or raises.

    By default a failed flush fails every item in it. With `split_failures`, a flush that
    fails for a reason other than `shared_failures` (an outage, which fails them all alike)
    is retried one item at a time, so one bad item fails alone; `flush` must then be
    idempotent. An item whose caller went away before its flush started is dropped; once
    taken, it is flushed anyway.
    """

    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_in_flight: int = 4,
        max_batch: int | None = 512,
        split_failures: bool = False,
        shared_failures: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.flush = flush
        self.max_in_flight = max_in_flight
        self.max_batch = max_batch
        self.split_failures = split_failures
        self.shared_failures = shared_failures
        self._waiting: _Waiting[T, R] = []
        self._flushes: set[asyncio.Task[None]] = set()
        self._scheduled = False

    async def submit(self, item: T) -> R:
        """`item`'s result, once the flush that carried it is done."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._schedule()
        return await future  # cancelling the caller cancels `future`: the flush skips it

    async def close(self) -> None:
        """Let the flushes under way and the items waiting finish (callers wait for them)."""
        while self._flushes or self._waiting:
            self._schedule()
            await asyncio.gather(*self._flushes, return_exceptions=True)
            await asyncio.sleep(0)

    def _schedule(self) -> None:
        if self._waiting and not self._scheduled and len(self._flushes) < self.max_in_flight:
            self._scheduled = True
            # On the next iteration: items submitted in this one join the same batch.
            asyncio.get_running_loop().call_soon(self._start_flush)

    def _start_flush(self) -> None:
        self._scheduled = False
        live = [(item, f) for item, f in self._waiting if not f.done()]
        batch, self._waiting = live[: self.max_batch], live[self.max_batch :]
        if not batch:
            return
        task = asyncio.create_task(self._run(batch))
        self._flushes.add(task)
        task.add_done_callback(self._flush_done)
        self._schedule()  # items past `max_batch` start another flush if there is room

    def _flush_done(self, task: asyncio.Task[None]) -> None:
        self._flushes.discard(task)
        self._schedule()

    async def _run(self, batch: _Waiting[T, R]) -> None:
        try:
            results = await self.flush([item for item, _ in batch])
            if len(results) != len(batch):
                raise ValueError(f"flush returned {len(results)} results for {len(batch)} items")
        except self.shared_failures as exc:
            _fail(batch, exc)
            return
        except Exception as exc:
            if not self.split_failures or len(batch) == 1:
                _fail(batch, exc)
                return
            for one in batch:
                await self._run([one])
            return
        except BaseException:  # the flush itself was cancelled (loop shutdown)
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # the caller may have gone away meanwhile
                future.set_result(result)


def _fail(batch: _Waiting[T, R], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
