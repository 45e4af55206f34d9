"""`python -m ops message <id|wamid>`: where a message is, how it got there, and what the
Hub was told about it (each event and every delivery attempt).

An outbound message is found by our id or by Meta's wamid; an inbound one by its wamid.
Message texts are never shown: the type, the parties and the times tell the story.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from redis.asyncio import Redis

from db import hub_events, inbound, messages, statuses
from db.hub_events import event_id
from ops import streams
from ops.render import cell, duration, facts, table, when

_FIELDS = (
    "status",
    "phone_number_id",
    "recipient",
    "recipient_user_id",
    "type",
    "wamid",
    "attempts",
    "idempotency_key",
    "expires_at",
    "caller",
)
# What each field is called on screen: the business number it goes from, its Meta calls.
_LABELS = {"phone_number_id": "from number", "attempts": "meta calls"}


async def report(pool: asyncpg.Pool, redis: Redis, key: str) -> dict[str, Any] | None:
    """Everything about one message, or None if neither id nor wamid matches."""
    found = await _report(pool, key)
    if found is not None and found["direction"] == "outbound":
        found["dead_letters"] = await streams.dead_naming(redis, str(found["id"]))
    return found


async def _report(pool: asyncpg.Pool, key: str) -> dict[str, Any] | None:
    async with pool.acquire() as conn:
        try:
            message_id: UUID | None = UUID(key)
        except ValueError:
            message_id = (await messages.ids_by_wamid(conn, [key])).get(key)
        row = await messages.get(conn, message_id) if message_id else None
        if row is not None:
            return await _outbound(conn, row)
        received = await inbound.get(conn, key)
        if received is not None:
            events = await _events(conn, None, [event_id("inbound", key)])
            return {"direction": "inbound", **dict(received), "hub_events": events}
    return None


async def _outbound(conn: asyncpg.Connection, row: Any) -> dict[str, Any]:
    timeline = [{"status": "queued", "at": row["created_at"], "source": "api"}]
    if row["sending_at"]:
        timeline.append({"status": "sending", "at": row["sending_at"], "source": "sender"})
    for t in await statuses.timeline(conn, row["id"]):
        timeline.append(
            {"status": t["status"], "at": t["occurred_at"], "source": t["source"]}
            | ({"details": t["details"]} if t["details"] else {})
        )
    return {
        "direction": "outbound",
        "id": row["id"],
        **{k: row[k] for k in _FIELDS},
        "error": row["error"],
        "last_error": row["last_error"],
        "next_attempt_at": row["next_attempt_at"],
        "claimed_by": row["claimed_by"],
        "left_at": row["left_at"],  # its last Meta call may have left from then (db.claims)
        "purged_at": row["purged_at"],  # retention took its body (db.retention)
        "pricing": _pricing(row),
        "created_at": row["created_at"],
        "timeline": timeline,
        "hub_events": await _events(conn, row["id"], []),
    }


async def _events(
    conn: asyncpg.Connection, message_id: UUID | None, ids: list[str]
) -> list[dict[str, Any]]:
    events = await hub_events.about_message(conn, message_id, ids)
    return await with_deliveries(conn, [dict(e) for e in events])


async def with_deliveries(
    conn: asyncpg.Connection | asyncpg.Pool, events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each event with every POST of it (`deliveries`): `attempts` counts them all,
    `schedule_attempts` those of its current retry schedule (which a replay starts afresh;
    the retries follow it)."""
    made: dict[str, list[dict[str, Any]]] = {e["id"]: [] for e in events}
    for a in await hub_events.attempts_of(conn, list(made)):
        made[a["event_id"]].append(
            {k: a[k] for k in ("attempted_at", "status_code", "latency_ms", "error")}
        )
    for e in events:
        e["deliveries"] = made[e["id"]]
        e["schedule_attempts"], e["attempts"] = e["attempts"], len(e["deliveries"])
    return events


