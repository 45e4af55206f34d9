"""The outbox: state changes and the Hub events describing them, written together.

`record()` is the single place where state changes and their Hub events (built by
`hub.events` to `hub.contract`) are written, in one transaction, then published to the hub
stream. Event ids are derived from what they describe, so replaying the same input can
never create a second event.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from consumers import preferences, retries, worker_metrics
from core import broker
from core.batcher import Batcher
from core.failures import TRANSIENT
from core.names import (
    FAILED,
)
from core.settings import Settings
from db import (
    contacts,
    hub_events,
    inbound,
    marketing_preferences,
    messages,
    service_windows,
    statuses,
    webhook_changes,
)
from db.contacts import Sighting
from db.hub_events import HubEvent, event_id
from db.inbound import NewInbound
from db.statuses import StatusChange
from db.webhook_changes import NewChange
from hub.events import (
    change_event,
    id_change_event,
    id_change_event_id,
    preferences_event,
    received_event,
    status_event,
)
from whatsapp.errors import OUTSIDE_WINDOW_CODE
from whatsapp.id_changes import IdChange


class Outbox(Protocol):
    """What `record()` writes through: the worker's context (`consumers.context`) is one."""

    pool: asyncpg.Pool
    redis: broker.Client
    settings: Settings
    writes: Batcher[Changes, list[HubEvent]]


logger = logging.getLogger("consumers.events")


@dataclass(frozen=True, slots=True)
class Changes:
    """What one batch hands to `record()`: status changes, inbound messages, other changes,
    users' id changes."""

    statuses: Sequence[StatusChange] = ()
    received: Sequence[NewInbound] = ()
    others: Sequence[NewChange] = ()
    id_changes: Sequence[IdChange] = ()

    def event_ids(self) -> list[str]:
        """The ids of the events these changes would make (each only once)."""
        ids = [event_id(str(c.message_id), c.status) for c in self.statuses]
        ids += [event_id("inbound", m.wamid) for m in self.received]
        ids += [c.id for c in self.others]
        return list(dict.fromkeys(ids + [id_change_event_id(c) for c in self.id_changes]))


async def record(
    ctx: Outbox,
    changes: Sequence[StatusChange] = (),
    received: Sequence[NewInbound] = (),
    others: Sequence[NewChange] = (),
    id_changes: Sequence[IdChange] = (),
    *,
    only_while_sending: bool = False,
) -> list[HubEvent]:
    """Apply status changes, store inbound messages and other changes, queue their Hub
    events, publish; return the new events.

    The write joins the process's next group commit (`ctx.writes`), so concurrent batches
    never wait on each other's row locks. The sweeper's verdicts (`only_while_sending`) are
    written alone: they apply only to messages still `sending` when their transaction locks
    them. A crash after the commit but before the publish loses nothing: the sweeper
    publishes outbox rows that stayed unpublished.
    """
    if not changes and not received and not others and not id_changes:
        return []
    part = Changes(changes, received, others, id_changes)
    if only_while_sending:
        [events] = await write(ctx, [part], only_while_sending=True)
    else:
        events = await ctx.writes.submit(part)
    if events:
        # Committed: a failed publish must not fail the batch (a retried batch finds these
        # changes applied and makes no new events). Retry here; the sweeper is the last net.
        async for attempt in retries.until_stored(patience_s=30):
            with attempt:
                await broker.publish_hub_events(ctx.redis, events, ctx.settings.stream_shards)
        _log_queued(events)
    return events


