"""`python -m ops streams | dead | replay --stream`: the Redis side, read as an operator
would with redis-cli (XINFO, XPENDING, XRANGE), in one answer, with the live workers (their
heartbeats, `core.heartbeats`) and whether each consumer is one of them.

Webhook entries hold Meta's raw POST (message texts): only its size is shown.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import ResponseError

from core.broker import Client as Redis
from core.broker import group_lag
from core.heartbeats import live_workers
from core.names import DEAD_LETTER_SUFFIX, dead_letter_stream, groups, number_of, shard_of
from ops.render import duration, table, when

# What the runner adds to an entry when it dead-letters it (consumers/runner.py).
DEAD_FIELDS = ("source_id", "error", "deliveries", "failed_at")
_NAMES = ("message_id", "event_id", "type")


Groups = tuple[tuple[str, str], ...]


async def known_groups(redis: Redis, configured: tuple[str, ...] = ()) -> Groups:
    """Every stream and its group: one outbound stream per business number, configured
    (WHATSAPP_PHONE_NUMBER_ID, when ops can read it) or found in Redis (a stream or its dead
    letters, so a number no longer configured still shows), then the webhook and Hub-event
    shards, as many as found (at least one). On a cluster SCAN visits every master."""
    numbers = set(configured)
    shards = 1
    async for key in redis.scan_iter(match="messaging:*", count=1000, _type="stream"):
        stream = key.removesuffix(DEAD_LETTER_SUFFIX)
        if number := number_of(stream):
            numbers.add(number)
        elif (shard := shard_of(stream)) is not None:
            shards = max(shards, shard + 1)
    return groups(tuple(sorted(numbers)), shards)


def stream_named(name: str, known: Groups) -> str:
    """`messaging:outbound:{1065}`, `outbound:{1065}`, `outbound:1065`, `webhooks:w0` or
    any of those with `:dead` -> the stream; `outbound`, `webhooks` or `hub-events` alone
    when there is one of that kind."""
    name = name.removesuffix(DEAD_LETTER_SUFFIX).removeprefix("messaging:")
    of_kind = [s for s, _ in known if s.removeprefix("messaging:").startswith(f"{name}:")]
    if len(of_kind) == 1:
        return of_kind[0]
    for stream, _ in known:
        short = stream.removeprefix("messaging:")
        if name in (short, short.replace("{", "").replace("}", "")):
            return stream
    names = ", ".join(s for s, _ in known)
    raise ValueError(f"unknown stream {name!r}; one of {names}")


def summary(fields: dict[str, str]) -> dict[str, Any]:
    """The ids an entry names; a webhook body only by its size."""
    out: dict[str, Any] = {k: fields[k] for k in _NAMES if fields.get(k)}
    if "body" in fields:
        out["body_bytes"] = len(fields["body"].encode())
    return out


def entry_age_ms(entry_id: str, now_ms: int) -> int:
    """An entry id starts with the millisecond it was added."""
    return max(0, now_ms - int(entry_id.split("-")[0]))


async def workers(redis: Redis) -> list[dict[str, Any]]:
    """The live workers and the roles each serves."""
    found = await live_workers(redis)
    return [{"id": w, "roles": [r.name for r in roles]} for w, roles in sorted(found.items())]


async def overview(
    redis: Redis, pending_limit: int = 10, configured: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Every stream and its group: backlog, lag, pending entries and consumers (`live`: its
    worker's heartbeat is fresh), dead letters."""
    now_ms = int(time.time() * 1000)
    live = await live_workers(redis)
    out = []
    for stream, group in await known_groups(redis, configured):
        s: dict[str, Any] = {"stream": stream, "group": group, "length": await redis.xlen(stream)}
        first = await redis.xrange(stream, count=1)
        s["oldest_entry_age_ms"] = entry_age_ms(first[0][0], now_ms) if first else None
        s["dead_letters"] = await redis.xlen(dead_letter_stream(stream))
        s.update(group_exists=False, lag=None, pending=0, consumers=[], pending_entries=[])
        try:
            info = next((g for g in await redis.xinfo_groups(stream) if g["name"] == group), None)
        except ResponseError:  # no such stream yet
            info = None
        if info is not None:
            lag = group_lag(s["length"], info)
            s.update(group_exists=True, lag=lag, pending=info["pending"])
            s["last_delivered_id"] = info["last-delivered-id"]
            s["consumers"] = [
                {
                    "name": c["name"],
                    "pending": c["pending"],
                    "idle_ms": c["idle"],
                    "live": c["name"] in live,
                }
                for c in await redis.xinfo_consumers(stream, group)
            ]
            s["pending_entries"] = await _pending(redis, stream, group, pending_limit)
        out.append(s)
    return out


async def _pending(redis: Redis, stream: str, group: str, limit: int) -> list[dict[str, Any]]:
    rows = await redis.xpending_range(stream, group, "-", "+", limit)
    entries = []
    for p in rows:
        found = await redis.xrange(stream, p["message_id"], p["message_id"])
        entries.append(
            {
                "id": p["message_id"],
                "consumer": p["consumer"],
                "idle_ms": p["time_since_delivered"],
                "deliveries": p["times_delivered"],
                **(summary(found[0][1]) if found else {"deleted": True}),
            }
        )
    return entries


