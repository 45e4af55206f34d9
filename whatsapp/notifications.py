"""Meta's WhatsApp webhook POST bodies, parsed into status updates and inbound messages.

One POST may carry several entries, each with several changes, each with many statuses
and messages (up to 1,000 statuses). Parsing is plain dict access on purpose: it runs on
the webhook-processor's hot path.

Leniency, so one odd object never costs the rest of the POST, and nothing raises:

- A body that is not JSON, not an object with an `entry` list, or nested too deep to read
  at all is one `OtherChange("invalid_body", {"reason": ..., "item": {"bytes", "sha256",
  "head"}})`: its size, hash and first 1,000 bytes (`whatsapp.holdable`).
- A status without `id` / `status` / `timestamp`, or a message without `id` / `from` /
  `type` / `timestamp`, is skipped and reported in `others` as `invalid_status` /
  `invalid_message`; an entry or change of the wrong shape as `invalid_entry` /
  `invalid_change`. Their value is `{"reason": ..., "item": <the object as received>}`.
- An item that cannot be held (nested deeper than `MAX_DEPTH` levels, a number out of
  range) is reported the same way, with only its top-level strings, numbers and booleans as
  `item`; its neighbours go through. Items are checked one by one only when the whole POST
  cannot be held, so a normal POST pays for one check.
- A timestamp that is present but unparsable becomes the parse time (UTC), so the update
  still applies; its `raw` keeps Meta's value.
- A change whose `field` is not `messages` (template status, account and phone number
  updates, any field Meta adds) is kept whole as `OtherChange(field, value, entry_id,
  time)`; a `value.errors` array (Meta could not deliver an inbound message to us) as
  `OtherChange("errors", {"metadata": ..., "errors": [...]})`.
- A message of a type we do not know is kept, with `content = message.get(type)`.
- Text PostgreSQL and JSON cannot hold is cleaned, not refused: a NUL character, a lone
  UTF-16 surrogate (`"\\ud83d"`) or bytes that are not UTF-8, anywhere in the POST, become
  U+FFFD, so the item that holds them and its neighbours all go through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from whatsapp import holdable
from whatsapp.holdable import MAX_DEPTH

__all__ = [
    "ERRORS_FIELD",
    "INVALID_BODY",
    "INVALID_CHANGE",
    "INVALID_ENTRY",
    "INVALID_KINDS",
    "INVALID_MESSAGE",
    "INVALID_STATUS",
    "MAX_DEPTH",
    "UNSTORABLE_ITEM",
    "InboundMessage",
    "Notification",
    "OtherChange",
    "StatusUpdate",
    "parse_webhook",
    "status_update",
]

MESSAGES_FIELD = "messages"
ERRORS_FIELD = "errors"
INVALID_BODY = "invalid_body"  # the POST as a whole could not be used
INVALID_ENTRY = "invalid_entry"
INVALID_CHANGE = "invalid_change"
INVALID_STATUS = "invalid_status"
INVALID_MESSAGE = "invalid_message"
# An item that parsed but could not be stored (the webhook processor says why).
UNSTORABLE_ITEM = "unstorable_item"
INVALID_KINDS = frozenset(
    {INVALID_BODY, INVALID_ENTRY, INVALID_CHANGE, INVALID_STATUS, INVALID_MESSAGE, UNSTORABLE_ITEM}
)


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """One entry of `value.statuses`: what became of a message we sent."""

    wamid: str
    status: str
    timestamp: datetime
    recipient_id: str | None
    callback_data: str | None
    errors: list[dict]
    conversation: dict | None
    pricing: dict | None
    phone_number_id: str | None
    raw: dict


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One entry of `value.messages`: a WhatsApp user wrote to us."""

    wamid: str
    sender: str
    profile_name: str | None
    type: str
    timestamp: datetime
    content: Any  # Meta's object under the type's key (a list for `contacts`), or None
    context: dict | None
    phone_number_id: str | None
    raw: dict


@dataclass(frozen=True, slots=True)
class OtherChange:
    """A change that is not a status or a message, or an item we could not read: kept whole
    so it can be stored and forwarded rather than lost."""

    field: str
    value: dict
    entry_id: str | None = None  # the WhatsApp Business Account id of the entry
    time: int | None = None  # the entry's `time` (unix seconds), when Meta sends one


