"""Meta's WhatsApp webhook POST bodies, parsed into status updates and inbound messages.

One POST may carry several entries, each with several changes, each with many statuses
and messages (up to 1,000 statuses). Parsing is plain dict access on purpose: it runs on
the webhook-processor's hot path.

Leniency, so one odd object never costs the rest of the POST, and nothing raises:

- A body that is not JSON, not an object with an `entry` list, or nested too deep to read
  at all is one `OtherChange("invalid_body", {"reason": ..., "item": {"bytes", "sha256",
  "head"}})`: its size, hash and first 1,000 bytes (`whatsapp.holdable`).
- A status without `id` / `status` / `timestamp`, or a message without `id` / `type` /
  `timestamp` or without a sender (`from`, the phone number, or `from_user_id`, the BSUID
  Meta gives alone when the user's number is withheld), is skipped and reported in
  `others` as `invalid_status` / `invalid_message`; an entry or change of the wrong shape
  as `invalid_entry` / `invalid_change`. Their value is `{"reason": ..., "item": <the
  object as received>}`.
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
- A user's identifiers: a message's sender and a status's recipient are named by phone
  number (`from`, `recipient_id`), BSUID (`from_user_id`, `recipient_user_id`) and parent
  BSUID, each where Meta gives it; the change's `contacts[]` (matched by `wa_id` or
  `user_id`) adds the profile name, the username and the ids the item left out. A system
  message saying a user's number or BSUID changed, and each item of a `user_id_update`
  change, is an `IdChange` (`whatsapp.id_changes`), not a message.
- Text PostgreSQL and JSON cannot hold is cleaned, not refused: a NUL character, a lone
  UTF-16 surrogate (`"\\ud83d"`) or bytes that are not UTF-8, anywhere in the POST, become
  U+FFFD, so the item that holds them and its neighbours all go through.

The items' types live in `whatsapp.webhook_items`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from whatsapp import holdable, id_changes
from whatsapp.holdable import MAX_DEPTH
from whatsapp.id_changes import USER_ID_UPDATE_FIELD, IdChange
from whatsapp.webhook_items import (
    Contacts,
    InboundMessage,
    Notification,
    OtherChange,
    StatusUpdate,
    username,
)

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
    "IdChange",
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
    return Notification(parser.statuses, parser.messages, parser.others, parser.id_changes)


def status_update(status: dict, phone_number_id: str | None) -> StatusUpdate | None:
    """One `value.statuses` object as a `StatusUpdate` (None when it is not a valid one):
    how a status kept as received (a held one) is read again."""
    parser = _Parser()
    parser._status(status, phone_number_id, Contacts(None))
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

    __slots__ = (
        "_now",
        "careful",
        "entry_id",
        "id_changes",
        "messages",
        "others",
        "statuses",
        "time",
    )

    def __init__(self, careful: bool = False) -> None:
        self.careful = careful  # the POST cannot be held whole: check each item
        self.statuses: list[StatusUpdate] = []
        self.messages: list[InboundMessage] = []
        self.others: list[OtherChange] = []
        self.id_changes: list[IdChange] = []
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
        if field == USER_ID_UPDATE_FIELD and self._user_id_update(value):
            return
        if field != MESSAGES_FIELD:
            if not self.unheld(INVALID_CHANGE, change):
                self.others.append(OtherChange(field, value, self.entry_id, self.time))
            return
        phone_number_id = _phone_number_id(value)
        statuses = self._list(value, "statuses", change)
        messages = self._list(value, "messages", change)
        errors = self._list(value, "errors", change)
        contacts = Contacts(value.get("contacts") if statuses or messages else None)
        for status in statuses:
            self._status(status, phone_number_id, contacts)
        for message in messages:
            self._message(message, phone_number_id, contacts)
        failed = {"metadata": value.get("metadata"), "errors": errors}
        if errors and not self.unheld(INVALID_CHANGE, failed):
            self.others.append(OtherChange(ERRORS_FIELD, failed, self.entry_id, self.time))

    def _list(self, value: dict, key: str, change: dict) -> list:
        items = value.get(key)
        if items is None or isinstance(items, list):
            return items or []
        self.invalid(INVALID_CHANGE, f"value.{key} is not a list", change)
        return []

    def _user_id_update(self, value: dict) -> bool:
        """A `user_id_update` change as id changes; False (keep it whole) when none reads."""
        items = value.get(USER_ID_UPDATE_FIELD)
        if not isinstance(items, list) or self.unheld(INVALID_CHANGE, value):
            return False
        phone_number_id = _phone_number_id(value)
        read = []
        for item in items:
            ts = item.get("timestamp") if isinstance(item, dict) else None
            at = self._time(ts if ts is not None else self.time)
            read.append(id_changes.from_update_item(item, phone_number_id, at))
        if not read or None in read:
            return False
        self.id_changes += read  # type: ignore[arg-type]
        return True

    def _status(self, status: Any, phone_number_id: str | None, contacts: Contacts) -> None:
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
        recipient_id = _str(status.get("recipient_id"))
        user_id = _str(status.get("recipient_user_id"))
        contact = contacts.of(recipient_id, user_id, only=False)
        callback_data = status.get("biz_opaque_callback_data")
        conversation = status.get("conversation")
        pricing = status.get("pricing")
        self.statuses.append(
            StatusUpdate(
                wamid=wamid,
                status=state,
                timestamp=self._time(ts),
                recipient_id=recipient_id,
                callback_data=callback_data if isinstance(callback_data, str) else None,
                errors=errors,
                conversation=conversation if isinstance(conversation, dict) else None,
                pricing=pricing if isinstance(pricing, dict) else None,
                phone_number_id=phone_number_id,
                raw=status,
                recipient_user_id=user_id or _str(contact.get("user_id")),
                recipient_parent_user_id=_str(status.get("recipient_parent_user_id"))
                or _str(contact.get("parent_user_id")),
                username=username(contact),
            )
        )

    def _message(self, message: Any, phone_number_id: str | None, contacts: Contacts) -> None:
        if self.unheld(INVALID_MESSAGE, message):
            return
        if not isinstance(message, dict):
            self.invalid(INVALID_MESSAGE, "message is not an object", message)
            return
        wamid = message.get("id")
        sender = _str(message.get("from"))
        user_id = _str(message.get("from_user_id"))
        kind = message.get("type")
        ts = message.get("timestamp")
        # An id change names the user in its `system` object: it needs no sender.
        if kind == "system" and _text(wamid) and ts is not None:
            change = id_changes.from_system_message(message, phone_number_id, self._time(ts))
            if change is not None:
                self.id_changes.append(change)
                return
        if not (_text(wamid) and (sender or user_id) and _text(kind)):
            reason = "message needs string 'id', 'type' and 'from' or 'from_user_id'"
            self.invalid(INVALID_MESSAGE, reason, message)
            return
        if ts is None:
            self.invalid(INVALID_MESSAGE, "message has no 'timestamp'", message)
            return
        content = message.get(kind)
        context = message.get("context")
        contact = contacts.of(sender, user_id)
        profile = contact.get("profile")
        name = profile.get("name") if isinstance(profile, dict) else None
        self.messages.append(
            InboundMessage(
                wamid=wamid,
                sender=sender,
                profile_name=name if isinstance(name, str) else None,
                type=kind,
                timestamp=self._time(ts),
                content=content,
                context=context if isinstance(context, dict) else None,
                phone_number_id=phone_number_id,
                raw=message,
                user_id=user_id or _str(contact.get("user_id")),
                parent_user_id=_str(message.get("from_parent_user_id"))
                or _str(contact.get("parent_user_id")),
                username=username(contact),
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


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _phone_number_id(value: dict) -> str | None:
    metadata = value.get("metadata")
    number = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
    return number if isinstance(number, str) else None
