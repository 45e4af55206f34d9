"""Meta's word on a user's marketing preference: who stopped or resumed marketing messages
from which business number, and when.

Meta says it two ways, and its 131050 answer a third:

- the `user_preferences` webhook field: `value.user_preferences[]`, each with `wa_id` (and,
  for a user Meta also names by business-scoped user id, `user_id` / `parent_user_id`),
  `category: marketing_messages`, `value: stop|resume` and `timestamp` (unix seconds);
  `value.metadata.phone_number_id` names the number;
- a `system` message of type `user_preference_changed` (`system.marketing: stop|resume`)
  from the user, in the `messages` field;
- a send that fails with 131050 ("this recipient has chosen to stop receiving marketing
  messages", `whatsapp.errors.MARKETING_STOPPED_CODE`): the user stopped, as of that answer.

Pure: no I/O. Odd items (another category, an unknown value, no user) are skipped; the raw
change still reaches the Hub as `whatsapp.user_preferences`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

USER_PREFERENCES_FIELD = "user_preferences"  # Meta's webhook field
MARKETING_CATEGORY = "marketing_messages"
SYSTEM_TYPE = "user_preference_changed"  # a `system` message's `system.type`
STOP = "stop"
RESUME = "resume"
VALUES = (STOP, RESUME)
# How we learnt it (the Hub event's `source`).
FROM_WEBHOOK = "user_preferences"
FROM_SYSTEM_MESSAGE = "system_message"
FROM_131050 = "131050"


@dataclass(frozen=True, slots=True)
class MarketingPreference:
    """A user (by every name Meta gave: wa_id, BSUID) said `value` to a number at `at`."""

    phone_number_id: str
    names: tuple[str, ...]
    value: str
    at: datetime
    source: str


def from_change(value: dict[str, Any], at: datetime | None = None) -> list[MarketingPreference]:
    """The marketing preferences of one `user_preferences` change's `value`; `at` (the entry's
    time) stands in for an item without a readable `timestamp`."""
    metadata = value.get("metadata")
    number = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
    items = value.get(USER_PREFERENCES_FIELD)
    if not isinstance(number, str) or not isinstance(items, list):
        return []
    found = []
    for item in items:
        if not isinstance(item, dict) or item.get("category") != MARKETING_CATEGORY:
            continue
        names = _names(item, "wa_id", "user_id", "parent_user_id")
        when = _time(item.get("timestamp")) or at
        if names and item.get("value") in VALUES and when is not None:
            found.append(MarketingPreference(number, names, item["value"], when, FROM_WEBHOOK))
    return found


def from_message(
    phone_number_id: str | None, message: dict[str, Any], sent_at: datetime
) -> MarketingPreference | None:
    """The preference a `user_preference_changed` system message states; None for any other
    message."""
    system = message.get("system") if message.get("type") == "system" else None
    if not isinstance(system, dict) or system.get("type") != SYSTEM_TYPE:
        return None
    names = _names(message, "from", "from_user_id", "from_parent_user_id")
    value = system.get("marketing")
    if phone_number_id is None or not names or value not in VALUES:
        return None
    return MarketingPreference(phone_number_id, names, value, sent_at, FROM_SYSTEM_MESSAGE)


def _names(item: dict[str, Any], *keys: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for k in keys if isinstance(v := item.get(k), str) and v))


def _time(ts: Any) -> datetime | None:
    if isinstance(ts, bool):
        return None
    try:
        return datetime.fromtimestamp(int(ts), UTC) if isinstance(ts, int | str) else None
    except (ValueError, OverflowError, OSError):
        return None