async def write(
    ctx: Outbox, parts: list[Changes], *, only_while_sending: bool = False
) -> list[list[HubEvent]]:
    """One transaction for all parts; returns each part's new events (an event two parts
    would make goes to the first). Idempotent: writing a part again makes no new events."""
    changes = [c for p in parts for c in p.statuses]
    received = [m for p in parts for m in p.received]
    others = [c for p in parts for c in p.others]
    id_changes = [c for p in parts for c in p.id_changes]
    events: list[HubEvent] = []
    async with ctx.pool.acquire() as conn:
        # Read before the transaction: what events echo never changes, and every round trip
        # inside it holds row locks for one more turn of the event loop.
        known = await messages.contexts(conn, [c.message_id for c in changes]) if changes else {}
        async with conn.transaction():
            recorded = await statuses.record(conn, changes, only_while_sending=only_while_sending)
            applied = recorded.applied
            events += [status_event(c, known[c.message_id]) for c in applied]
            await service_windows.closed(conn, _windows_closed(applied, known))
            if received:
                new = await inbound.insert_many(conn, received)
                events += [received_event(m) for m in received if m.wamid in new]
                await service_windows.opened(
                    conn,
                    [(m.phone_number_id, m.key, m.sent_at) for m in received if m.phone_number_id],
                )
            events += [id_change_event(c) for c in id_changes]
            if others:
                new = await webhook_changes.insert_many(conn, others)
                events += [change_event(c) for c in others if c.id in new]
            stated = preferences.facts(applied, known, received, others)
            if stated:  # only what changed a stored preference makes an event
                changed = await marketing_preferences.record(conn, stated)
                events += [preferences_event(p) for p in changed]
            unique: dict[str, HubEvent] = {}
            for e in events:  # two parts may bring the same inbound message
                unique.setdefault(e.id, e)
            fresh = await hub_events.insert_many(conn, list(unique.values())) if unique else set()
            # Last: its lock (taken only when someone is new) is then the last one any
            # transaction waits for, so writers of people never deadlock on other rows.
            await contacts.seen(conn, _sightings(applied, known, received, id_changes))
    worker_metrics.count_statuses(applied)  # committed: a retried transaction counts once
    worker_metrics.count_billable(recorded.priced)
    made = {i: e for i, e in unique.items() if i in fresh}
    per_part = [[made.pop(i) for i in p.event_ids() if i in made] for p in parts]
    per_part[0] += made.values()  # events no part names beforehand (contact.preferences)
    return per_part


def _sightings(
    applied: Sequence[StatusChange],
    known: dict[uuid.UUID, Any],
    received: Sequence[NewInbound],
    id_changes: Sequence[IdChange],
) -> list[Sighting]:
    """What statuses, inbound messages and id changes revealed of the people they name, in
    that order (an id change is the newest news)."""
    seen = [
        Sighting(
            known[c.message_id]["phone_number_id"],
            c.contact.get("wa_id"),
            c.contact.get("user_id"),
            c.contact.get("parent_user_id"),
            c.contact.get("username"),
        )
        for c in applied
        if c.contact
    ]
    seen += [
        Sighting(m.phone_number_id, m.sender, m.user_id, m.parent_user_id, m.username)
        for m in received
        if m.phone_number_id
    ]
    seen += [
        Sighting(
            c.phone_number_id,
            c.wa_id,
            c.user_id,
            c.parent_user_id,
            previous=tuple(
                i for i in (c.previous_wa_id, c.previous_user_id, c.previous_parent_user_id) if i
            ),
        )
        for c in id_changes
        if c.phone_number_id
    ]
    return seen


def _windows_closed(
    applied: Sequence[StatusChange], known: dict[uuid.UUID, Any]
) -> list[tuple[str, str, datetime]]:
    """Meta's 131047 on a send (its answer or a `failed` status) closes the contact's window."""
    closing = [
        c
        for c in applied
        if c.status == FAILED and str((c.error or {}).get("code")) == str(OUTSIDE_WINDOW_CODE)
    ]
    return [
        (known[c.message_id]["phone_number_id"], known[c.message_id]["recipient"], c.occurred_at)
        for c in closing
    ]


def group_commit(ctx: Outbox) -> Batcher[Changes, list[HubEvent]]:
    """The group commit `record()` joins: one per process, kept on its context as `writes`.

    One transaction at a time writes every part submitted while the previous one ran, so
    nothing waits inside PostgreSQL on another transaction's row locks (a message's sent,
    delivered and read arrive 50 ms apart, from the sender and the webhook processor). A
    part that fails for a reason other than an outage is written alone, so it fails alone.
    """
    return Batcher(
        functools.partial(write, ctx),
        max_in_flight=1,
        max_batch=None,
        split_failures=True,
        shared_failures=TRANSIENT,
    )


def _log_queued(events: list[HubEvent]) -> None:
    """One line per new event, naming the message and wamid it is about: the link from a
    message's id to the Hub event ids in the logs."""
    if not logger.isEnabledFor(logging.INFO):
        return
    for e in events:
        data = e.payload.get("data", {})
        fields = {
            "event_id": e.id,
            "event_type": e.type,
            "message_id": str(e.message_id) if e.message_id else None,
            "wamid": data.get("wamid"),
            "message_status": data.get("status"),
        }
        logger.info("hub event queued event_id=%s type=%s", e.id, e.type, extra=fields)
