"""Marketing preferences from what one outbox write records (`consumers.events`): Meta's
`user_preferences` changes, `user_preference_changed` system messages, and sends that failed
with 131050 (the user stopped: recorded for the message's number and recipient).

Each fact is stored under every name Meta gave the user (wa_id, BSUID), so a send keyed
either way finds it (`db.marketing_preferences`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from core.names import FAILED
from db.inbound import NewInbound
from db.marketing_preferences import Preference
from db.statuses import StatusChange
from db.webhook_changes import NewChange
from whatsapp import preferences
from whatsapp.errors import MARKETING_STOPPED_CODE
from whatsapp.preferences import MarketingPreference


def facts(
    applied: Sequence[StatusChange],
    known: dict[uuid.UUID, Any],
    received: Sequence[NewInbound],
    others: Sequence[NewChange],
) -> list[Preference]:
    """The preferences these changes state, one per name of each user."""
    said: list[MarketingPreference] = []
    for c in others:
        if c.field == preferences.USER_PREFERENCES_FIELD:
            said += preferences.from_change(c.value, c.entry_time)
    for m in received:
        if m.type == "system" and isinstance(m.payload, dict):
            found = preferences.from_message(m.phone_number_id, m.payload, m.sent_at)
            said += [found] if found else []
    said += [_stopped(c, known[c.message_id]) for c in applied if _stopped_marketing(c)]
    return [
        Preference(p.phone_number_id, n, p.value, p.at, p.source) for p in said for n in p.names
    ]


def _stopped_marketing(c: StatusChange) -> bool:
    return c.status == FAILED and str((c.error or {}).get("code")) == str(MARKETING_STOPPED_CODE)


def _stopped(c: StatusChange, message: Any) -> MarketingPreference:
    """Meta's 131050 on a send: its recipient stopped marketing from its number."""
    names = tuple(n for n in (message["recipient"], message["recipient_user_id"]) if n)
    number = message["phone_number_id"]
    return MarketingPreference(
        number, names, preferences.STOP, c.occurred_at, preferences.FROM_131050
    )
