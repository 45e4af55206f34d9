"""The webhook path: Meta's verified POST bodies -> statuses and inbound messages -> outbox.

A batch of stream entries (each one of Meta's POSTs, each with many statuses and messages)
is parsed and recorded in one transaction. Statuses find their message by our id, which we
send as `biz_opaque_callback_data`, or else by wamid; a status for a message we never sent
is logged and skipped.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from consumers import events
from consumers.meta_events import MalformedWebhook, Notification, StatusUpdate, parse_webhook
from consumers.runner import Consumer, Entry
from db import messages
from db.inbound import NewInbound
from db.messages import StatusChange
from server.constants import WEBHOOK_PROCESSORS_GROUP, WEBHOOKS_STREAM

logger = logging.getLogger("consumers.webhooks")


async def handle(ctx: Any, entries: list[Entry]) -> dict[str, str]:
    parsed: list[Notification] = []
    malformed: dict[str, str] = {}
    for e in entries:
        try:
            parsed.append(parse_webhook(e.fields.get("body", "")))
        except MalformedWebhook as exc:
            malformed[e.id] = f"malformed webhook: {exc}"
    updates = [s for n in parsed for s in n.statuses]
    received = [m for n in parsed for m in n.messages]
    for n in parsed:
        for other in n.others:
            logger.info("webhook change not handled yet field=%s", other.field)
    changes = await _changes(ctx, updates)
    inbound = [
        NewInbound(m.wamid, m.phone_number_id, m.sender, m.profile_name, m.type, m.timestamp, m.raw)
        for m in received
    ]
    if changes or inbound:
        await events.record(ctx, changes, inbound)
    return malformed


async def _changes(ctx: Any, updates: list[StatusUpdate]) -> list[StatusChange]:
    if not updates:
        return []
    async with ctx.pool.acquire() as conn:
        by_wamid = await messages.ids_by_wamid(
            conn, [u.wamid for u in updates if _our_id(u) is None]
        )
        # Callback data is only a claim; keep statuses of messages that are really ours.
        known = await messages.existing(
            conn, [i for u in updates if (i := _our_id(u) or by_wamid.get(u.wamid))]
        )
    changes = []
    for u in updates:
        message_id = _our_id(u) or by_wamid.get(u.wamid)
        if message_id not in known:
            logger.warning("status for unknown message wamid=%s status=%s", u.wamid, u.status)
            continue
        details = {
            k: v
            for k, v in (
                ("errors", u.errors),
                ("conversation", u.conversation),
                ("pricing", u.pricing),
            )
            if v
        }
        changes.append(
            StatusChange(
                message_id,
                u.status,
                u.timestamp,
                "meta",
                wamid=u.wamid,
                error=_error(u.errors[0]) if u.errors else None,
                details=details or None,
            )
        )
    return changes


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


# One POST may carry 1,000 statuses (~1.7 MB once parsed): 20 entries bound a batch's memory.
CONSUMER = Consumer("webhooks", WEBHOOKS_STREAM, WEBHOOK_PROCESSORS_GROUP, handle, batch_size=20)
