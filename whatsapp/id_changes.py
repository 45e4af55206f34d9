"""A WhatsApp user's identifiers changed: Meta's system messages and `user_id_update` items.

Meta reports a change of a user's phone number or business-scoped user id (BSUID) as a
system message on the `messages` field (`system.type` `user_changed_number`, with the new
number in `system.wa_id`, or `user_changed_user_id`, with no number), carrying the previous
BSUID and parent BSUID beside the new ones (`system.previous_user_id`,
`system.previous_parent_user_id`, `system.user_id`, `system.parent_user_id`). Meta's earlier
pages named a `user_id_update` webhook field for the same news; its items are read the same
way (`user_id` / `parent_user_id` as a `{previous, current}` pair or as `previous_user_id`
beside `user_id`), so either form becomes one `IdChange`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

USER_ID_UPDATE_FIELD = "user_id_update"
USER_CHANGED_NUMBER = "user_changed_number"
USER_CHANGED_USER_ID = "user_changed_user_id"
ID_CHANGE_TYPES = frozenset({USER_CHANGED_NUMBER, USER_CHANGED_USER_ID})


@dataclass(frozen=True, slots=True)
class IdChange:
    """Which identifiers a user had on a business number, and which they have now; an id
    Meta did not give is None (the same as before, or unknown)."""

    kind: str  # the system message's `system.type`, or `user_id_update`
    phone_number_id: str | None
    timestamp: datetime
    wamid: str | None  # the system message's id; None for `user_id_update` items
    previous_wa_id: str | None
    previous_user_id: str | None
    previous_parent_user_id: str | None
    wa_id: str | None
    user_id: str | None
    parent_user_id: str | None
    raw: dict

    def hub_data(self) -> dict[str, Any]:
        """The `contact.user_id_changed` event's data."""
        return {
            "kind": self.kind,
            "phone_number_id": self.phone_number_id,
            "timestamp": self.timestamp.isoformat(),
            "wamid": self.wamid,
            "previous": {
                "wa_id": self.previous_wa_id,
                "user_id": self.previous_user_id,
                "parent_user_id": self.previous_parent_user_id,
            },
            "current": {
                "wa_id": self.wa_id if self.wa_id is not None else self.previous_wa_id,
                "user_id": self.user_id,
                "parent_user_id": self.parent_user_id,
            },
        }


def from_system_message(
    message: dict, phone_number_id: str | None, at: datetime
) -> IdChange | None:
    """The change a `type: system` message reports; None when it reports no id change."""
    system = message.get("system")
    kind = system.get("type") if isinstance(system, dict) else None
    if kind not in ID_CHANGE_TYPES:
        return None
    assert isinstance(system, dict)
    return IdChange(
        kind=kind,
        phone_number_id=phone_number_id,
        timestamp=at,
        wamid=_str(message.get("id")),
        previous_wa_id=_str(message.get("from")),
        previous_user_id=_str(system.get("previous_user_id")) or _str(message.get("from_user_id")),
        previous_parent_user_id=_str(system.get("previous_parent_user_id"))
        or _str(message.get("from_parent_user_id")),
        wa_id=_str(system.get("wa_id")) if kind == USER_CHANGED_NUMBER else None,
        user_id=_str(system.get("user_id")),
        parent_user_id=_str(system.get("parent_user_id")),
        raw=message,
    )


def from_update_item(item: Any, phone_number_id: str | None, at: datetime) -> IdChange | None:
    """One item of a `user_id_update` value; None when it names no new user id."""
    if not isinstance(item, dict):
        return None
    previous_user_id, user_id = _pair(item, "user_id")
    previous_parent, parent = _pair(item, "parent_user_id")
    if user_id is None and parent is None:
        return None
    return IdChange(
        kind=USER_ID_UPDATE_FIELD,
        phone_number_id=phone_number_id,
        timestamp=at,
        wamid=None,
        previous_wa_id=_str(item.get("wa_id")),
        previous_user_id=previous_user_id,
        previous_parent_user_id=previous_parent,
        wa_id=None,
        user_id=user_id,
        parent_user_id=parent,
        raw=item,
    )


def _pair(item: dict, key: str) -> tuple[str | None, str | None]:
    """(previous, current) of `key`: a `{previous, current}` object or two fields."""
    value = item.get(key)
    if isinstance(value, dict):
        return _str(value.get("previous")), _str(value.get("current"))
    return _str(item.get("previous_" + key)), _str(value)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
