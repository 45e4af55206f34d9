"""Marking Meta calls before they leave, and taking back from dead workers what they held.

PostgreSQL holds the record (the invariants are in `db.claims`): before a Meta call is
made, its claim is marked with `db.claims.mark_left`; the call is made only if the mark was
made, and withheld otherwise (its claim was taken back, or PostgreSQL could not say). Marks
submitted in one event-loop turn share one statement (`core.batcher`): the sender marks the
chunk of claims its send slots cover together, at most `HORIZON_S` before those slots, so a
crash leaves at most one chunk of marked calls that never left.

Each worker also keeps a heartbeat key `messaging:worker:{id}` in Redis, naming the roles it
serves (`core.heartbeats`), refreshed every `_BEAT_S`, gone `_TTL_S` after its last refresh.
It is a hint, never the record: the sweeper (`recover`) queues again at once the unmarked
claims of a worker without a key, and every unmarked claim older than STREAM_IDLE_TIMEOUT_S
whatever its worker. A wrong hint (Redis lost its data, a stalled worker) costs a delay, never
a second send: a claim taken back can no longer be marked, so its old holder withholds the
call. The worker id is also the worker's consumer name in every group, so a consumer whose
heartbeat is gone and who holds no pending entry leaves its group (`forget_dead_consumers`).
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
from redis.exceptions import ResponseError

from consumers.periodic import periodic
from core import broker, heartbeats
from core.batcher import Batcher
from core.heartbeats import Role
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
        self.roles: tuple[Role, ...] = ()  # what the heartbeat says this worker serves
        self.worker_id = new_worker_id()
        self._marks: Batcher[Departure, bool] = Batcher(self._mark)
        self._closing = asyncio.Event()

    async def register(self) -> None:
        key = heartbeats.worker_key(self.worker_id)
        await self.redis.set(key, heartbeats.beat(self.roles), px=_ms(_TTL_S))

    async def serve(self, roles: tuple[Role, ...]) -> None:
        """Say from now on which roles this worker serves."""
        self.roles = roles
        await self.register()

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
        await self.redis.delete(heartbeats.worker_key(self.worker_id))

    async def _mark(self, departures: list[Departure]) -> list[bool]:
        """One statement for every mark of a loop turn (this worker's claims all)."""
        held = [(d.message_id, d.claim.at) for d in departures]
        marked = await claims.mark_left(self.pool, self.worker_id, held)
        return [d.message_id in marked for d in departures]


async def recover(pool: asyncpg.Pool, redis: Redis, claim_bound_s: float) -> dict[str, int]:
    """Queue again the unmarked claims of dead workers and those older than `claim_bound_s`;
    returns how many."""
    holders = await claims.claimants(pool)
    alive = await heartbeats.alive(redis, holders)
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


async def forget_dead_consumers(redis: Redis, stream: str, group: str, own: str) -> list[str]:
    """Remove from `group` the consumers whose worker's heartbeat is gone and who hold no
    pending entry (survivors take those over first); returns their names. A live consumer,
    idle or not, is never removed."""
    try:
        consumers = await redis.xinfo_consumers(stream, group)
    except ResponseError:  # no stream or group yet
        return []
    idle = [c["name"] for c in consumers if c["pending"] == 0 and c["name"] != own]
    if not idle:
        return []
    gone = [n for n, a in zip(idle, await heartbeats.alive(redis, idle), strict=True) if not a]
    removed = [n for n in gone if await redis.eval(_DELETE_IF_NONE_PENDING, 1, stream, group, n)]
    if removed:
        logger.info("dead consumers left stream=%s group=%s: %s", stream, group, ",".join(removed))
    return removed


# Pending entries are checked and the consumer deleted in one step, so an entry delivered to
# it in between (a stopped process still blocked in XREADGROUP) is never dropped with it.
_DELETE_IF_NONE_PENDING = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


def _ms(seconds: float) -> int:
    return int(seconds * 1000)