def render_overview(streams: list[dict[str, Any]], alive: list[dict[str, Any]]) -> str:
    rows = [
        (
            s["stream"],
            s["group"] if s["group_exists"] else f"{s['group']} (missing)",
            s["length"],
            duration(s["oldest_entry_age_ms"]),
            s["lag"],
            s["pending"],
            len(s["consumers"]),
            s["dead_letters"],
        )
        for s in streams
    ]
    heads = ("STREAM", "GROUP", "LENGTH", "OLDEST", "LAG", "PENDING", "CONSUMERS", "DEAD")
    out = [table(heads, rows)]
    consumers = [
        (s["stream"], c["name"], c["pending"], duration(c["idle_ms"]), _yes(c["live"]))
        for s in streams
        for c in s["consumers"]
    ]
    heads = ("STREAM", "CONSUMER", "PENDING", "IDLE", "LIVE")
    out += ["", "consumers", table(heads, consumers, "  ")]
    rows = [(w["id"], " ".join(w["roles"]) or "-") for w in alive]
    out += ["", f"live workers ({len(alive)})", table(("WORKER", "ROLES"), rows, "  ")]
    pending = [
        (s["stream"], p["id"], p["consumer"], duration(p["idle_ms"]), p["deliveries"], _ids(p))
        for s in streams
        for p in s["pending_entries"]
    ]
    heads = ("STREAM", "ENTRY", "CONSUMER", "IDLE", "DELIVERIES", "NAMES")
    out += ["", "pending entries (oldest first)", table(heads, pending, "  ")]
    return "\n".join(out)


async def dead_entries(redis: Redis, limit: int = 50) -> list[dict[str, Any]]:
    """The newest dead-letter entries of every stream, with why they died."""
    out = []
    for stream, _ in await known_groups(redis):
        dead = dead_letter_stream(stream)
        for entry_id, fields in await redis.xrevrange(dead, count=limit):
            unix = float(fields.get("failed_at") or 0)
            out.append(
                {
                    "stream": dead,
                    "id": entry_id,
                    "source_id": fields.get("source_id"),
                    "deliveries": int(fields.get("deliveries") or 0),
                    "failed_at": datetime.fromtimestamp(unix, UTC) if unix else None,
                    "error": fields.get("error"),
                    **summary(fields),
                }
            )
    return out


async def dead_naming(redis: Redis, message_id: str, scan: int = 10_000) -> list[dict[str, Any]]:
    """Dead-letter entries that name a message (dead streams are short; `scan` bounds it)."""
    return [e for e in await dead_entries(redis, scan) if e.get("message_id") == message_id]


async def replay_entries(
    redis: Redis, stream: str, ids: list[str] | None, since_ms: int | None, until_ms: int | None
) -> list[dict[str, str]]:
    """Put dead-letter entries back on their stream with their original fields; each move
    (XADD + XDEL) is one transaction, so an entry is never on both or on neither."""
    dead = dead_letter_stream(stream)
    if ids is not None:
        entries = [e for i in ids for e in await redis.xrange(dead, i, i)]
    else:
        low = "-" if since_ms is None else f"{since_ms}-0"
        high = "+" if until_ms is None else f"({until_ms}-0"
        entries = await redis.xrange(dead, low, high)
    moved = []
    for entry_id, fields in entries:
        original = {k: v for k, v in fields.items() if k not in DEAD_FIELDS}
        async with redis.pipeline(transaction=True) as pipe:
            pipe.xadd(stream, original)
            pipe.xdel(dead, entry_id)
            new_id, _ = await pipe.execute()
        moved.append({"dead_id": entry_id, "stream": stream, "new_id": new_id})
    return moved


def render_dead(entries: list[dict[str, Any]], events: list[dict[str, Any]]) -> str:
    rows = [
        (e["stream"], e["id"], when(e["failed_at"]), e["deliveries"], _ids(e), e["error"])
        for e in entries
    ]
    heads = ("STREAM", "ENTRY", "FAILED AT", "DELIVERIES", "NAMES", "ERROR")
    out = [f"dead-letter entries ({len(entries)})", table(heads, rows, "  ")]
    rows = [
        (e["id"], e["type"], e["message_id"], when(e["created_at"]), e["attempts"], e["last_error"])
        for e in events
    ]
    heads = ("EVENT", "TYPE", "MESSAGE", "CREATED AT", "ATTEMPTS", "REASON")
    out += ["", f"dead Hub events ({len(events)})", table(heads, rows, "  ")]
    return "\n".join(out)


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _ids(entry: dict[str, Any]) -> str:
    keys = (*_NAMES, "body_bytes")
    return " ".join(f"{k}={entry[k]}" for k in keys if entry.get(k) is not None) or "-"
