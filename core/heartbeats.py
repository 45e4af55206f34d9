"""Workers' heartbeats: which workers are alive, and what each one serves.

Each worker process keeps `messaging:worker:{id}` (`core.names.WORKER_KEY`), refreshed every
few seconds with a TTL of seconds (`consumers.liveness`): the worker is taken for alive while
it exists. Its value says what the worker serves, one role per stream it reads:

    {"roles": ["sender:106540352242922", "webhooks", "hub"]}

The worker id is also its consumer name in every group, so a consumer whose heartbeat is
gone is a dead worker's. The web's `/health/` and `/metrics` and `python -m ops streams`
read the heartbeats here; the worker writes them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from redis.asyncio import Redis

from core.names import HUB_PREFIX, WORKER_KEY, number_of, shard_of

_TITLES = {"sender": "sender", "webhooks": "webhook processor", "hub": "Hub forwarder"}


@dataclass(frozen=True, slots=True, order=True)
class Role:
    """What a worker does: `sender` (for one number), `webhooks` or `hub`."""

    kind: str
    phone_number_id: str = ""  # the sender's number; empty for the others

    @property
    def name(self) -> str:
        """As the heartbeat lists it: `sender:106540352242922`, `webhooks`, `hub`."""
        return f"{self.kind}:{self.phone_number_id}" if self.phone_number_id else self.kind

    @property
    def title(self) -> str:
        """For people: `sender for 106540352242922`, `webhook processor`, `Hub forwarder`."""
        title = _TITLES.get(self.kind, self.kind)
        return f"{title} for {self.phone_number_id}" if self.phone_number_id else title

    @classmethod
    def parse(cls, name: str) -> Role:
        kind, _, number = name.partition(":")
        return cls(kind, number)


Workers = dict[str, tuple[Role, ...]]  # live worker id -> the roles it serves


def role_of(stream: str) -> Role | None:
    """The role of the workers that read `stream` (None: a stream no worker reads)."""
    if number := number_of(stream):
        return Role("sender", number)
    if shard_of(stream) is None:
        return None
    return Role("hub") if stream.startswith(HUB_PREFIX) else Role("webhooks")


def beat(roles: Iterable[Role]) -> str:
    """A heartbeat's value."""
    return json.dumps({"roles": sorted({r.name for r in roles})})


def parse_beat(raw: str | None) -> tuple[Role, ...]:
    """The roles a heartbeat names; none for one that does not say (an older worker's `1`)."""
    try:
        names = json.loads(raw or "")["roles"]
    except (ValueError, TypeError, KeyError):
        return ()
    if not isinstance(names, list):
        return ()
    return tuple(Role.parse(n) for n in names if isinstance(n, str))


def worker_key(worker_id: str) -> str:
    return WORKER_KEY.format(worker_id=worker_id)


async def live_workers(redis: Redis) -> Workers:
    """Every worker whose heartbeat exists, by id, with the roles it serves."""
    prefix, suffix = worker_key("\0").split("\0")
    keys = [k async for k in redis.scan_iter(match=f"{prefix}*{suffix}", count=1000)]
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.get(key)
        values = await pipe.execute()
    return {
        key.removeprefix(prefix).removesuffix(suffix): parse_beat(value)
        for key, value in zip(keys, values, strict=True)
        if value is not None  # expired between the scan and the read
    }


def live_per_role(workers: Workers) -> Counter[Role]:
    """How many live workers serve each role."""
    return Counter(role for roles in workers.values() for role in set(roles))


async def alive(redis: Redis, worker_ids: list[str]) -> list[bool]:
    """Whether each worker's heartbeat exists, in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        for worker_id in worker_ids:
            pipe.exists(worker_key(worker_id))
        return [bool(n) for n in await pipe.execute()]
