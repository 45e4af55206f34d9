"""`/ping/` for Railway's healthcheck (no dependencies), `/health/` for people (all of them).

`/health/` answers 503 when PostgreSQL or Redis does not answer, or when entries wait on a
stream that no live worker reads (by the workers' heartbeats, `core.heartbeats`), and says
which in `problems`. A pause (Meta's 131048 or token errors on a number, the Hub's 410) is
the service obeying the outside world, not a fault: it is reported in `alerts`, with a 200.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from core.broker import group_lag
from core.heartbeats import Workers, live_per_role, live_workers, role_of
from core.names import HUB_PAUSED_KEY, dead_letter_stream, groups
from core.pauses import parse_pause
from db import hub_events
from server.auth import require_health_token
from server.openapi.answers import HealthReport, Pong
from server.openapi.operation import HEALTH_TOKEN, Reply, operation
from server.web_context import web

bp = Blueprint("health")
_CHECK_TIMEOUT_S = 3


@bp.get("/ping/")
@operation("Liveness, no dependency checks", tag="health", responses={200: Pong})
async def ping(request: Request) -> HTTPResponse:
    return json({"status": "ok"})


@bp.get("/health/")
@operation(
    "Dependencies, live workers and backlogs",
    tag="health",
    responses={
        200: HealthReport,
        503: Reply(
            HealthReport,
            "PostgreSQL or Redis does not answer, or entries wait on a stream no live worker "
            "reads (`problems` says which)",
        ),
    },
    auth=HEALTH_TOKEN,
)
async def health(request: Request) -> HTTPResponse:
    """PostgreSQL and Redis reachable, live workers per role, consumer-group lag and pending,
    dead letters, pauses."""
    require_health_token(request)
    ctx = web(request)
    pool, redis, settings = ctx.pool, ctx.redis, ctx.settings
    body: dict[str, Any] = {}
    body["postgres"], dead_events = await _check(_postgres(pool))
    numbers, shards = settings.phone_number_ids, settings.stream_shards
    body["redis"], found = await _check(_redis(redis, numbers, shards))
    streams, workers = found or ({}, {})
    body["workers"] = [
        {"id": w, "roles": [r.name for r in roles]} for w, roles in sorted(workers.items())
    ]
    body["streams"] = streams
    body["dead_letters"] = {
        "hub_events": dead_events,
        **{name: info["dead_letters"] for name, info in streams.items()},
    }
    body["alerts"] = await _alerts(redis, settings) if body["redis"] == "ok" else []
    down = [f"{name}: {body[key]}" for key, name in _DEPENDENCIES if body[key] != "ok"]
    unserved, body["notes"] = _unserved(streams)
    body["problems"] = down + unserved
    body["status"] = "unavailable" if down else "degraded" if unserved else "ok"
    return json(body, status=200 if body["status"] == "ok" else 503)


_DEPENDENCIES = (("postgres", "PostgreSQL"), ("redis", "Redis"))


def _unserved(streams: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(problems, notes) of the streams no live worker reads: a problem when entries wait on
    it, a note when none do (a worker scaled to zero on purpose is not a fault until work
    arrives for it)."""
    problems, notes = [], []
    for stream, info in streams.items():
        if info["live_workers"] or not (role := role_of(stream)):
            continue
        if info["length"]:
            waiting = f"{info['length']} {'entry' if info['length'] == 1 else 'entries'}"
            problems.append(f"no live {role.title} and its stream has {waiting} waiting")
        else:
            notes.append(f"no live {role.title}; nothing waits on {stream}")
    return problems, notes


async def _alerts(redis: Any, settings: Any) -> list[dict[str, Any]]:
    """Pauses, for a person to look at: sending on a number stopped by Meta, deliveries
    stopped by the Hub."""
    numbers = settings.numbers
    async with redis.pipeline(transaction=False) as pipe:  # keys of many slots on a cluster
        for key in (*(n.paused_key for n in numbers), HUB_PAUSED_KEY):
            pipe.get(key)
        *sends, hub = await pipe.execute()
    found = [
        ("sending_paused", {"phone_number_id": n.id}, raw)
        for n, raw in zip(numbers, sends, strict=True)
    ]
    alerts = []
    for kind, about, raw in [*found, ("hub_deliveries_paused", {}, hub)]:
        if pause := parse_pause(raw):
            until = datetime.fromtimestamp(pause.until, UTC).isoformat()
            alert = {"alert": kind, **about, "code": pause.code, "title": pause.title}
            alerts.append({**alert, "until": until})
    return alerts


async def _check(probe: Any) -> tuple[str, Any]:
    try:
        return "ok", await asyncio.wait_for(probe, _CHECK_TIMEOUT_S)
    except Exception as exc:  # any failure is the answer, not an error of ours
        return f"error: {type(exc).__name__}", None


async def _postgres(pool: Any) -> int:
    async with pool.acquire() as conn:
        return await hub_events.dead(conn)


async def _redis(
    redis: Any, numbers: tuple[str, ...], shards: int = 1
) -> tuple[dict[str, Any], Workers]:
    """Each stream's state and how many live workers read it; the live workers."""
    await redis.ping()
    workers = await live_workers(redis)
    live = live_per_role(workers)
    out = {}
    for stream, group in groups(numbers, shards):
        role = role_of(stream)
        info: dict[str, Any] = {
            "group": group,
            "role": role.name if role else None,
            "live_workers": live[role] if role else 0,
            "length": 0,
            "lag": None,
            "pending": 0,
        }
        if await redis.exists(stream):
            info["length"] = await redis.xlen(stream)
            for g in await redis.xinfo_groups(stream):
                if g["name"] == group:
                    info.update(
                        lag=group_lag(info["length"], g),
                        pending=g["pending"],
                        consumers=g["consumers"],
                    )
        info["dead_letters"] = await redis.xlen(dead_letter_stream(stream))
        out[stream] = info
    return out, workers
