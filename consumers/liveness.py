"""Which claimed messages a dead worker could have sent, so the others are sent again.

Each worker has an id, alive while its key `messaging:worker:{id}` exists: set when the
worker starts, refreshed every `_BEAT_S`, gone `_TTL_S` after its last refresh. A refresh
never brings a key back (`SET XX`): a worker whose key expired (it was stalled that long)
takes a new id, and its old claims are no longer its to send.

Right before the first byte of each Meta call is written, the Meta session's aiohttp trace
(`departure_trace`, awaited by aiohttp before it writes the buffered headers and the body)
adds the message to the worker's set `messaging:leaving:{id}`, in one script that first
checks the worker's key exists; the bytes are written only if it did, in the same step. So
once a worker's key is gone, its set is final: a message in it may have reached Meta (it
waits for its status webhook, or the sweeper's `outcome_unknown`); a message the worker
claimed and that is not in it never left, and `recover()` (run by the sweeper) queues it
again, due at once, its try refunded. Nothing is sent twice, and what a crash interrupted is
sent within `_TTL_S` plus a sweep interval.

Adding to the set costs one Redis round trip per loop turn of sends (`core.batcher`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
from redis.asyncio import Redis

from core import broker
from core.batcher import Batcher
from core.failures import Withheld
from core.names import LEAVING_KEY, WORKER_KEY
from db import messages

logger = logging.getLogger("consumers.liveness")
_TTL_S = 10.0  # a worker not heard from this long is dead
_BEAT_S = 2.0

# KEYS[1] the worker's key, KEYS[2] its leaving set; ARGV[1] the set's TTL (ms), then the
# message ids. Adds them only while the worker is alive; returns 1 if it did.
_LEAVING = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SADD', KEYS[2], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1
"""


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass(slots=True)
class Departure:
    """One Meta call's ticket for `departure_trace`: pass it as `trace_request_ctx`."""

    worker_id: str
    message_id: UUID
    marked: bool = False  # the mark is written: the request may have left from here on


def departure_trace(liveness: Liveness) -> aiohttp.TraceConfig:
    async def on_chunk_sent(_session: Any, ctx: Any, _params: Any) -> None:
        departure = ctx.trace_request_ctx
        if not isinstance(departure, Departure) or departure.marked:
            return
        try:
            alive = await liveness.leaving(departure.worker_id, departure.message_id)
        except Exception as exc:
            raise Withheld(f"the mark could not be written ({exc!r})", claim_lost=False) from exc
        if not alive:
            raise Withheld("this worker was taken for dead", claim_lost=True)
        departure.marked = True

    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(on_chunk_sent)
    return trace


class Liveness:
    """This process's worker id, its heartbeat, and the marks of its Meta calls."""

    def __init__(self, redis: Redis, keep_marks_s: float) -> None:
        self.redis = redis
        self.worker_id = new_worker_id()
        self._keep_marks_ms = int(keep_marks_s * 1000)
        self._script = redis.register_script(_LEAVING)
        self._marks: Batcher[tuple[str, UUID], bool] = Batcher(self._mark)
        self._closing = asyncio.Event()

    async def register(self) -> None:
        await self.redis.set(WORKER_KEY.format(worker_id=self.worker_id), "1", px=_ms(_TTL_S))

    async def beat(self) -> None:
        """Refresh the key until `close()` (through shutdown: sends may still start then); if
        it expired meanwhile, carry on under a new id."""
        while not self._closing.is_set():
            try:
                key = WORKER_KEY.format(worker_id=self.worker_id)
                if not await self.redis.set(key, "1", px=_ms(_TTL_S), xx=True):
                    old, self.worker_id = self.worker_id, new_worker_id()
                    logger.error("worker id %s expired (a stall?); now %s", old, self.worker_id)
                    await self.register()
            except Exception as exc:  # Redis down: the key may expire; then a new id
                logger.warning("heartbeat failed (%s)", type(exc).__name__)
            try:
                await asyncio.wait_for(self._closing.wait(), _BEAT_S)
            except TimeoutError:
                pass

    async def leaving(self, worker_id: str, message_id: UUID) -> bool:
        """Mark a Meta call as started; False if `worker_id` is dead: do not make it."""
        return await self._marks.submit((worker_id, message_id))

    async def settled(self, departures: list[Departure]) -> None:
        """Forget the marks of calls whose outcome is recorded, so a set holds only the
        calls in doubt (best effort: a mark left behind expires with its set)."""
        if not departures:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for d in departures:
                    pipe.srem(LEAVING_KEY.format(worker_id=d.worker_id), str(d.message_id))
                await pipe.execute()
        except Exception as exc:
            logger.warning("could not forget %d marks (%s)", len(departures), type(exc).__name__)

    async def close(self) -> None:
        """At a clean stop: no longer alive, so `recover()` may look at what is left."""
        self._closing.set()
        await self._marks.close()
        await self.redis.delete(WORKER_KEY.format(worker_id=self.worker_id))

    async def _mark(self, items: list[tuple[str, UUID]]) -> list[bool]:
        by_worker: dict[str, list[str]] = {}
        for worker_id, message_id in items:
            by_worker.setdefault(worker_id, []).append(str(message_id))
        async with self.redis.pipeline(transaction=False) as pipe:
            for worker_id, ids in by_worker.items():
                keys = [
                    WORKER_KEY.format(worker_id=worker_id),
                    LEAVING_KEY.format(worker_id=worker_id),
                ]
                await self._script(keys=keys, args=[self._keep_marks_ms, *ids], client=pipe)
            alive = dict(zip(by_worker, await pipe.execute(), strict=True))
        return [bool(alive[worker_id]) for worker_id, _ in items]


async def recover(pool: asyncpg.Pool, redis: Redis) -> dict[str, int]:
    """Queue again what dead workers claimed and never started to send; returns counts."""
    requeued: list[messages.Queued] = []
    for worker_id in await messages.claimants(pool):
        if await redis.exists(WORKER_KEY.format(worker_id=worker_id)):
            continue
        left = [UUID(i) for i in await redis.smembers(LEAVING_KEY.format(worker_id=worker_id))]
        ids = await messages.requeue_unsent(pool, worker_id, left)
        if ids:
            logger.warning(
                "worker %s died: %d message(s) it claimed never left, queued again; "
                "%d may have left and wait for their status",
                worker_id,
                len(ids),
                len(left),
            )
        requeued += ids
    if requeued:
        await broker.publish_outbound(redis, requeued)
    return {"requeued": len(requeued)}


async def may_have_left(redis: Redis, rows: list[asyncpg.Record]) -> list[UUID]:
    """Of `sending` messages (`id`, `claimed_by`), those whose Meta call started (or that
    were claimed before workers marked their calls)."""
    marked: dict[str, set[str]] = {}
    for worker_id in {r["claimed_by"] for r in rows if r["claimed_by"]}:
        marked[worker_id] = await redis.smembers(LEAVING_KEY.format(worker_id=worker_id))
    return [
        r["id"] for r in rows if r["claimed_by"] is None or str(r["id"]) in marked[r["claimed_by"]]
    ]


def _ms(seconds: float) -> int:
    return int(seconds * 1000)
