"""`/ping/` for Railway's healthcheck (no dependencies), `/health/` for people (all of them)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from core.broker import group_lag
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
    "Dependencies and backlogs",
    tag="health",
    responses={
        200: HealthReport,
        503: Reply(HealthReport, "PostgreSQL or Redis does not answer"),
    },
    auth=HEALTH_TOKEN,
)
async def health(request: Request) -> HTTPResponse:
    """PostgreSQL and Redis reachable, consumer-group lag and pending, dead letters."""
    require_health_token(request)
    ctx = web(request)
    pool, redis, settings = ctx.pool, ctx.redis, ctx.settings
    body: dict[str, Any] = {}
    body["postgres"], dead_events = await _check(_postgres(pool))
    numbers, shards = settings.phone_number_ids, settings.stream_shards
    body["redis"], streams = await _check(_redis(redis, numbers, shards))
    body["streams"] = streams or {}
    body["dead_letters"] = {
        "hub_events": dead_events,
        **{name: info["dead_letters"] for name, info in (streams or {}).items()},
    }
    body["alerts"] = await _alerts(redis, settings) if body["redis"] == "ok" else []
    healthy = body["postgres"] == "ok" and body["redis"] == "ok"
    body["status"] = ("degraded" if body["alerts"] else "ok") if healthy else "unavailable"
    return json(body, status=200 if body["status"] == "ok" else 503)


async def _alerts(redis: Any, settings: Any) -> list[dict[str, Any]]:
    """Pauses that need a person: sending on a number stopped by Meta, deliveries stopped by
    the Hub."""
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


async def _redis(redis: Any, numbers: tuple[str, ...], shards: int = 1) -> dict[str, Any]:
    await redis.ping()
    out = {}
    for stream, group in groups(numbers, shards):
        info: dict[str, Any] = {"group": group, "length": 0, "lag": None, "pending": 0}
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
    return out
