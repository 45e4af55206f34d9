"""Which message a status of Meta's is about, whether it may change it, and what becomes of one
we cannot place.

A status names our message by the callback data we sent (our id), else by its wamid; both
are only claims, so a status is applied only to a message that exists and only when it
passes the cross-check: its webhook's business number (`metadata.phone_number_id`) is the
message's, and its `recipient_id`, where Meta gives one (a BSUID user's status may have
none), names the message's recipient, and so do its `recipient_user_id` and
`recipient_parent_user_id` (`whatsapp.recipients`: Meta's wa_id can differ from the number
we sent to; a status of a message sent by BSUID alone has no `recipient_id`). A status that
names none of ours, or fails the check, is held (`db.held_statuses`) for STATUS_HOLD_S: the
sender's write of that wamid may be a moment behind Meta's webhook. The scheduler matches
held statuses again each pass (`retry_held`), with the same check; one still unmatched when
its hold runs out is kept as foreign, counted and logged with the reason, never forwarded.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from consumers import events, worker_metrics
from consumers.context import Context
from db import held_statuses, messages
from db.held_statuses import HeldStatus
from db.statuses import StatusChange
from whatsapp.errors import reason_for
from whatsapp.notifications import StatusUpdate, status_update
from whatsapp.recipients import Recipient

logger = logging.getLogger("consumers.status_matching")

# Why a status was not applied.
_NO_MESSAGE = "no message of ours has its wamid or id"
_NO_NUMBER = "its webhook names no business number"
_OTHER_NUMBER = "its webhook is from another business number than the message's"
_OTHER_RECIPIENT = "its recipient ids are not the message's recipient's"
_UNREADABLE = "it cannot be read as a status"


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A status that changes no message, and why."""

    update: StatusUpdate
    reason: str
    message_id: uuid.UUID | None = None  # the message it named, when that one exists

    def log_fields(self) -> dict[str, Any]:
        """Ids and the reason, never the message or the recipient."""
        return {
            "wamid": self.update.wamid,
            "message_status": self.update.status,
            "message_id": str(self.message_id) if self.message_id else None,
            "phone_number_id": self.update.phone_number_id,
            "reason": self.reason,
        }


async def match(
    ctx: Context, updates: list[StatusUpdate]
) -> tuple[list[StatusChange], list[Unmatched]]:
    """(the changes of the statuses that name a message of ours and pass the cross-check,
    the statuses that do not, each with why)."""
    if not updates:
        return [], []
    async with ctx.pool.acquire() as conn:
        by_wamid = await messages.ids_by_wamid(
            conn, [u.wamid for u in updates if _our_id(u) is None]
        )
        known = await messages.parties(
            conn, [i for u in updates if (i := _our_id(u) or by_wamid.get(u.wamid))]
        )
    changes, unmatched = [], []
    for u in updates:
        message_id = _our_id(u) or by_wamid.get(u.wamid)
        message = known.get(message_id)
        reason = _NO_MESSAGE if message is None else _mismatch(u, message)
        if reason is None:
            changes.append(_change(message_id, u))
        else:
            unmatched.append(Unmatched(u, reason, message_id if message else None))
    return changes, unmatched


def _mismatch(u: StatusUpdate, message: Any) -> str | None:
    """Why a status may not change the message it names; None when it may."""
    if u.phone_number_id is None:
        return _NO_NUMBER
    if u.phone_number_id != message["phone_number_id"]:
        return _OTHER_NUMBER
    recipient = Recipient.stored(message["recipient"], message["recipient_user_id"])
    if not (
        recipient.reported_as(wa_id=u.recipient_id, user_id=u.recipient_user_id)
        and recipient.reported_as(user_id=u.recipient_parent_user_id)
    ):
        return _OTHER_RECIPIENT
    return None


async def hold(ctx: Context, unmatched: list[Unmatched]) -> None:
    """Keep statuses that changed no message, to match them again for STATUS_HOLD_S."""
    until = datetime.now(UTC) + timedelta(seconds=ctx.settings.status_hold_s)
    rows = [
        HeldStatus(m.update.wamid, m.update.status, m.update.phone_number_id, m.update.raw, until)
        for m in unmatched
    ]
    if await held_statuses.hold(ctx.pool, rows):
        for m in unmatched:
            logger.info(
                "status held wamid=%s status=%s: %s",
                m.update.wamid,
                m.update.status,
                m.reason,
                extra=m.log_fields(),
            )


async def retry_held(ctx: Context) -> dict[str, int]:
    """Match held statuses again: record the ones that found their message, make the ones
    whose hold ran out foreign. Returns how many of each, for logs and tests."""
    rows = await held_statuses.waiting(ctx.pool)
    if not rows:
        return {"matched": 0, "foreign": 0}
    updates = {r["id"]: status_update(r["raw"], r["phone_number_id"]) for r in rows}
    readable = {i: u for i, u in updates.items() if u is not None}
    changes, unmatched = await match(ctx, list(readable.values()))
    if changes:
        await events.record(ctx, changes)
    why = {id(m.update): m for m in unmatched}
    await held_statuses.release(ctx.pool, [i for i, u in readable.items() if id(u) not in why])
    now = datetime.now(UTC)
    expired = {
        r["id"]: why.get(id(updates[r["id"]]))
        for r in rows
        if r["hold_until"] <= now and (updates[r["id"]] is None or id(updates[r["id"]]) in why)
    }
    for row in await held_statuses.make_foreign(ctx.pool, list(expired)):
        worker_metrics.FOREIGN_STATUSES.labels(row["status"]).inc()
        m = expired[row["id"]]
        reason = m.reason if m else _UNREADABLE
        fields = m.log_fields() if m else {"wamid": row["wamid"], "reason": reason}
        logger.warning(
            "foreign status wamid=%s status=%s: %s",
            row["wamid"],
            row["status"],
            reason,
            extra=fields,
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
        contact=u.contact(),
        user_id=u.recipient_user_id,  # kept on the message once known
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
        **reason_for(e.get("code")),
    }
