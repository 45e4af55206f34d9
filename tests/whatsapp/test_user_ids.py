"""Users named by business-scoped user id (BSUID), from Meta-shaped payloads: inbound
messages with a phone number and a BSUID, a BSUID alone, a parent BSUID; statuses that
reveal ids (and a failed one with no contacts); id changes. Parsed, then built into the
Hub's events the way the webhook processor does."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from consumers.webhook_processor import inbound_rows
from hub.contract import event_model
from hub.events import id_change_event, received_event
from whatsapp.notifications import parse_webhook

FIXTURES = Path(__file__).parent.parent / "fixtures" / "meta" / "user_ids"
PHONE, NEW_PHONE = "16505551234", "16505559876"
USER, USER2 = "US.13491208655302741918", "US.20731208655302741777"
PARENT = "US.ENT.11815799212886844830"


SENDER_KEYS = ("from", "user_id", "parent_user_id", "username", "profile_name")


def ids(wa_id: str | None, user_id: str | None, parent: str | None = None) -> dict[str, Any]:
    return {"wa_id": wa_id, "user_id": user_id, "parent_user_id": parent}


@dataclass(frozen=True)
class Case:
    label: str
    fixture: str
    # message.received: from, user_id, parent_user_id, username, profile_name
    senders: list[tuple] = field(default_factory=list)
    # each status's contact(): ids and username it revealed
    statuses: list[dict | None] = field(default_factory=list)
    # contact.user_id_changed: kind, previous, current
    id_changes: list[tuple] = field(default_factory=list)


CASES = [
    Case(
        "phone and BSUID",
        "message_text_phone_and_bsuid.json",
        senders=[(PHONE, USER, None, None, "Sheena Nelson")],
    ),
    Case(
        "BSUID only: a username user whose number is withheld",
        "message_text_bsuid_only.json",
        senders=[(None, USER, None, "@sheena", "Sheena")],
    ),
    Case(
        "parent BSUID, an image",
        "message_image_parent_bsuid.json",
        senders=[(None, USER, PARENT, "@sheena", "Sheena")],
    ),
    Case(
        "delivered: recipient_id, recipient_user_id and the username",
        "status_delivered_phone_and_bsuid.json",
        statuses=[{**ids(PHONE, USER), "username": "@sheena"}],
    ),
    Case(
        "read without recipient_id: BSUID, parent BSUID, username",
        "status_read_bsuid_only.json",
        statuses=[{**ids(None, USER, PARENT), "username": "@sheena"}],
    ),
    Case(
        "failed: no contacts, the BSUID only",
        "status_failed_no_contacts.json",
        statuses=[{**ids(None, USER), "username": None}],
    ),
    Case(
        "id change: a system message, user_changed_user_id",
        "message_system_user_id_change.json",
        id_changes=[("user_changed_user_id", ids(None, USER), ids(None, USER2))],
    ),
    Case(
        "id change: a system message, user_changed_number with the BSUIDs",
        "message_system_number_change_bsuid.json",
        id_changes=[("user_changed_number", ids(PHONE, USER), ids(NEW_PHONE, USER2))],
    ),
    Case(
        "id change: the user_id_update field",
        "user_id_update.json",
        id_changes=[("user_id_update", ids(PHONE, USER), ids(PHONE, USER2))],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_user_ids_are_parsed_and_forwarded(case: Case) -> None:
    parsed = parse_webhook((FIXTURES / case.fixture).read_bytes())
    assert parsed.others == []  # nothing unparsed

    received = [received_event(m) for m in inbound_rows([parsed])]
    got = [tuple(e.payload["data"][k] for k in SENDER_KEYS) for e in received]
    assert got == case.senders

    assert [s.contact() for s in parsed.statuses] == case.statuses

    changed = [id_change_event(c) for c in parsed.id_changes]
    data = [e.payload["data"] for e in changed]
    assert [(d["kind"], d["previous"], d["current"]) for d in data] == case.id_changes
    assert all(d["phone_number_id"] == "106540352242922" for d in data)

    for event in received + changed:
        event_model(event.type).model_validate(event.payload)


def test_every_user_id_fixture_is_in_the_table() -> None:
    assert {p.name for p in FIXTURES.glob("*.json")} == {c.fixture for c in CASES}


def test_a_message_without_from_or_from_user_id_is_still_unparsed() -> None:
    body = (FIXTURES / "message_text_bsuid_only.json").read_text().replace("from_user_id", "x")
    parsed = parse_webhook(body)
    assert parsed.messages == [] and [o.field for o in parsed.others] == ["invalid_message"]


def test_a_status_does_not_borrow_another_users_contact() -> None:
    """A POST of many statuses has one contact per user: a status takes only its own."""
    body = (FIXTURES / "status_delivered_phone_and_bsuid.json").read_text()
    parsed = parse_webhook(body.replace(f'"recipient_user_id": "{USER}"', '"x": 1'))
    status = parsed.statuses[0]
    assert (status.recipient_user_id, status.username) == (USER, "@sheena")  # by wa_id
    other = body.replace(PHONE, "4915112345678").replace(f'"recipient_user_id": "{USER}"', '"x": 1')
    other = other.replace('"wa_id": "4915112345678"', '"wa_id": "16505550000"')
    status = parse_webhook(other).statuses[0]
    assert (status.recipient_user_id, status.username) == (None, None)


def test_an_id_change_needs_no_sender_outside_its_system_object() -> None:
    body = (FIXTURES / "message_system_user_id_change.json").read_text()
    parsed = parse_webhook(body.replace('"from_user_id"', '"x"'))
    [change] = parsed.id_changes
    assert (change.previous_user_id, change.user_id) == (USER, USER2)
    assert parsed.others == [] and parsed.messages == []