@dataclass(frozen=True, slots=True)
class Notification:
    """Everything one POST carried, in the order Meta sent it."""

    statuses: list[StatusUpdate]
    messages: list[InboundMessage]
    others: list[OtherChange]


def parse_webhook(body: bytes | str | dict) -> Notification:
    """Turn one webhook POST into typed updates, keeping whatever it cannot type in `others`;
    never raises."""
    try:
        entries = _entries(body)
    except holdable.Unusable as exc:
        value = {"reason": str(exc), "item": holdable.body_summary(body)}
        return Notification([], [], [OtherChange(INVALID_BODY, value)])
    parser = _Parser(careful=holdable.problem(entries) is not None)
    for entry in entries:
        parser.entry_id, parser.time = _entry_id_and_time(entry)
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            parser.invalid(INVALID_ENTRY, "entry has no 'changes' list", entry)
            continue
        for change in changes:
            parser.change(change)
    return Notification(parser.statuses, parser.messages, parser.others)


def status_update(status: dict, phone_number_id: str | None) -> StatusUpdate | None:
    """One `value.statuses` object as a `StatusUpdate` (None when it is not a valid one):
    how a status kept as received (a held one) is read again."""
    parser = _Parser()
    parser._status(status, phone_number_id)
    return parser.statuses[0] if parser.statuses else None


_JSON_NAMES = {list: "array", str: "string", bool: "boolean", type(None): "null"}


def _entries(body: bytes | str | dict) -> list:
    payload = body if isinstance(body, dict) else holdable.load(body)
    if not isinstance(payload, dict):
        kind = _JSON_NAMES.get(type(payload), "number")
        raise holdable.Unusable(f"webhook body is a JSON {kind}, not an object")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise holdable.Unusable("webhook body has no 'entry' list")
    return entries


