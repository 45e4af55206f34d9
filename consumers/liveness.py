"""Marking Meta calls before they leave, and taking back the claims whose calls never did.

PostgreSQL holds the record (the invariants are in `db.claims`): before a Meta call is
made, its claim is marked with `db.claims.mark_left`; the call is made only if the mark was
made, and withheld otherwise (its claim was taken back, or PostgreSQL could not say). Marks
submitted in one event-loop turn share one statement (`core.batcher`): the sender marks the
chunk of claims its send slots cover together, at most `HORIZON_S` before those slots, so a
crash leaves at most one chunk of marked calls that never left.

Each worker also keeps a heartbeat key `messaging:worker:{id}` in Redis, refreshed every
`_BEAT_S`, gone `_TTL_S` after its last refresh. It is a hint, never the record: the sweeper
(`recover`) queues again at once the unmarked claims of a worker without a key, and every
unmarked claim older than STREAM_IDLE_TIMEOUT_S whatever its worker. A wrong hint (Redis
lost its data, a stalled worker) costs a delay, never a second send: a claim taken back
can no longer be marked, so its old holder withholds the call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from uuid import UUID

import asyncpg
from redis.asyncio import Redis

from consumers.periodic import periodic
from core import broker
from core.batcher import Batcher
from core.names import WORKER_KEY
from db import claims
from db.claims import Claim

logger = logging.getLogger("consumers.liveness")
_TTL_S = 10.0  # a worker not heard from this long is taken for dead
_BEAT_S = 2.0


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass(slots=True)
class Departure:
    """One claimed message's way to Meta: once `started`, its call may have left."""

    message_id: UUID
    claim: Claim
    started: bool = False


class Liveness:
    """This process's worker id, its heartbeat, and the marks of its Meta calls."""

    def __init__(self, redis: Redis, pool: asyncpg.Pool) -> None:
        self.redis = redis
        self.pool = pool
        self.worker_id = new_worker_id()
        self._marks: Batcher[Departure, bool] = Batcher(self._mark)
        self._closing = asyncio.Event()

    async def register(self) -> None:
        await self.redis.set(WORKER_KEY.format(worker_id=self.worker_id), "1", px=_ms(_TTL_S))

    async def beat(self) -> None:
        """Refresh the key until `close()` (through shutdown: sends may still start then)."""
        # A failed refresh, whatever the error, is one warning line: the key may expire.
        await periodic(
            "heartbeat", self.register, _BEAT_S, self._closing, logger, quiet=(Exception,)
        )

    async def leaving(self, departure: Departure) -> bool:
        """Mark a Meta call as leaving; False if its claim is no longer held: do not make it.
        Raises if PostgreSQL could not say: do not make it either."""
        return await self._marks.submit(departure)

    async def close(self) -> None:
        """At a clean stop: no longer alive, so `recover()` may take back what is left."""
        self._closing.set()
        await self._marks.close()
        await self.redis.delete(WORKER_KEY.format(worker_id=self.worker_id))

    async def _mark(self, departures: list[Departure]) -> list[bool]:
        """One statement for every mark of a loop turn (this worker's claims all)."""
        held = [(d.message_id, d.claim.at) for d in departures]
        marked = await claims.mark_left(self.pool, self.worker_id, held)
        return [d.message_id in marked for d in departures]


async def recover(pool: asyncpg.Pool, redis: Redis, claim_bound_s: float) -> dict[str, int]:
    """Queue again the unmarked claims of dead workers and those older than `claim_bound_s`;
    returns how many."""
    holders = await claims.claimants(pool)
    async with redis.pipeline(transaction=False) as pipe:
        for worker in holders:
            pipe.exists(WORKER_KEY.format(worker_id=worker))
        alive = await pipe.execute()
    dead = [w for w, is_alive in zip(holders, alive, strict=True) if not is_alive]
    requeued = await claims.requeue_unmarked(pool, dead, claim_bound_s)
    if requeued:
        logger.warning(
            "%d claimed message(s) whose Meta call never started queued again "
            "(workers taken for dead: %s)",
            len(requeued),
            ", ".join(dead) or "none; claims older than the bound",
        )
        await broker.publish_outbound(redis, requeued)
    return {"requeued": len(requeued)}


def _ms(seconds: float) -> int:
    return int(seconds * 1000)
