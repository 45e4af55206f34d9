"""Meta's 24 h customer-service window, as the simulator plays it (`SIM_SERVICE_WINDOW=true`).

A user's message to a business number opens the window for 24 h, under the number and the
BSUIDs it came by; a free-form (non-template)
send outside it is accepted with a wamid and then fails by status webhook with 131047, as
Meta does. Off by default, so sends to numbers that never wrote are delivered.
"""

from __future__ import annotations

import time
from typing import Any

WINDOW_S = 24 * 3600
_SENDER_KEYS = ("from", "from_user_id", "from_parent_user_id")
OUTSIDE_WINDOW = {
    "status": "failed",
    "code": 131047,
    "title": "Re-engagement message",
    "details": "Message failed to send because more than 24 hours have passed since the "
    "customer last replied to this number.",
}


class Windows:
    """When each user last wrote to each business number."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], float] = {}

    def reset(self) -> None:
        self._last.clear()

    def wrote(self, payload: dict[str, Any]) -> None:
        """Note the users whose messages a webhook payload carries, per business number,
        under each id the message names them by (number, BSUID, parent BSUID)."""
        for value in _values(payload):
            metadata = value.get("metadata")
            number = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
            for message in value.get("messages") or ():
                for key in _SENDER_KEYS:
                    sender = message.get(key) if isinstance(message, dict) else None
                    if isinstance(number, str) and isinstance(sender, str):
                        self._last[(number, sender)] = time.time()

    def is_open(self, number: str, user: str) -> bool:
        last = self._last.get((number, user))
        return last is not None and time.time() - last < WINDOW_S


def _values(payload: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        return [
            change["value"]
            for entry in payload["entry"]
            for change in entry["changes"]
            if isinstance(change.get("value"), dict)
        ]
    except (KeyError, TypeError, AttributeError):
        return []