class _Parser:
    """Accumulates one POST's results; `now` is computed once, and only if needed."""

    __slots__ = ("_now", "careful", "entry_id", "messages", "others", "statuses", "time")

    def __init__(self, careful: bool = False) -> None:
        self.careful = careful  # the POST cannot be held whole: check each item
        self.statuses: list[StatusUpdate] = []
        self.messages: list[InboundMessage] = []
        self.others: list[OtherChange] = []
        self._now: datetime | None = None
        self.entry_id: str | None = None  # of the entry being parsed
        self.time: int | None = None

    def invalid(self, field: str, reason: str, item: Any) -> None:
        if self.unheld(field, item):
            return
        value = {"reason": reason, "item": item}
        self.others.append(OtherChange(field, value, self.entry_id, self.time))

    def unheld(self, field: str, item: Any) -> bool:
        """In a POST that cannot be held whole, an item that cannot be held is reported as
        `field` with the reason and only its top-level scalars; True when it was."""
        reason = holdable.problem(item) if self.careful else None
        if reason is not None:
            value = {"reason": reason, "item": holdable.scalars(item)}
            self.others.append(OtherChange(field, value, self.entry_id, self.time))
        return reason is not None

    def change(self, change: Any) -> None:
        field = change.get("field") if isinstance(change, dict) else None
        value = change.get("value") if isinstance(change, dict) else None
        if not isinstance(field, str) or not isinstance(value, dict):
            self.invalid(INVALID_CHANGE, "change needs a string 'field' and object 'value'", change)
            return
        if field != MESSAGES_FIELD:
            if not self.unheld(INVALID_CHANGE, change):
                self.others.append(OtherChange(field, value, self.entry_id, self.time))
            return
        metadata = value.get("metadata")
        phone_number_id = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
        if not isinstance(phone_number_id, str):
            phone_number_id = None
        statuses = self._list(value, "statuses", change)
        messages = self._list(value, "messages", change)
        errors = self._list(value, "errors", change)
        for status in statuses:
            self._status(status, phone_number_id)
        if messages:
            names, only_name = _profile_names(value.get("contacts"))
            for message in messages:
                self._message(message, phone_number_id, names, only_name)
        failed = {"metadata": metadata, "errors": errors}
        if errors and not self.unheld(INVALID_CHANGE, failed):
            self.others.append(OtherChange(ERRORS_FIELD, failed, self.entry_id, self.time))

    def _list(self, value: dict, key: str, change: dict) -> list:
        items = value.get(key)
        if items is None or isinstance(items, list):
            return items or []
        self.invalid(INVALID_CHANGE, f"value.{key} is not a list", change)
        return []

    def _status(self, status: Any, phone_number_id: str | None) -> None:
        if self.unheld(INVALID_STATUS, status):
            return
        if not isinstance(status, dict):
            self.invalid(INVALID_STATUS, "status is not an object", status)
            return
        wamid = status.get("id")
        state = status.get("status")
        ts = status.get("timestamp")
        if not (_text(wamid) and _text(state)):
            self.invalid(INVALID_STATUS, "status needs string 'id' and 'status'", status)
            return
        if ts is None:
            self.invalid(INVALID_STATUS, "status has no 'timestamp'", status)
            return
        errors = status.get("errors")
        errors = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
        recipient_id = status.get("recipient_id")
        callback_data = status.get("biz_opaque_callback_data")
        conversation = status.get("conversation")
        pricing = status.get("pricing")
        self.statuses.append(
            StatusUpdate(
                wamid=wamid,
                status=state,
                timestamp=self._time(ts),
                recipient_id=recipient_id if isinstance(recipient_id, str) else None,
                callback_data=callback_data if isinstance(callback_data, str) else None,
                errors=errors,
                conversation=conversation if isinstance(conversation, dict) else None,
                pricing=pricing if isinstance(pricing, dict) else None,
                phone_number_id=phone_number_id,
                raw=status,
            )
        )

    def _message(
        self,
        message: Any,
        phone_number_id: str | None,
        names: dict[str, str],
        only_name: str | None,
    ) -> None:
        if self.unheld(INVALID_MESSAGE, message):
            return
        if not isinstance(message, dict):
            self.invalid(INVALID_MESSAGE, "message is not an object", message)
            return
        wamid = message.get("id")
        sender = message.get("from")
        kind = message.get("type")
        ts = message.get("timestamp")
        if not (_text(wamid) and _text(sender) and _text(kind)):
            self.invalid(INVALID_MESSAGE, "message needs string 'id', 'from' and 'type'", message)
            return
        if ts is None:
            self.invalid(INVALID_MESSAGE, "message has no 'timestamp'", message)
            return
        content = message.get(kind)
        context = message.get("context")
        # Meta warns that a user's wa_id and phone number may not match; with a single
        # contact in the change, that contact is the sender.
        name = names.get(sender, only_name)
        self.messages.append(
            InboundMessage(
                wamid=wamid,
                sender=sender,
                profile_name=name,
                type=kind,
                timestamp=self._time(ts),
                content=content,
                context=context if isinstance(context, dict) else None,
                phone_number_id=phone_number_id,
                raw=message,
            )
        )

    def _time(self, ts: Any) -> datetime:
        # Meta sends unix seconds as a string; an int is accepted too. Anything else falls
        # back to the parse time so the update still applies (raw keeps Meta's value).
        try:
            if isinstance(ts, str) or (isinstance(ts, int) and not isinstance(ts, bool)):
                return datetime.fromtimestamp(int(ts), UTC)
        except (ValueError, OverflowError, OSError):
            pass
        if self._now is None:
            self._now = datetime.now(UTC)
        return self._now


def _entry_id_and_time(entry: Any) -> tuple[str | None, int | None]:
    if not isinstance(entry, dict):
        return None, None
    entry_id = entry.get("id")
    time = entry.get("time")
    return (
        entry_id if isinstance(entry_id, str) else None,
        time if isinstance(time, int) and not isinstance(time, bool) else None,
    )


def _text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _profile_names(contacts: Any) -> tuple[dict[str, str], str | None]:
    """Map wa_id -> profile name, plus the name of the only contact when there is just one."""
    names: dict[str, str] = {}
    if not isinstance(contacts, list):
        return names, None
    name = None
    for contact in contacts:
        profile = contact.get("profile") if isinstance(contact, dict) else None
        name = profile.get("name") if isinstance(profile, dict) else None
        if isinstance(name, str):
            wa_id = contact.get("wa_id")
            if isinstance(wa_id, str):
                names[wa_id] = name
        else:
            name = None
    return names, name if len(contacts) == 1 else None
