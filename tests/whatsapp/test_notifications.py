"""Parsing Meta's webhook POST bodies: one table of recorded payloads, then odd ones (the
unusable ones are in test_unusable_bodies.py)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumers.webhook_processor import change_rows, inbound_rows
from hub.events import change_event, id_change_event, received_event
from whatsapp.inbound_types import normalise
from whatsapp.notifications import Notification, parse_webhook

FIXTURES = Path(__file__).parent.parent / "fixtures" / "meta"

PNID = "106540352242922"
PNID2 = "110200345501442"
DISPLAY = "15550783881"

# Outbound (ours) and inbound wamids as they appear in the fixtures.
W_ORDER = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJCOTFFNDE5MkM1OEMzQzBEQ0EA"
W_PROMO = "wamid.HBgLMTYzMTU1NTgxNTEVAgARGBI2QUUzNDc4NEE2NTAzMUU0MDMA"
CB_ORDER = "0197824c-5a1e-7c3b-9f2d-3e8a41b6c7d0"
CB_PROMO = "0197824c-6b40-7e11-8a5c-1d2e3f4a5b6c"

NO_SENDER = "message needs string 'id', 'type' and 'from' or 'from_user_id'"
NOW = -1  # expected timestamp placeholder: "the parse time", for unparsable timestamps


@dataclass(frozen=True)
class S:
    """Expected StatusUpdate."""

    wamid: str
    status: str
    ts: int
    recipient_id: str | None
    callback_data: str | None
    error_codes: tuple[int, ...] = ()
    pricing_model: str | None = None
    conversation_id: str | None = None
    phone_number_id: str | None = PNID


@dataclass(frozen=True)
class M:
    """Expected InboundMessage."""

    wamid: str
    sender: str
    profile_name: str | None
    type: str
    ts: int
    content: dict | None
    context: dict | None = None
    phone_number_id: str | None = PNID


@dataclass(frozen=True)
class Case:
    label: str
    fixture: str
    statuses: list[S] = field(default_factory=list)
    messages: list[M] = field(default_factory=list)
    # (field, subset of its value that must match)
    others: list[tuple[str, dict]] = field(default_factory=list)
    # Mutates the recorded payload, for the cases Meta should never send but might.
    patch: Callable[[dict], None] | None = None


def _value(payload: dict, entry: int = 0, change: int = 0) -> dict:
    return payload["entry"][entry]["changes"][change]["value"]


def _set(path: tuple, new: Any) -> Callable[[dict], None]:
    def patch(payload: dict) -> None:
        *parents, last = path
        node: Any = _value(payload)
        for key in parents:
            node = node[key]
        node[last] = new

    return patch


def _delete(*paths: tuple) -> Callable[[dict], None]:
    def patch(payload: dict) -> None:
        for path in paths:
            *parents, last = path
            node: Any = _value(payload)
            for key in parents:
                node = node[key]
            del node[last]

    return patch


def _keep_only(keys: set[str]) -> Callable[[dict], None]:
    def patch(payload: dict) -> None:
        value = _value(payload)
        del value["metadata"]
        status = value["statuses"][0]
        for key in set(status) - keys:
            del status[key]

    return patch


def _entry_without_changes(payload: dict) -> None:
    payload["entry"].insert(0, {"id": "102290129340398"})
    payload["entry"].append("not an entry")


def _drop_fields_but_last(payload: dict) -> None:
    changes = [c for entry in payload["entry"] for c in entry["changes"]]
    for change in changes[:-1]:
        del change["field"]


def _future_type(payload: dict) -> None:
    message = _value(payload)["messages"][0]
    del message["text"]
    message["type"] = "poll_vote"
    message["poll_vote"] = {"poll_id": "123", "option_ids": ["a"]}


ERR_131026 = {
    "code": 131026,
    "title": "Message undeliverable",
    "message": "Message undeliverable",
    "error_data": {"details": "Message Undeliverable."},
    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
}

CASES = [
    # --- statuses -----------------------------------------------------------------------
    Case(
        "status sent, CBP conversation and pricing, our callback data",
        "status_sent.json",
        statuses=[
            S(
                W_ORDER,
                "sent",
                1750263773,
                "16505551234",
                CB_ORDER,
                pricing_model="CBP",
                conversation_id="a9f7e97965d6cf799a529102a973b8b9",
            )
        ],
    ),
    Case(
        "status delivered, per-message pricing, no conversation",
        "status_delivered.json",
        statuses=[
            S(W_ORDER, "delivered", 1750263775, "16505551234", CB_ORDER, pricing_model="PMP")
        ],
    ),
    Case(
        "status read, no pricing",
        "status_read.json",
        statuses=[S(W_ORDER, "read", 1750264121, "16505551234", CB_ORDER)],
    ),
    Case(
        "status failed 131026 keeps Meta's errors",
        "status_failed_131026.json",
        statuses=[S(W_PROMO, "failed", 1750265002, "16315558151", CB_PROMO, error_codes=(131026,))],
    ),
    Case(
        "batch of mixed statuses, unknown 'played' kept as-is, order preserved",
        "statuses_batch_mixed.json",
        statuses=[
            S(
                "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI3RTgzQ0EyQTY1RDZGOTBBODAA",
                "sent",
                1750270001,
                "16505551234",
                "0197825a-1111-7aaa-8bbb-000000000001",
                pricing_model="PMP",
            ),
            S(
                "wamid.HBgLMTYzMTU1NTgxNTEVAgARGBIzMkYyOEVBMDNCMUIyMDEyNjYA",
                "delivered",
                1750270003,
                "16315558151",
                "0197825a-1111-7aaa-8bbb-000000000002",
                pricing_model="PMP",
            ),
            S(
                "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAERgSMjNBNUZEMEVBNUFDMTE1Q0MwAA==",
                "read",
                1750270010,
                "447700900123",
                "0197825a-1111-7aaa-8bbb-000000000003",
            ),
            S(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEkE2Q0ExN0IzNzcyRDhDQzg4RgA=",
                "failed",
                1750270012,
                "5511987654321",
                "0197825a-1111-7aaa-8bbb-000000000004",
                error_codes=(131049,),
            ),
            S(
                "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJCRjI1NzI5NjNFMjM1MzYyMzcA",
                "played",
                1750270020,
                "16505551234",
                "0197825a-1111-7aaa-8bbb-000000000005",
            ),
        ],
    ),
    Case(
        "status with an unparsable timestamp falls back to now",
        "status_read.json",
        patch=_set(("statuses", 0, "timestamp"), "yesterday"),
        statuses=[S(W_ORDER, "read", NOW, "16505551234", CB_ORDER)],
    ),
    Case(
        "status with only id, status and timestamp; no metadata",
        "status_failed_131026.json",
        patch=_keep_only({"id", "status", "timestamp"}),
        statuses=[S(W_PROMO, "failed", 1750265002, None, None, phone_number_id=None)],
    ),
    Case(
        "statuses without id or status are skipped and reported, the rest kept",
        "statuses_batch_mixed.json",
        patch=_delete(("statuses", 1, "id"), ("statuses", 3, "status")),
        statuses=[
            S(
                "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI3RTgzQ0EyQTY1RDZGOTBBODAA",
                "sent",
                1750270001,
                "16505551234",
                "0197825a-1111-7aaa-8bbb-000000000001",
                pricing_model="PMP",
            ),
            S(
                "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAERgSMjNBNUZEMEVBNUFDMTE1Q0MwAA==",
                "read",
                1750270010,
                "447700900123",
                "0197825a-1111-7aaa-8bbb-000000000003",
            ),
            S(
                "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJCRjI1NzI5NjNFMjM1MzYyMzcA",
                "played",
                1750270020,
                "16505551234",
                "0197825a-1111-7aaa-8bbb-000000000005",
            ),
        ],
        others=[
            ("invalid_status", {"reason": "status needs string 'id' and 'status'"}),
            ("invalid_status", {"reason": "status needs string 'id' and 'status'"}),
        ],
    ),
    Case(
        "status without a timestamp is skipped and reported",
        "status_sent.json",
        patch=_delete(("statuses", 0, "timestamp")),
        others=[("invalid_status", {"reason": "status has no 'timestamp'"})],
    ),
    # --- messages -----------------------------------------------------------------------
    Case(
        "text message (Meta's reference example)",
        "message_text.json",
        messages=[
            M(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                "16505551234",
                "Sheena Nelson",
                "text",
                1749416383,
                {"body": "Does it come in another color?"},
            )
        ],
    ),
    Case(
        "text reply carries the context of our message",
        "message_text_reply_context.json",
        messages=[
            M(
                "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBRBNURGRDFFMkExNTQxM0MyMzlDNQA=",
                "16505551234",
                "Sheena Nelson",
                "text",
                1750264200,
                {"body": "Can you deliver it on Friday instead?"},
                {"from": DISPLAY, "id": W_ORDER},
            )
        ],
    ),
    Case(
        "forwarded text keeps the forwarded flags",
        "message_text_forwarded.json",
        messages=[
            M(
                "wamid.HBgLMTYzMTU1NTgxNTEVAgASGBQ4MzY1RkQzRDE3MURDMEI2RDMzOQA=",
                "16315558151",
                "Kerry Fisher",
                "text",
                1750264302,
                {"body": "Is this offer real?"},
                {"forwarded": True, "frequently_forwarded": True},
            )
        ],
    ),
    Case(
        "image with caption",
        "message_image.json",
        messages=[
            M(
                "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQ5NzhFQTdBRjM5QUQ1RkVGQjZCRgA=",
                "16505551234",
                "Sheena Nelson",
                "image",
                1750264410,
                {
                    "caption": "The box arrived like this",
                    "mime_type": "image/jpeg",
                    "sha256": "spgUz1eS5oTNddan/OemehGIfjEvh8oqwkltgfNl/3I=",
                    "id": "1003383421387256",
                },
            )
        ],
    ),
    Case(
        "interactive button reply",
        "message_interactive_button_reply.json",
        messages=[
            M(
                "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQyMTIzMDFDNTkzREY3QTEwRUU2NAA=",
                "16505551234",
                "Sheena Nelson",
                "interactive",
                1750264500,
                {
                    "type": "button_reply",
                    "button_reply": {"id": "change-delivery-date", "title": "Change"},
                },
                {"from": DISPLAY, "id": W_ORDER},
            )
        ],
    ),
    Case(
        "interactive list reply",
        "message_interactive_list_reply.json",
        messages=[
            M(
                "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgUMzhCNjJCRTRCRERBQTU2NjFDN0QA",
                "447700900123",
                "Amara Okafor",
                "interactive",
                1750264620,
                {
                    "type": "list_reply",
                    "list_reply": {
                        "id": "priority_express",
                        "title": "Priority Mail Express",
                        "description": "Next Day to 2 Days",
                    },
                },
                {
                    "from": DISPLAY,
                    "id": "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAERgSMzhCNjJCRTRCRERBQTU2NjFDAA==",
                },
            )
        ],
    ),
    Case(
        "template quick-reply button",
        "message_button_template_reply.json",
        messages=[
            M(
                "wamid.HBgLMTYzMTU1NTgxNTEVAgASGBQ5QTU3NTFENUFDRUNGMjZGRjdFQgA=",
                "16315558151",
                "Kerry Fisher",
                "button",
                1750264700,
                {"payload": "STOP_PROMOTIONS", "text": "Stop promotions"},
                {"from": DISPLAY, "id": W_PROMO},
            )
        ],
    ),
    Case(
        "reaction to our message",
        "message_reaction.json",
        messages=[
            M(
                "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQ2QjgxMEM5MEFBOUE5OTg1ODIzMAA=",
                "16505551234",
                "Sheena Nelson",
                "reaction",
                1750264800,
                {"message_id": W_ORDER, "emoji": "\U0001f44d"},
            )
        ],
    ),
    Case(
        "unsupported type is kept, never dropped",
        "message_unknown_type.json",
        messages=[
            M(
                "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgUNEI2ODc4OTEzODJGRDY1OEY1OTQA",
                "447700900123",
                "Amara Okafor",
                "unsupported",
                1750264900,
                {"type": "poll_update"},
            )
        ],
    ),
    Case(
        "a type we have never seen is kept with its object as content",
        "message_text.json",
        patch=_future_type,
        messages=[
            M(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                "16505551234",
                "Sheena Nelson",
                "poll_vote",
                1749416383,
                {"poll_id": "123", "option_ids": ["a"]},
            )
        ],
    ),
    Case(
        "interactive without its object, plus a value.errors array",
        "message_interactive_value_errors.json",
        messages=[
            M(
                "wamid.HBgLMTYzMTU1NTgxNTEVAgASGBQxNzE5MTAzRjdDOUJDQ0Q0OUREOAA=",
                "16315558151",
                "Kerry Fisher",
                "interactive",
                1750265100,
                None,
                {
                    "from": DISPLAY,
                    "id": "wamid.HBgLMTYzMTU1NTgxNTEVAgARGBJEOEY3RTlDNzgzQkU4MjMyOEYA",
                },
            )
        ],
        others=[
            (
                "errors",
                {
                    "metadata": {"display_phone_number": DISPLAY, "phone_number_id": PNID},
                    "errors": [
                        {
                            "code": 131000,
                            "title": "Something went wrong",
                            "message": "Something went wrong",
                            "error_data": {"details": "Unsupported webhook payload"},
                        }
                    ],
                },
            )
        ],
    ),
    Case(
        "no contacts: no profile name",
        "message_image.json",
        patch=_delete(("contacts",)),
        messages=[
            M(
                "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQ5NzhFQTdBRjM5QUQ1RkVGQjZCRgA=",
                "16505551234",
                None,
                "image",
                1750264410,
                {
                    "caption": "The box arrived like this",
                    "mime_type": "image/jpeg",
                    "sha256": "spgUz1eS5oTNddan/OemehGIfjEvh8oqwkltgfNl/3I=",
                    "id": "1003383421387256",
                },
            )
        ],
    ),
    Case(
        "the only contact names the sender even when wa_id differs from `from`",
        "message_text.json",
        patch=_set(("contacts", 0, "wa_id"), "165055512340"),
        messages=[
            M(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                "16505551234",
                "Sheena Nelson",
                "text",
                1749416383,
                {"body": "Does it come in another color?"},
            )
        ],
    ),
    Case(
        "message without `from` is skipped and reported",
        "message_text.json",
        patch=_delete(("messages", 0, "from")),
        others=[("invalid_message", {"reason": NO_SENDER})],
    ),
    # --- several entries and changes; other fields --------------------------------------
    Case(
        "two entries, four changes: statuses and messages from two phone numbers",
        "multiple_entries_changes.json",
        statuses=[
            S(W_ORDER, "delivered", 1750266000, "16505551234", CB_ORDER, pricing_model="PMP"),
            S(W_ORDER, "read", 1750266042, "16505551234", CB_ORDER),
            S(
                "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAERgSNzAzMjgxODdFQjI1RUYzMzQ3AA==",
                "sent",
                1750266110,
                "447700900123",
                "0197824d-0c7f-7a20-b3e4-9c8d7e6f5a41",
                pricing_model="PMP",
                phone_number_id=PNID2,
            ),
        ],
        messages=[
            M(
                "wamid.HBgLMTYzMTU1NTgxNTEVAgASGBRDNjkwQUE0MEM2QUU3RTMxREU1RAA=",
                "16315558151",
                "Kerry Fisher",
                "text",
                1750266050,
                {"body": "Thanks!"},
            ),
            M(
                "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgUQjI0NEQzOTVEMzhFNEU5RUYyNzQA",
                "447700900123",
                "Amara Okafor",
                "text",
                1750266101,
                {"body": "Hello"},
                phone_number_id=PNID2,
            ),
            M(
                "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBRERjUyN0UzODA0QTUyNTlFOTI4NQA=",
                "16505551234",
                "Sheena Nelson",
                "location",
                1750266102,
                {
                    "latitude": 37.4611978,
                    "longitude": -122.2164385,
                    "name": "Facebook HQ",
                    "address": "1 Hacker Way, Menlo Park, CA 94025",
                },
                phone_number_id=PNID2,
            ),
        ],
    ),
    Case(
        "an entry without changes, and one that is not an object, are reported",
        "status_read.json",
        patch=_entry_without_changes,
        statuses=[S(W_ORDER, "read", 1750264121, "16505551234", CB_ORDER)],
        others=[
            ("invalid_entry", {"item": {"id": "102290129340398"}}),
            ("invalid_entry", {"item": "not an entry"}),
        ],
    ),
    Case(
        "a change without `field` is reported, the next one still parsed",
        "multiple_entries_changes.json",
        patch=_drop_fields_but_last,
        statuses=[
            S(
                "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAERgSNzAzMjgxODdFQjI1RUYzMzQ3AA==",
                "sent",
                1750266110,
                "447700900123",
                "0197824d-0c7f-7a20-b3e4-9c8d7e6f5a41",
                pricing_model="PMP",
                phone_number_id=PNID2,
            ),
        ],
        others=[
            ("invalid_change", {"reason": "change needs a string 'field' and object 'value'"}),
            ("invalid_change", {"reason": "change needs a string 'field' and object 'value'"}),
            ("invalid_change", {"reason": "change needs a string 'field' and object 'value'"}),
        ],
    ),
    Case(
        "template status update is another field, kept whole",
        "template_status_update.json",
        others=[
            (
                "message_template_status_update",
                {
                    "event": "APPROVED",
                    "message_template_id": 1689556908129832,
                    "message_template_name": "order_confirmation",
                    "reason": "NONE",
                },
            )
        ],
    ),
]


def _load(case: Case) -> bytes:
    body = (FIXTURES / case.fixture).read_bytes()
    if case.patch is None:
        return body
    payload = orjson.loads(body)
    case.patch(payload)
    return orjson.dumps(payload)


def _at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _check_time(actual: datetime, expected: int, before: datetime, after: datetime) -> None:
    assert actual.tzinfo is UTC
    if expected == NOW:
        assert before <= actual <= after
    else:
        assert actual == _at(expected)


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_parse_webhook(case: Case) -> None:
    body = _load(case)
    before = datetime.now(UTC)
    result = parse_webhook(body)
    after = datetime.now(UTC)

    assert isinstance(result, Notification)
    assert len(result.statuses) == len(case.statuses)
    for got, want in zip(result.statuses, case.statuses, strict=True):
        assert (got.wamid, got.status, got.recipient_id, got.callback_data) == (
            want.wamid,
            want.status,
            want.recipient_id,
            want.callback_data,
        )
        _check_time(got.timestamp, want.ts, before, after)
        assert tuple(e["code"] for e in got.errors) == want.error_codes
        assert (got.pricing or {}).get("pricing_model") == want.pricing_model
        assert (got.conversation or {}).get("id") == want.conversation_id
        assert got.phone_number_id == want.phone_number_id
        assert got.raw["id"] == want.wamid
    if case.fixture == "status_failed_131026.json" and case.patch is None:
        assert result.statuses[0].errors == [ERR_131026]

    assert len(result.messages) == len(case.messages)
    for got, want in zip(result.messages, case.messages, strict=True):
        assert (got.wamid, got.sender, got.profile_name, got.type) == (
            want.wamid,
            want.sender,
            want.profile_name,
            want.type,
        )
        _check_time(got.timestamp, want.ts, before, after)
        assert got.content == want.content
        assert got.context == want.context
        assert got.phone_number_id == want.phone_number_id
        assert got.raw["id"] == want.wamid

    assert [o.field for o in result.others] == [field for field, _ in case.others]
    for other, (_, subset) in zip(result.others, case.others, strict=True):
        assert {key: other.value.get(key) for key in subset} == subset


def test_bytes_str_and_dict_parse_alike() -> None:
    body = (FIXTURES / "multiple_entries_changes.json").read_bytes()
    expected = parse_webhook(body)
    assert parse_webhook(body.decode()) == expected
    assert parse_webhook(orjson.loads(body)) == expected


def _two_texts(name: str, first: str) -> bytes:
    """A POST of two text messages from one contact, spelled as raw JSON text (NAME and
    FIRST stand for the profile name and the first text, inserted as written)."""
    body = (
        '{"entry": [{"id": "1", "changes": [{"field": "messages", "value": {'
        '"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1065"},'
        ' "contacts": [{"profile": {"name": "NAME"}, "wa_id": "4915112345678"}], "messages": ['
        '{"from": "4915112345678", "id": "wamid.A", "timestamp": "1732528800", "type": "text",'
        ' "text": {"body": "FIRST"}},'
        ' {"from": "4915112345678", "id": "wamid.B", "timestamp": "1732528800", "type": "text",'
        ' "text": {"body": "the neighbour"}}]}}]}]}'
    )
    return body.replace("NAME", name).replace("FIRST", first).encode("utf-8", "surrogateescape")


# label, the POST, the profile name and first text as stored (U+FFFD where it was unstorable)
UNSTORABLE = [
    ("NUL in the profile name", _two_texts("Ana\\u0000", "hi"), "Ana\ufffd", "hi"),
    ("NUL in the text", _two_texts("Ana", "a\\u0000b"), "Ana", "a\ufffdb"),
    ("escaped lone surrogate", _two_texts("Ana", "\\ud83d!"), "Ana", "\ufffd!"),
    ("a pair stays an emoji", _two_texts("Ana", "\\ud83d\\ude00"), "Ana", "\U0001f600"),
    ("raw surrogate bytes", _two_texts("Ana", "\udced\udca0\udcbd"), "Ana", "\ufffd" * 3),
    ("bytes that are not UTF-8", _two_texts("\udcff", "ok"), "\ufffd", "ok"),
]


@pytest.mark.parametrize(
    ("label", "body", "name", "text"), UNSTORABLE, ids=[u[0] for u in UNSTORABLE]
)
def test_unstorable_text_is_cleaned_and_its_neighbour_kept(
    label: str, body: bytes, name: str, text: str
) -> None:
    for form in (body, body.decode("utf-8", "surrogateescape")):  # bytes, or from the stream
        first, neighbour = parse_webhook(form).messages
        assert (first.profile_name, first.content) == (name, {"body": text})
        assert first.raw["text"]["body"] == text
        assert neighbour.content == {"body": "the neighbour"}


def test_a_thousand_statuses_in_one_post() -> None:
    payload = orjson.loads((FIXTURES / "status_sent.json").read_bytes())
    template = _value(payload)["statuses"][0]
    states = ("sent", "delivered", "read", "failed")
    statuses = []
    for i in range(1000):
        status = copy.deepcopy(template)
        status["id"] = f"wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI{i:020d}"
        status["status"] = states[i % 4]
        status["timestamp"] = str(1750263773 + i)
        statuses.append(status)
    _value(payload)["statuses"] = statuses

    result = parse_webhook(orjson.dumps(payload))

    assert len(result.statuses) == 1000
    assert result.messages == [] and result.others == []
    assert [s.wamid for s in result.statuses] == [s["id"] for s in statuses]
    assert [s.status for s in result.statuses[:4]] == list(states)
    assert result.statuses[-1].timestamp == _at(1750263773 + 999)


# --- what the Hub receives ------------------------------------------------------------------
# One case per inbound type and per other webhook field: the fixture, parsed and turned into
# Hub events exactly as the webhook processor does, must give these `(type, data)` pairs.
# tests/e2e/test_inbound.py posts the same fixtures through the simulator and expects the
# same data at the Hub sink; docs/events.md documents these shapes.

SHEENA = ("16505551234", "Sheena Nelson")
KERRY = ("16315558151", "Kerry Fisher")
AMARA = ("447700900123", "Amara Okafor")
WABA = "102290129340398"


def received(
    who: tuple[str, str], wamid: str, ts: int, kind: str, content: Any, **rest: Any
) -> tuple[str, dict]:
    """Expected `message.received`: every key present, null unless the case says otherwise."""
    sender, name = who
    data = {
        "wamid": wamid,
        "from": sender,
        "user_id": None,
        "parent_user_id": None,
        "username": None,
        "profile_name": name,
        "type": kind,
        "timestamp": _at(ts).isoformat(),
        "phone_number_id": PNID,
        "context": None,
        "referral": None,
        "errors": None,
        kind: content,
        "extra": None,
    }
    return "message.received", {**data, **rest}


def change(field: str, ts: int | None, value: dict, type_: str | None = None) -> tuple[str, dict]:
    """Expected event for another webhook field: its value as Meta sent it."""
    data = {
        "field": field,
        "waba_id": WABA,
        "time": _at(ts).isoformat() if ts is not None else None,
        "value": value,
    }
    return type_ or f"whatsapp.{field}", data


def _value_of(fixture: str) -> dict:
    return _value(orjson.loads((FIXTURES / fixture).read_bytes()))


def _content(fixture: str) -> Any:
    message = _value_of(fixture)["messages"][0]
    return message.get(message["type"])


def _context(**flags: Any) -> dict:
    return {"forwarded": False, "frequently_forwarded": False, **flags}


REPLY_TO_ORDER = _context(**{"from": DISPLAY, "id": W_ORDER})
FLOW_RESPONSE = {
    "flow_token": "order-42-survey",
    "delivery_rating": "5",
    "comment": "Fast and friendly",
}
UNKNOWN_ERROR = {
    "code": 131051,
    "title": "Message type unknown",
    "message": "Message type unknown",
    "error_data": {"details": "Message type is not currently supported"},
}


@dataclass(frozen=True)
class HubCase:
    label: str
    fixture: str
    events: list[tuple[str, dict]]


HUB_CASES = [
    HubCase(
        "text",
        "message_text.json",
        [
            received(
                SHEENA,
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                1749416383,
                "text",
                {"body": "Does it come in another color?"},
            )
        ],
    ),
    HubCase(
        "text reply: context names the message replied to",
        "message_text_reply_context.json",
        [
            received(
                SHEENA,
                "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBRBNURGRDFFMkExNTQxM0MyMzlDNQA=",
                1750264200,
                "text",
                {"body": "Can you deliver it on Friday instead?"},
                context=REPLY_TO_ORDER,
            )
        ],
    ),
    HubCase(
        "frequently forwarded text: both flags true",
        "message_text_forwarded.json",
        [
            received(
                KERRY,
                "wamid.HBgLMTYzMTU1NTgxNTEVAgASGBQ4MzY1RkQzRDE3MURDMEI2RDMzOQA=",
                1750264302,
                "text",
                {"body": "Is this offer real?"},
                context=_context(forwarded=True, frequently_forwarded=True),
            )
        ],
    ),
    HubCase(
        "text about a catalog product: context keeps referred_product",
        "message_product_enquiry.json",
        [
            received(
                SHEENA,
                "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBREMDk2QTNCMTJDMjk3NUVBQkRGNwA=",
                1750271013,
                "text",
                {"body": "Is this one pet-safe?"},
                context=_context(
                    **{
                        "from": DISPLAY,
                        "id": "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJEMkQ2QTUzQjMwNjY2RjkxNUMA",
                        "referred_product": {
                            "catalog_id": "194836987003835",
                            "product_retailer_id": "di9ozbzfi4",
                        },
                    }
                ),
            )
        ],
    ),
    HubCase(
        "text from a click-to-WhatsApp ad: referral",
        "message_referral_ad.json",
        [
            received(
                AMARA,
                "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgUQzE3RDdFRjdDMEI5RjM2MDk3OUYA",
                1750271012,
                "text",
                {"body": "Hi, I saw your ad. Do you ship to London?"},
                referral=_value_of("message_referral_ad.json")["messages"][0]["referral"],
            )
        ],
    ),
    HubCase(
        "image",
        "message_image.json",
        [
            received(
                SHEENA,
                "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQ5NzhFQTdBRjM5QUQ1RkVGQjZCRgA=",
                1750264410,
                "image",
                _content("message_image.json"),
            )
        ],
    ),
    HubCase(
        "audio file: voice false",
        "message_audio.json",
        [
            received(
                AMARA,
                "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgUM0E1QjcyQzQ0RDdGMkQ1QzlBOEUA",
                1750271001,
                "audio",
                {**_content("message_audio.json"), "voice": False},
            )
        ],
    ),
    HubCase(
        "voice note: voice true",
        "message_audio_voice.json",
        [
            received(
                SHEENA,
                "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTlFRDI3QzhGMTk0NjZCRjBCMAA=",
                1750271002,
                "audio",
                {**_content("message_audio_voice.json"), "voice": True},
            )
        ],
    ),
    HubCase(
        "video",
        "message_video.json",
        [
            received(
                KERRY,
                "wamid.HBgLMTYzMTU1NTgxNTEVAgASGBQzRjE0QkM2NUE2OUM3NzNEMTUyRgA=",
                1750271003,
                "video",
                _content("message_video.json"),
            )
        ],
    ),
    HubCase(
        "document with filename and caption",
        "message_document.json",
        [
            received(
                SHEENA,
                "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQ0RjJEMzYwNjg2RkQ5RTE1MzZFOAA=",
                1750271004,
                "document",
                _content("message_document.json"),
            )
        ],
    ),
    HubCase(
        "sticker: animated false",
        "message_sticker.json",
        [
            received(
                AMARA,
                "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgUNUM4RTM3RDFFN0U2RjJBRjM1OUIA",
                1750271005,
                "sticker",
                {**_content("message_sticker.json"), "animated": False},
            )
        ],
    ),
    HubCase(
        "location",
        "message_location.json",
        [
            received(
                KERRY,
                "wamid.HBgLMTYzMTU1NTgxNTEVAgASGBQ2MUE3NjBFQjE3QjgwNEJCRDg5NAA=",
                1750271006,
                "location",
                _content("message_location.json"),
            )
        ],
    ),
    HubCase(
        "contacts: the list as Meta sends it",
        "message_contacts.json",
        [
            received(
                SHEENA,
                "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQ3QkQ1NkQ4QkFDMDI1MzBFRjcwNAA=",
                1750271007,
                "contacts",
                _content("message_contacts.json"),
            )
        ],
    ),
    HubCase(
        "interactive button reply",
        "message_interactive_button_reply.json",
        [
            received(
                SHEENA,
                "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQyMTIzMDFDNTkzREY3QTEwRUU2NAA=",
                1750264500,
                "interactive",
                {
                    "type": "button_reply",
                    "button_reply": {"id": "change-delivery-date", "title": "Change"},
                },
                context=REPLY_TO_ORDER,
            )
        ],
    ),
    HubCase(
        "interactive list reply",
        "message_interactive_list_reply.json",
        [
            received(
                AMARA,
                "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgUMzhCNjJCRTRCRERBQTU2NjFDN0QA",
                1750264620,
                "interactive",
                _content("message_interactive_list_reply.json"),
                context=_context(
                    **{
                        "from": DISPLAY,
                        "id": "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAERgSMzhCNjJCRTRCRERBQTU2NjFDAA==",
                    }
                ),
            )
        ],
    ),
    HubCase(
        "interactive flow reply: response_json decoded as response",
        "message_interactive_nfm_reply.json",
        [
            received(
                AMARA,
                "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgUOEMwNjc0RjI1OUIyRDZBNDBGQTgA",
                1750271008,
                "interactive",
                {
                    "type": "nfm_reply",
                    "nfm_reply": {
                        "name": "flow",
                        "body": "Sent",
                        "response_json": orjson.dumps(FLOW_RESPONSE).decode(),
                        "response": FLOW_RESPONSE,
                    },
                },
                context=_context(
                    **{
                        "from": DISPLAY,
                        "id": "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAERgSNUQwNzBCQjk3RDhFNEI5NjI5AA==",
                    }
                ),
            )
        ],
    ),
    HubCase(
        "template quick-reply button",
        "message_button_template_reply.json",
        [
            received(
                KERRY,
                "wamid.HBgLMTYzMTU1NTgxNTEVAgASGBQ5QTU3NTFENUFDRUNGMjZGRjdFQgA=",
                1750264700,
                "button",
                {"payload": "STOP_PROMOTIONS", "text": "Stop promotions"},
                context=_context(**{"from": DISPLAY, "id": W_PROMO}),
            )
        ],
    ),
    HubCase(
        "reaction",
        "message_reaction.json",
        [
            received(
                SHEENA,
                "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQ2QjgxMEM5MEFBOUE5OTg1ODIzMAA=",
                1750264800,
                "reaction",
                {"message_id": W_ORDER, "emoji": "\U0001f44d"},
            )
        ],
    ),
    HubCase(
        "reaction removed: emoji null",
        "message_reaction_removed.json",
        [
            received(
                SHEENA,
                "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBRFMTQ2RkI3MzVEQjI3N0E2NUVGNQA=",
                1750271014,
                "reaction",
                {"message_id": W_ORDER, "emoji": None},
            )
        ],
    ),
    HubCase(
        "order from the catalog",
        "message_order.json",
        [
            received(
                KERRY,
                "wamid.HBgLMTYzMTU1NTgxNTEVAgASGBQ5RjNCMjQ4QjE4QzQ0QzdFQzBBRQA=",
                1750271009,
                "order",
                _content("message_order.json"),
            )
        ],
    ),
    HubCase(
        "system: user changed number, a contact.user_id_changed (not a message)",
        "message_system_number_change.json",
        [
            (
                "contact.user_id_changed",
                {
                    "kind": "user_changed_number",
                    "phone_number_id": PNID,
                    "timestamp": _at(1750271010).isoformat(),
                    "wamid": "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBRBOUU0NEI4QjFBMDM4QjYyOTdFNQA=",
                    "previous": {"wa_id": SHEENA[0], "user_id": None, "parent_user_id": None},
                    "current": {"wa_id": "16505559876", "user_id": None, "parent_user_id": None},
                },
            )
        ],
    ),
    HubCase(
        "system: identity changed, Meta's identity object under extra",
        "message_system_identity_change.json",
        [
            received(
                KERRY,
                "wamid.HBgLMTYzMTU1NTgxNTEVAgASGBRCMzRDODA5RjY4MUE1NEUwQ0IyMwA=",
                1750271011,
                "system",
                _content("message_system_identity_change.json"),
                extra={
                    "identity": {
                        "acknowledged": True,
                        "created_timestamp": "1750271011",
                        "hash": "Sjvjlx8G6Z0=",
                    }
                },
            )
        ],
    ),
    HubCase(
        "request_welcome: no content object",
        "message_request_welcome.json",
        [
            received(
                KERRY,
                "wamid.HBgLMTYzMTU1NTgxNTEVAgASGBRGNUI5NDY4NTVFQjEwQkE1NzRCMgA=",
                1750271015,
                "request_welcome",
                None,
            )
        ],
    ),
    HubCase(
        "unsupported: Meta's errors and what it was",
        "message_unknown_type.json",
        [
            received(
                AMARA,
                "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgUNEI2ODc4OTEzODJGRDY1OEY1OTQA",
                1750264900,
                "unsupported",
                {"type": "poll_update"},
                errors=[
                    {
                        "code": 131051,
                        "title": "Message type unknown",
                        "message": "Message type unknown",
                        "error_data": {"details": "Message type is currently not supported."},
                    }
                ],
            )
        ],
    ),
    HubCase(
        "type unknown with errors",
        "message_unknown_errors.json",
        [
            received(
                AMARA,
                "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgURjhEMzI1QzE1OTZFNjNCNjdBMjEA",
                1750271016,
                "unknown",
                None,
                errors=[UNKNOWN_ERROR],
            )
        ],
    ),
    HubCase(
        "a type we do not know yet: its object, and the whole message as raw",
        "message_revoke.json",
        [
            received(
                SHEENA,
                "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQxMEJFNjAwQTY4RjQ3QjBGNTE0QwA=",
                1750271017,
                "revoke",
                _content("message_revoke.json"),
                raw=_value_of("message_revoke.json")["messages"][0],
            )
        ],
    ),
    HubCase(
        "interactive without its object, and Meta's value.errors as whatsapp.errors",
        "message_interactive_value_errors.json",
        [
            received(
                KERRY,
                "wamid.HBgLMTYzMTU1NTgxNTEVAgASGBQxNzE5MTAzRjdDOUJDQ0Q0OUREOAA=",
                1750265100,
                "interactive",
                None,
                context=_context(
                    **{
                        "from": DISPLAY,
                        "id": "wamid.HBgLMTYzMTU1NTgxNTEVAgARGBJEOEY3RTlDNzgzQkU4MjMyOEYA",
                    }
                ),
            ),
            change(
                "errors",
                None,
                {
                    "metadata": {"display_phone_number": DISPLAY, "phone_number_id": PNID},
                    "errors": _value_of("message_interactive_value_errors.json")["errors"],
                },
            ),
        ],
    ),
    # --- other webhook fields: `whatsapp.<field>` with Meta's value -------------------------
    *[
        HubCase(
            f"{field}: whatsapp.{field}",
            fixture,
            [change(field, ts, _value_of(fixture))],
        )
        for field, fixture, ts in [
            ("message_template_status_update", "template_status_update.json", 1750267000),
            ("message_template_status_update", "template_status_rejected.json", 1750272001),
            ("message_template_quality_update", "template_quality_update.json", 1750272002),
            ("template_category_update", "template_category_update.json", 1750272003),
            ("phone_number_quality_update", "phone_number_quality_update.json", 1750272004),
            ("phone_number_name_update", "phone_number_name_update.json", 1750272005),
            ("account_update", "account_update_restriction.json", 1750272006),
            ("account_review_update", "account_review_update.json", 1750272007),
            ("business_capability_update", "business_capability_update.json", 1750272008),
            ("user_preferences", "user_preferences_stop.json", None),
        ]
    ],
]


def hub_events_of(body: bytes) -> list[tuple[str, dict]]:
    """Parse one POST and build its Hub events the way the webhook processor does."""
    parsed = [parse_webhook(body)]
    built = [received_event(m) for m in inbound_rows(parsed)]
    built += [change_event(c) for c in change_rows(parsed)]
    built += [id_change_event(c) for n in parsed for c in n.id_changes]
    return [(e.type, e.payload["data"]) for e in built]


@pytest.mark.parametrize("case", HUB_CASES, ids=[c.label for c in HUB_CASES])
def test_hub_event_per_type(case: HubCase) -> None:
    assert hub_events_of((FIXTURES / case.fixture).read_bytes()) == case.events


def test_every_fixture_is_in_a_table() -> None:
    used = {c.fixture for c in CASES} | {c.fixture for c in HUB_CASES}
    assert {p.name for p in FIXTURES.glob("*.json")} <= used


def _no_from(payload: dict) -> None:
    del _value(payload)["messages"][0]["from"]


def _future_field(payload: dict) -> None:
    payload["entry"][0]["changes"][0]["field"] = "automatic_events"


UNPARSED_CASES = [
    (
        "message without `from`: webhook.unparsed with the reason and the item",
        "message_text.json",
        _no_from,
        "webhook.unparsed",
        "invalid_message",
    ),
    (
        "a field Meta adds tomorrow: whatsapp.<field>, value as sent",
        "account_review_update.json",
        _future_field,
        "whatsapp.automatic_events",
        "automatic_events",
    ),
]


@pytest.mark.parametrize(
    ("fixture", "patch", "type_", "field"),
    [c[1:] for c in UNPARSED_CASES],
    ids=[c[0] for c in UNPARSED_CASES],
)
def test_nothing_is_dropped(
    fixture: str, patch: Callable[[dict], None], type_: str, field: str
) -> None:
    payload = orjson.loads((FIXTURES / fixture).read_bytes())
    patch(payload)
    [(got_type, data)] = hub_events_of(orjson.dumps(payload))
    assert (got_type, data["field"], data["waba_id"]) == (type_, field, WABA)
    if field == "invalid_message":
        assert data["value"]["item"] == _value(payload)["messages"][0]
    else:
        assert data["value"] == _value(payload)


def test_change_ids_follow_the_content() -> None:
    """A replayed change keeps its event id; a different one (even only in time) gets another."""
    body = (FIXTURES / "template_status_update.json").read_bytes()
    payload = orjson.loads(body)
    payload["entry"][0]["time"] += 1
    [first] = change_rows([parse_webhook(body)])
    [again] = change_rows([parse_webhook(orjson.loads(body))])
    [later] = change_rows([parse_webhook(orjson.dumps(payload))])
    assert first.id == again.id != later.id
    assert first.id.startswith("evt_")


ODD_MESSAGES = [
    (
        "flow reply whose response_json is not JSON",
        {
            "type": "interactive",
            "interactive": {
                "type": "nfm_reply",
                "nfm_reply": {"name": "flow", "response_json": "{oops"},
            },
        },
        "interactive",
        {
            "type": "nfm_reply",
            "nfm_reply": {"name": "flow", "response_json": "{oops", "response": None},
        },
    ),
    (
        "flow reply whose response_json nests 300 deep",
        {
            "type": "interactive",
            "interactive": {
                "type": "nfm_reply",
                "nfm_reply": {"response_json": "[" * 300 + "]" * 300},
            },
        },
        "interactive",
        {
            "type": "nfm_reply",
            "nfm_reply": {"response_json": "[" * 300 + "]" * 300, "response": None},
        },
    ),
    ("audio object that is a string", {"type": "audio", "audio": "x"}, "audio", "x"),
    (
        "context that is a list",
        {"type": "text", "text": {"body": "a"}, "context": [1]},
        "context",
        [1],
    ),
    (
        "type named like a data key",
        {"type": "timestamp", "timestamp": "1"},
        "raw",
        {"type": "timestamp", "timestamp": "1"},
    ),
    ("type missing", {"id": "x"}, "unknown", None),
]


@pytest.mark.parametrize(
    ("message", "key", "expected"),
    [c[1:] for c in ODD_MESSAGES],
    ids=[c[0] for c in ODD_MESSAGES],
)
def test_odd_messages_never_raise(message: dict, key: str, expected: Any) -> None:
    assert normalise(message)[key] == expected
