"""Pause flags in Redis: sending on a number stopped by Meta, Hub deliveries stopped by the Hub.

A pause is one key (`core.names`) holding `{"code", "title", "until"}` as JSON, with a TTL
of what is left of it, so it ends by itself and every replica sees it at once. The worker
sets them; `/health/`, `/metrics` and the operator read them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

__all__ = ["Pause", "parse_pause", "read_pause", "set_pause"]


@dataclass(frozen=True, slots=True)
class Pause:
    code: Any
    title: str
    until: float  # unix time

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "title": self.title, "until": self.until}


async def set_pause(redis: Redis, key: str, code: Any, title: str, seconds: float) -> Pause:
    """Pause for `seconds` from now (a pause already set is replaced)."""
    pause = Pause(code, title, time.time() + seconds)
    await redis.set(key, json.dumps(pause.as_dict()), px=max(1, int(seconds * 1000)))
    return pause


async def read_pause(redis: Redis, key: str) -> Pause | None:
    return parse_pause(await redis.get(key))


def parse_pause(raw: str | bytes | None) -> Pause | None:
    if not raw:
        return None
    data = json.loads(raw)
    return Pause(data.get("code"), data.get("title", ""), float(data.get("until", 0)))
