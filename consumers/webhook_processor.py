"""The webhook path: Meta's verified POST bodies -> statuses, inbound messages and other
changes -> outbox.

A batch of stream entries (each one of Meta's POSTs, each with many statuses and messages)
is parsed and recorded in one transaction. Statuses find their message by our id, which we
send as `biz_opaque_callback_data`, or else by wamid, and count only when their webhook's
number and recipient are the message's (`consumers.status_matching`); any other status is
held and matched again, then kept as foreign. Every other change (template status, account
updates, any field Meta adds) and every item the parser could not read is stored and
forwarded, never lost: a body it cannot use at all reaches the Hub as `webhook.unparsed`
like any other unreadable item, so no entry is dead-lettered for what it holds.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from consumers import events, status_matching, templates, worker_metrics
from consumers.context import Context
from consumers.events import Changes
from consumers.runner import Consumer, Entry
from core import logs
from core.failures import TRANSIENT
from core.names import TEMPLATE_STATUS_FIELD, WEBHOOK_PROCESSORS_GROUP, webhook_streams
from db.inbound import NewInbound
from db.statuses import StatusChange
from db.webhook_changes import NewChange
from hub.events import new_change
from whatsapp.id_changes import IdChange
from whatsapp.notifications import INVALID_KINDS, UNSTORABLE_ITEM, Notification, parse_webhook

logger = logging.getLogger("consumers.webhook_processor")
T = TypeVar("T")


async def handle(ctx: Context, entries: list[Entry], stream: str = "") -> dict[str, str]:
    """Parse, match, store and queue one batch; nothing to dead-letter (`{}`): a body that
    cannot be used is forwarded as `webhook.unparsed` like an item that cannot."""
    # Each batch runs in a task of its own: its lines name the Meta POSTs (entries) they
    # came from, which the web's access line of each POST names too.
    logs.bind(stream=stream, entry_ids=[e.id for e in entries])
    parsed = [parse_webhook(e.fields.get("body", "")) for e in entries]  # never raises
    worker_metrics.count_webhook(parsed)
    changes, unknown = await status_matching.match(ctx, [s for n in parsed for s in n.statuses])
    if unknown:  # the sender's write may be a moment late: match them again for a while
        await status_matching.hold(ctx, unknown)
    inbound = inbound_rows(parsed)
    others = change_rows(parsed)
    id_changes = [c for n in parsed for c in n.id_changes]
    for c in others:
        if c.field in INVALID_KINDS:
            logger.warning(
                "unreadable webhook item kind=%s event=%s", c.field, c.id, extra={"event_id": c.id}
            )
    if changes or inbound or others or id_changes:
        try:
            await events.record(ctx, changes, inbound, others, id_changes)
        except TRANSIENT:
            raise
        except Exception:  # one item PostgreSQL refuses must not cost its neighbours
            await _record_one_by_one(ctx, changes, inbound, others, id_changes)
    if any(c.field == TEMPLATE_STATUS_FIELD for c in others):  # forwarded above, as any change
        await templates.sync_wanted(ctx)
    return {}


async def _record_one_by_one(
    ctx: Context,
    changes: list[StatusChange],
    inbound: list[NewInbound],
    others: list[NewChange],
    id_changes: Sequence[IdChange] = (),
) -> None:
    """Each item alone; one that still fails goes to the Hub as `webhook.unparsed`, named
    by its ids and the reason (never its content: that is what could not be stored)."""
    items = [
        *(
            (Changes(statuses=[c]), {"kind": "status", "message_id": str(c.message_id)})
            for c in changes
        ),
        *((Changes(received=[m]), {"kind": "message", "wamid": m.wamid}) for m in inbound),
        *((Changes(others=[c]), {"kind": "change", "field": c.field, "id": c.id}) for c in others),
        *((Changes(id_changes=[c]), {"kind": "id_change", "wamid": c.wamid}) for c in id_changes),
    ]
    for one, ids in items:
        try:
            await events.record(ctx, one.statuses, one.received, one.others, one.id_changes)
        except TRANSIENT:
            raise
        except Exception as exc:
            reason = f"could not be stored: {type(exc).__name__}: {str(exc)[:300]}"
            logger.warning("unstorable webhook item %s: %s", ids, reason, extra=ids)
            change = new_change(UNSTORABLE_ITEM, {"reason": reason, "item": ids}, None, None)
            await events.record(ctx, others=[change])


def inbound_rows(parsed: list[Notification]) -> list[NewInbound]:
    """Inbound messages to store, once per wamid even when Meta's retry is in the batch."""
    rows = (
        NewInbound(
            m.wamid,
            m.phone_number_id,
            m.sender,
            m.profile_name,
            m.type,
            m.timestamp,
            m.raw,
            m.user_id,
            m.parent_user_id,
            m.username,
        )
        for n in parsed
        for m in n.messages
    )
    return _first_of_each(rows, lambda m: m.wamid)


def change_rows(parsed: list[Notification]) -> list[NewChange]:
    """Other changes to store, once per content-derived id."""
    rows = (new_change(o.field, o.value, o.entry_id, o.time) for n in parsed for o in n.others)
    return _first_of_each(rows, lambda c: c.id)


def _first_of_each(items: Iterable[T], key: Callable[[T], str]) -> list[T]:
    first: dict[str, T] = {}
    for item in items:
        first.setdefault(key(item), item)
    return list(first.values())


# One POST may carry 1,000 statuses (~1.7 MB once parsed): 20 entries bound a batch's memory.
def consumers(shards: int = 1) -> list[Consumer]:
    """One consumer per shard of the webhook stream (STREAM_SHARDS)."""
    return [
        Consumer(
            "webhooks",
            s,
            WEBHOOK_PROCESSORS_GROUP,
            functools.partial(handle, stream=s),
            batch_size=20,
        )
        for s in webhook_streams(shards)
    ]