def render(r: dict[str, Any]) -> str:
    """The report as an operator reads it at 3 a.m.: facts first, then the story."""
    if r["direction"] == "inbound":
        pairs = [("wamid", r["wamid"]), ("from", r["sender"]), ("name", r["profile_name"])]
        pairs += [("user id", r["sender_user_id"]), ("username", r["username"])]
        pairs += [("type", r["type"]), ("sent at", when(r["sent_at"]))]
        pairs += [("received at", when(r["received_at"]))]
        out = [f"inbound message {r['wamid']}", facts(pairs)]
    else:
        pairs = [(_LABELS.get(k, k), r[k]) for k in _FIELDS]
        pairs += [("error", _error(r["error"])), ("retrying", _retrying(r))]
        pairs += [("claim", _claim(r)), ("pricing", _priced(r["pricing"])), ("body", _body(r))]
        out = [f"message {r['id']} (outbound)", facts(pairs)]
        out += ["", "timeline"]
        rows = [(when(t["at"]), t["status"], t["source"]) for t in r["timeline"]]
        out.append(table(("AT", "STATUS", "SOURCE"), rows, "  "))
        if r["dead_letters"]:
            out += ["", f"dead-letter entries naming it ({len(r['dead_letters'])})"]
            rows = [
                (d["stream"], d["id"], when(d["failed_at"]), d["error"]) for d in r["dead_letters"]
            ]
            out.append(table(("STREAM", "ENTRY", "FAILED AT", "ERROR"), rows, "  "))
    out += ["", f"hub events ({len(r['hub_events'])})"]
    for e in r["hub_events"]:
        about = f" ({e['about']})" if e["about"] else ""
        line = f"  {e['id']}  {e['type']}{about}  {e['status']}  attempts={e['attempts']}"
        if e["schedule_attempts"] != e["attempts"]:
            line += f" ({e['schedule_attempts']} in its current retry schedule)"
        if e["next_attempt_at"] and e["status"] == "pending":
            line += f"  next={when(e['next_attempt_at'])}"
        out.append(line + (f"  last_error={e['last_error']}" if e["last_error"] else ""))
        rows = [
            (when(a["attempted_at"]), a["status_code"], duration(a["latency_ms"]), a["error"])
            for a in e["deliveries"]
        ]
        if rows:
            out.append(table(("ATTEMPTED AT", "HTTP", "LATENCY", "ERROR"), rows, "      "))
    return "\n".join(out)


def _error(error: dict[str, Any] | None) -> str:
    if not error:
        return "-"
    return " ".join(cell(error.get(k)) for k in ("code", "title") if error.get(k) is not None)


def _claim(r: dict[str, Any]) -> str:
    """Who holds a `sending` message, and whether its Meta call may have left."""
    if r["status"] != "sending":
        return "-"
    if r["left_at"]:
        return f"{r['claimed_by']}; its Meta call may have left at {when(r['left_at'])}"
    return f"{r['claimed_by']}; its Meta call has not started"


def _pricing(row: Any) -> dict[str, Any] | None:
    """What Meta's statuses said the message costs (db.statuses), None before any did."""
    if row["priced_at"] is None:
        return None
    return {
        "billable": row["pricing_billable"],
        "model": row["pricing_model"],
        "type": row["pricing_type"],
        "category": row["pricing_category"],
        "at": row["priced_at"],
    }


def _priced(p: dict[str, Any] | None) -> str:
    if p is None:
        return "- (no status priced it yet)"
    billable = "billable" if p["billable"] else "free"
    return f"{billable}, {p['category']} ({p['type']}, {p['model']}) since {when(p['at'])}"


def _body(r: dict[str, Any]) -> str:
    if not r["purged_at"]:
        return "kept"
    days = (r["purged_at"] - r["created_at"]).days
    return f"purged at {when(r['purged_at'])}, {days} days after it was created (retention)"


def _retrying(r: dict[str, Any]) -> str:
    if r["status"] != "queued" or not r["next_attempt_at"]:
        return "-"
    return f"next attempt {when(r['next_attempt_at'])} after {_error(r['last_error'])}"


def render_foreign(rows: list[dict[str, Any]]) -> str:
    """Statuses that changed no message of ours (an unknown wamid, or a webhook whose number or
    recipient is not the message's): held (matched again) or foreign."""
    lines = [
        (r["wamid"], r["status"], r["phone_number_id"], when(r["received_at"]),
         when(r["foreign_at"]) if r["foreign_at"] else f"held until {when(r['hold_until'])}")
        for r in rows
    ]  # fmt: skip
    heads = ("WAMID", "STATUS", "NUMBER", "RECEIVED AT", "FOREIGN SINCE")
    title = f"statuses that changed no message of ours ({len(rows)})"
    return "\n".join([title, table(heads, lines, "  ")])
