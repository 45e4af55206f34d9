"""whatsapp.preferences as one table: Meta's `user_preferences` change values and
`user_preference_changed` system messages (built from the recorded fixture) -> the marketing
preferences they state. Pure."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from tests.whatsapp.test_notifications import FIXTURES
from whatsapp.preferences import (
    FROM_SYSTEM_MESSAGE,
    FROM_WEBHOOK,
    MarketingPreference,
    from_change,
    from_message,
)

NUMBER, USER, BSUID = "106540352242922", "16315558151", "US.13491208655302741918"
AT = datetime.fromtimestamp(1750272009, UTC)
ENTRY_AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
_RECORDED = orjson.loads((FIXTURES / "user_preferences_stop.json").read_bytes())
STOP = _RECORDED["entry"][0]["changes"][0]["value"]


def value(**item: Any) -> dict[str, Any]:
    """The recorded value with its one preference changed (a None drops the key)."""
    changed = copy.deepcopy(STOP)
    preference = changed["user_preferences"][0]
    preference.update(item)
    changed["user_preferences"][0] = {k: v for k, v in preference.items() if v is not None}
    return changed


def stated(value_: str, *names: str, at: datetime = AT) -> MarketingPreference:
    return MarketingPreference(NUMBER, names, value_, at, FROM_WEBHOOK)


CHANGES = [
    ("recorded stop", STOP, [stated("stop", USER)]),
    ("resume", value(value="resume"), [stated("resume", USER)]),
    ("with the user's BSUID", value(user_id=BSUID), [stated("stop", USER, BSUID)]),
    ("BSUID alone (a username user)", value(wa_id=None, user_id=BSUID), [stated("stop", BSUID)]),
    ("timestamp as a string", value(timestamp="1750272009"), [stated("stop", USER)]),
    ("no timestamp: the entry's time", value(timestamp=None), [stated("stop", USER, at=ENTRY_AT)]),
    ("another category", value(category="offers"), []),
    ("an unknown value", value(value="snooze"), []),
    ("no user", value(wa_id=None), []),
    ("no number", {**STOP, "metadata": {}}, []),
    ("not a list", {**STOP, "user_preferences": {"wa_id": USER}}, []),
]


@pytest.mark.parametrize(("label", "given", "expected"), CHANGES, ids=[c[0] for c in CHANGES])
def test_a_user_preferences_change_states_its_preferences(label, given, expected) -> None:
    assert from_change(given, ENTRY_AT) == expected


def system(marketing: str = "stop", **extra: Any) -> dict[str, Any]:
    body = {"body": "User requested to stop marketing messages", "marketing": marketing}
    message = {"from": USER, "id": "wamid.S", "timestamp": "1750272009", "type": "system"}
    return {**message, "system": {**body, "type": "user_preference_changed"}, **extra}


MESSAGES = [
    ("stop", system(), MarketingPreference(NUMBER, (USER,), "stop", AT, FROM_SYSTEM_MESSAGE)),
    (
        "resume",
        system("resume"),
        MarketingPreference(NUMBER, (USER,), "resume", AT, "system_message"),
    ),
    (
        "with the sender's BSUID",
        system(from_user_id=BSUID),
        MarketingPreference(NUMBER, (USER, BSUID), "stop", AT, FROM_SYSTEM_MESSAGE),
    ),
    ("another system message", {**system(), "system": {"type": "user_changed_number"}}, None),
    ("a text", {"from": USER, "id": "wamid.T", "type": "text", "text": {"body": "STOP"}}, None),
    ("an unknown value", system("maybe"), None),
]


@pytest.mark.parametrize(("label", "message", "expected"), MESSAGES, ids=[m[0] for m in MESSAGES])
def test_a_system_message_states_a_preference(label, message, expected) -> None:
    assert from_message(NUMBER, message, AT) == expected
