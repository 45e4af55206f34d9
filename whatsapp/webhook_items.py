"""What one of Meta's webhook POSTs says, item by item: statuses, inbound messages, users'
id changes and every other change, as `whatsapp.notifications` parses them; and the
change's `contacts[]`, which name the users its items are about."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from whatsapp.id_changes import IdChange


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
    recipient_user_id: str | None = None
    recipient_parent_user_id: str | None = None
    username: str | None = None  # on delivered and read statuses, from `contacts[]`

    def contact(self) -> dict[str, str | None] | None:
        """The user's ids and username this status reveals; None when it names none."""
        ids = {
            "wa_id": self.recipient_id,
            "user_id": self.recipient_user_id,
            "parent_user_id": self.recipient_parent_user_id,
            "username": self.username,
        }
        return ids if any(ids.values()) else None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One entry of `value.messages`: a WhatsApp user wrote to us. `sender` is their phone
    number, None when Meta withholds it (then `user_id` names them)."""

    wamid: str
    sender: str | None
    profile_name: str | None
    type: str
    timestamp: datetime
    content: Any  # Meta's object under the type's key (a list for `contacts`), or None
    context: dict | None
    phone_number_id: str | None
    raw: dict
    user_id: str | None = None
    parent_user_id: str | None = None
    username: str | None = None


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
    id_changes: list[IdChange] = field(default_factory=list)


def username(contact: dict) -> str | None:
    """A `contacts[]` entry's `profile.username`, when the user has one."""
    profile = contact.get("profile")
    value = profile.get("username") if isinstance(profile, dict) else None
    return value if isinstance(value, str) and value else None


class Contacts:
    """A change's `contacts[]`, found by `wa_id` or `user_id`. Meta warns that a user's wa_id
    and phone number may not match: with a single contact in the change, it is the one."""

    __slots__ = ("_by_id", "_only")

    def __init__(self, contacts: Any) -> None:
        self._by_id: dict[str, dict] = {}
        items = [c for c in contacts if isinstance(c, dict)] if isinstance(contacts, list) else []
        for contact in items:
            for key in ("wa_id", "user_id"):
                if isinstance(contact.get(key), str):
                    self._by_id[contact[key]] = contact
        self._only = items[0] if len(items) == 1 else {}

    def of(self, wa_id: str | None, user_id: str | None, only: bool = True) -> dict:
        """The contact naming this phone number or user id, else (with `only`) the only
        one, else `{}`."""
        return (
            (wa_id and self._by_id.get(wa_id))
            or (user_id and self._by_id.get(user_id))
            or (self._only if only else {})
        )
