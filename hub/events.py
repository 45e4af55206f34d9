"""How each Hub event is built, from what the outbox writer stores (the contract, the models
these dicts follow, is `hub.contract`).

The outbox writer (`consumers.events`) builds each event with the builders below, from what
it stores in the same transaction (a status change and its message's row, an inbound
message, another webhook change). The builders make plain dicts, not models: they run for
every status on the worker's hot path. An event's id is derived from what it describes
(`db.hub_events.event_id`), so the same input never makes a second event.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from core.names import (
    EVENT_CONTACT_PREFERENCES,
    EVENT_CONTACT_USER_ID_CHANGED,
    EVENT_MESSAGE_RECEIVED,
    EVENT_MESSAGE_STATUS,
    EVENT_WEBHOOK_UNPARSED,
    EVENT_WHATSAPP_PREFIX,
)
from db.hub_events import HubEvent, event_id
from db.inbound import NewInbound
from db.marketing_preferences import Preference
from db.statuses import StatusChange
from db.webhook_changes import NewChange
from whatsapp.id_changes import IdChange
from whatsapp.inbound_types import normalise
from whatsapp.notifications import INVALID_KINDS
from whatsapp.recipients import Recipient


def status_event(change: StatusChange, message: Any) -> HubEvent:
    """`message.status`: a status `change` of `message` (its row: wamid, recipient, metadata,
    number)."""
    details = change.details or {}
    data = {
        "message_id": str(change.message_id),
        "wamid": change.wamid or message["wamid"],
        "status": change.status,
        "timestamp": change.occurred_at.isoformat(),
        **_recipient(change, message).hub_fields(),
        "phone_number_id": message["phone_number_id"],
        "error": change.error,
        "errors": details.get("errors"),
        "metadata": message["metadata"],
        "conversation": details.get("conversation"),
        "pricing": details.get("pricing"),
        "contact": change.contact,
    }
    return _event(
        EVENT_MESSAGE_STATUS,
        event_id(str(change.message_id), change.status),
        change.message_id,
        data,
    )


def _recipient(change: StatusChange, message: Any) -> Recipient:
    """The message's recipient, with the BSUID this change revealed (not yet on the row the
    event was built from)."""
    return Recipient.stored(message["recipient"], change.user_id or message["recipient_user_id"])


def received_event(m: NewInbound) -> HubEvent:
    """`message.received`: a message a WhatsApp user sent, its content normalised."""
    data = {
        "wamid": m.wamid,
        "from": m.sender,
        "user_id": m.user_id,
        "parent_user_id": m.parent_user_id,
        "username": m.username,
        "profile_name": m.profile_name,
        "type": m.type,
        "timestamp": m.sent_at.isoformat(),
        "phone_number_id": m.phone_number_id,
        **normalise(m.payload),
    }
    return _event(EVENT_MESSAGE_RECEIVED, event_id("inbound", m.wamid), None, data)


def id_change_event(c: IdChange) -> HubEvent:
    """`contact.user_id_changed`: a user's phone number or BSUID changed."""
    return _event(EVENT_CONTACT_USER_ID_CHANGED, id_change_event_id(c), None, c.hub_data())


def id_change_event_id(c: IdChange) -> str:
    """The system message's, else derived from everything the change says."""
    if c.wamid is not None:
        return event_id("id_change", c.wamid)
    content = orjson.dumps(c.hub_data(), option=orjson.OPT_SORT_KEYS).decode()
    return event_id("id_change", content)


def preferences_event(p: Preference) -> HubEvent:
    """`contact.preferences`: a stored change of a contact's marketing preference."""
    data = {
        "contact": p.contact,
        "phone_number_id": p.phone_number_id,
        "value": p.value,
        "timestamp": p.at.isoformat(),
        "source": p.source,
    }
    id_ = event_id("preferences", p.phone_number_id, p.contact, p.value, p.at.isoformat())
    return _event(EVENT_CONTACT_PREFERENCES, id_, None, data)


def new_change(
    field: str, value: dict[str, Any], entry_id: str | None, time: int | None
) -> NewChange:
    """A change to store, its id derived from everything Meta said (a replay maps to it)."""
    content = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    id_ = event_id("change", field, entry_id or "", "" if time is None else str(time), content)
    at = datetime.fromtimestamp(time, UTC) if time is not None and 0 <= time < 2**37 else None
    return NewChange(id_, field, entry_id, at, value)


def change_event(c: NewChange) -> HubEvent:
    """`whatsapp.<field>`, or `webhook.unparsed` for what the parser could not read."""
    type_ = EVENT_WEBHOOK_UNPARSED if c.field in INVALID_KINDS else EVENT_WHATSAPP_PREFIX + c.field
    data = {
        "field": c.field,
        "waba_id": c.entry_id,
        "time": c.entry_time.isoformat() if c.entry_time else None,
        "value": c.value,
    }
    return _event(type_, c.id, None, data)


def _event(type_: str, id_: str, message_id: uuid.UUID | None, data: dict[str, Any]) -> HubEvent:
    envelope = {"id": id_, "type": type_, "created_at": datetime.now(UTC).isoformat(), "data": data}
    return HubEvent(id=id_, type=type_, message_id=message_id, payload=envelope)
