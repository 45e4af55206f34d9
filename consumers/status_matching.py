"""Which message a status of Meta's is about, and what becomes of one we cannot place.

A status names our message by the callback data we sent (our id), else by its wamid; the
callback data is only a claim, so a status counts only for a message that exists. A status
that names none of ours is held (`db.held_statuses`) for STATUS_HOLD_S: the sender's write
of that wamid may be a moment behind Meta's webhook. The scheduler matches held statuses
again each pass (`retry_held`); one still unmatched when its hold runs out is kept as
foreign, counted and logged, never forwarded.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from consumers import events, worker_metrics
from consumers.context import Context
from db import held_statuses, messages
from db.held_statuses import HeldStatus
from db.statuses import StatusChange
from whatsapp.notifications import StatusUpdate, status_update

logger = logging.getLogger("consumers.status_matching")


async def match(
    ctx: Context, updates: list[StatusUpdate]
) -> tuple[list[StatusChange], list[StatusUpdate]]:
    """(the changes of the statuses that name a message of ours, the statuses that do not)."""
    if not updates:
        return [], []
    async with ctx.pool.acquire() as conn:
        by_wamid = await messages.ids_by_wamid(
            conn, [u.wamid for u in updates if _our_id(u) is None]
        )
        known = await messages.existing(
            conn, [i for u in updates if (i := _our_id(u) or by_wamid.get(u.wamid))]
        )
    changes, unknown = [], []
    for u in updates:
        message_id = _our_id(u) or by_wamid.get(u.wamid)
        if message_id in known:
            changes.append(_change(message_id, u))
        else:
            unknown.append(u)
    return changes, unknown


async def hold(ctx: Context, updates: list[StatusUpdate]) -> None:
    """Keep statuses of unknown messages to match them again for STATUS_HOLD_S."""
    until = datetime.now(UTC) + timedelta(seconds=ctx.settings.status_hold_s)
    rows = [HeldStatus(u.wamid, u.status, u.phone_number_id, u.raw, until) for u in updates]
    if await held_statuses.hold(ctx.pool, rows):
        for u in updates:
            logger.info(
                "status held for an unknown message wamid=%s status=%s",
                u.wamid,
                u.status,
                extra={"wamid": u.wamid, "message_status": u.status},
            )


async def retry_held(ctx: Context) -> dict[str, int]:
    """Match held statuses again: record the ones that found their message, make the ones
    whose hold ran out foreign. Returns how many of each, for logs and tests."""
    rows = await held_statuses.waiting(ctx.pool)
    if not rows:
        return {"matched": 0, "foreign": 0}
    updates = {r["id"]: status_update(r["raw"], r["phone_number_id"]) for r in rows}
    readable = {i: u for i, u in updates.items() if u is not None}
    changes, unknown = await match(ctx, list(readable.values()))
    if changes:
        await events.record(ctx, changes)
    still = {id(u) for u in unknown}
    now = datetime.now(UTC)
    await held_statuses.release(ctx.pool, [i for i, u in readable.items() if id(u) not in still])
    expired = [
        r["id"]
        for r in rows
        if r["hold_until"] <= now and (updates[r["id"]] is None or id(updates[r["id"]]) in still)
    ]
    for row in await held_statuses.make_foreign(ctx.pool, expired):
        worker_metrics.FOREIGN_STATUSES.labels(row["status"]).inc()
        logger.warning(
            "foreign status: no message of ours has wamid=%s (status=%s)",
            row["wamid"],
            row["status"],
            extra={"wamid": row["wamid"], "message_status": row["status"]},
        )
    return {"matched": len(changes), "foreign": len(expired)}


def _change(message_id: uuid.UUID, u: StatusUpdate) -> StatusChange:
    details = {
        k: v
        for k, v in (("errors", u.errors), ("conversation", u.conversation), ("pricing", u.pricing))
        if v
    }
    return StatusChange(
        message_id,
        u.status,
        u.timestamp,
        "meta",
        wamid=u.wamid,
        error=_error(u.errors[0]) if u.errors else None,
        details=details or None,
    )


def _our_id(u: StatusUpdate) -> uuid.UUID | None:
    try:
        return uuid.UUID(u.callback_data) if u.callback_data else None
    except ValueError:
        return None


def _error(e: dict[str, Any]) -> dict[str, Any]:
    data = e.get("error_data")
    return {
        "code": e.get("code"),
        "title": e.get("title"),
        "message": e.get("message"),
        "details": data.get("details") if isinstance(data, dict) else None,
    }
