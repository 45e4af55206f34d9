"""The Hub event contract: what each builder (`hub.events`) makes validates against its model
(`hub.contract`), and docs/events.md names every field of every model."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from db.inbound import NewInbound
from db.statuses import StatusChange
from hub.contract import HUB_EVENTS, event_model
from hub.events import (
    change_event,
    id_change_event,
    new_change,
    received_event,
    status_event,
)
from tests.conftest import ROOT
from whatsapp.id_changes import IdChange

AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
MESSAGE = {
    "wamid": "wamid.HBgL",
    "recipient": "4915112345678",
    "recipient_user_id": None,
    "phone_number_id": "106540352242922",
    "metadata": {"order_id": 42},
}
ERROR = {"code": 131026, "title": "Message undeliverable", "message": "m", "details": "d"}
PRICING = {"billable": True, "pricing_model": "PMP", "category": "utility"}
TEXT = {"from": "4915112345678", "id": "wamid.IN", "timestamp": "1765108800", "type": "text"}

BUILT = [
    ("sent", status_event(StatusChange(uuid.uuid4(), "sent", AT, "sender", "wamid.X"), MESSAGE)),
    (
        "sent by BSUID alone",
        status_event(
            StatusChange(uuid.uuid4(), "sent", AT, "sender", "wamid.X", user_id="US.1349"),
            {**MESSAGE, "recipient": "US.1349"},
        ),
    ),
    (
        "failed, Meta's errors and pricing",
        status_event(
            StatusChange(
                uuid.uuid4(),
                "failed",
                AT,
                "meta",
                error=ERROR,
                details={"errors": [{"code": 131026}], "pricing": PRICING},
            ),
            MESSAGE,
        ),
    ),
    (
        "received text",
        received_event(
            NewInbound(
                "wamid.IN",
                "106540352242922",
                "4915112345678",
                "Alice",
                "text",
                AT,
                {**TEXT, "text": {"body": "hi"}},
            )
        ),
    ),
    (
        "delivered, with the ids Meta revealed",
        status_event(
            StatusChange(
                uuid.uuid4(),
                "delivered",
                AT,
                "meta",
                contact={
                    "wa_id": None,
                    "user_id": "US.1",
                    "parent_user_id": None,
                    "username": "@a",
                },
            ),
            MESSAGE,
        ),
    ),
    (
        "received from a BSUID alone",
        received_event(
            NewInbound(
                "wamid.B",
                "1065",
                None,
                None,
                "text",
                AT,
                {**TEXT, "from": None},
                "US.1",
                None,
                "@a",
            )
        ),
    ),
    (
        "user id changed",
        id_change_event(
            IdChange(
                "user_changed_user_id",
                "1065",
                AT,
                "wamid.S",
                None,
                "US.1",
                None,
                None,
                "US.2",
                None,
                {},
            )
        ),
    ),
    ("template status", change_event(new_change("message_template_status_update", {}, "1", 1))),
    ("unparsed", change_event(new_change("invalid_status", {"reason": "r"}, None, None))),
]


@pytest.mark.parametrize(("label", "event"), BUILT, ids=[b[0] for b in BUILT])
def test_each_builder_makes_what_its_model_says(label: str, event: Any) -> None:
    model = event_model(event.type)
    model.model_validate(event.payload)
    assert event.payload["id"] == event.id and event.payload["type"] == event.type


def _sections() -> dict[str, str]:
    """docs/events.md's text under each `## `type`` heading."""
    text = (ROOT / "docs" / "events.md").read_text()
    parts = re.split(r"^## `([^`]+)`\n", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _data_fields(model: type[BaseModel]) -> list[str]:
    data = model.model_fields["data"].annotation
    assert isinstance(data, type) and issubclass(data, BaseModel)
    return [f.alias or name for name, f in data.model_fields.items()]


@pytest.mark.parametrize("event_type", list(HUB_EVENTS))
def test_docs_name_every_field_of_every_event(event_type: str) -> None:
    section = _sections()[event_type.replace("{field}", "<field>")]
    missing = [
        name
        for name in _data_fields(HUB_EVENTS[event_type])
        if f'"{name}"' not in section and f"`{name}`" not in section
    ]
    assert not missing, f"docs/events.md does not describe {event_type}'s {missing}"


@pytest.mark.parametrize(
    ("label", "row", "revealed", "named"),
    [
        ("phone send", ("4915112345678", None), None, ("4915112345678", None)),
        (
            "phone send, BSUID stored",
            ("4915112345678", "US.1349"),
            None,
            ("4915112345678", "US.1349"),
        ),
        (
            "phone send, Meta names the BSUID",
            ("4915112345678", None),
            "US.1349",
            ("4915112345678", "US.1349"),
        ),
        ("BSUID alone", ("US.1349", None), None, (None, "US.1349")),
        (
            "phone and parent BSUID",
            ("4915112345678", "US.ENT.99"),
            None,
            ("4915112345678", "US.ENT.99"),
        ),
    ],
)
def test_status_events_name_the_recipients_ids(
    label: str, row: tuple[str, str | None], revealed: str | None, named: tuple[str | None, ...]
) -> None:
    message = {**MESSAGE, "recipient": row[0], "recipient_user_id": row[1]}
    change = StatusChange(uuid.uuid4(), "sent", AT, "sender", "wamid.X", user_id=revealed)
    data = status_event(change, message).payload["data"]
    assert (data["recipient"], data["recipient_user_id"]) == named
