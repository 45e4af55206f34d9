"""Bodies and items the parser cannot hold: each becomes one `webhook.unparsed` change with a
reason, never an exception, and the items around an unusable one still go through.

Meta never sends these; a correctly signed body may all the same (a bug on either side, a
leaked app secret). What cannot be held: text that is not JSON or not Meta's envelope,
nesting deeper than the parser keeps (`MAX_DEPTH`), numbers JSON storage cannot hold.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson
import pytest

from whatsapp.notifications import (
    INVALID_BODY,
    INVALID_CHANGE,
    INVALID_MESSAGE,
    INVALID_STATUS,
    MAX_DEPTH,
    parse_webhook,
)

DEEP = f"nests deeper than {MAX_DEPTH} levels"
NUMBER = "holds a number out of range"


def arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def objects(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def post(
    extra: str = '"plain"', *, name: str = "Ana", top: str = "", statuses: str = "[]"
) -> bytes:
    """Two text messages in one POST, as raw JSON text: the first (wamid.A) carries `"x":
    <extra>`, the second (wamid.B) is plain; `top` is the text of a top-level key's value,
    `statuses` the change's statuses, `name` the contact's profile name (all as written)."""
    body = (
        '{"object": "whatsapp_business_account", TOP"entry": [{"id": "1", "changes": ['
        '{"field": "messages", "value": {"messaging_product": "whatsapp",'
        ' "metadata": {"phone_number_id": "1065"}, "statuses": STATUSES,'
        ' "contacts": [{"profile": {"name": "NAME"}, "wa_id": "4915112345678"}], "messages": ['
        '{"from": "4915112345678", "id": "wamid.A", "timestamp": "1732528800", "type": "text",'
        ' "text": {"body": "first"}, "x": EXTRA},'
        ' {"from": "4915112345678", "id": "wamid.B", "timestamp": "1732528800", "type": "text",'
        ' "text": {"body": "the neighbour"}}]}}]}]}'
    )
    body = body.replace("TOP", f'"top": {top}, ' if top else "").replace("STATUSES", statuses)
    body = body.replace("NAME", name).replace("EXTRA", extra)
    return body.encode("utf-8", "surrogateescape")


def template_update(value: str) -> bytes:
    """A template status change whose `value` is `value` (raw JSON text), then a message."""
    body = post().decode()
    change = f'{{"field": "message_template_status_update", "value": {value}}}, '
    return body.replace('"changes": [', f'"changes": [{change}', 1).encode()


# label, body, reason: the whole body is one `invalid_body` change, nothing else
BODIES = [
    ("empty body", b"", "webhook body is not JSON"),
    ("not JSON", b"hub.challenge=123", "webhook body is not JSON"),
    ("truncated JSON", post()[:-3], "webhook body is not JSON"),
    ("bytes that are not UTF-8, not JSON", b"\xff\xfe{oops", "webhook body is not JSON"),
    ("a NUL byte, not JSON", b"\x00\x01{oops", "webhook body is not JSON"),
    ("JSON array", b'[{"entry": []}]', "webhook body is a JSON array, not an object"),
    ("JSON string", b'"entry"', "webhook body is a JSON string, not an object"),
    ("JSON null", b"null", "webhook body is a JSON null, not an object"),
    ("JSON number", b"12", "webhook body is a JSON number, not an object"),
    ("no entry", b'{"object": "whatsapp_business_account"}', "webhook body has no 'entry' list"),
    ("entry is an object", b'{"entry": {"id": "1"}}', "webhook body has no 'entry' list"),
    ("arrays nested 100,000 deep", arrays(100_000).encode(), f"webhook body {DEEP}"),
    ("objects nested 100,000 deep", objects(100_000).encode(), f"webhook body {DEEP}"),
    ("a top-level key nested 2,000 deep", post(top=arrays(2000)), f"webhook body {DEEP}"),
    (
        "not UTF-8, a key nested 2,000 deep",
        post(name="\udcff", top=arrays(2000)),
        f"webhook body {DEEP}",
    ),
]


@pytest.mark.parametrize(("label", "body", "reason"), BODIES, ids=[b[0] for b in BODIES])
def test_an_unusable_body_is_one_unparsed_change(label: str, body: bytes, reason: str) -> None:
    for form in (body, body.decode("utf-8", "surrogateescape")):  # bytes, or from the stream
        result = parse_webhook(form)
        assert (result.statuses, result.messages) == ([], [])
        [change] = result.others
        assert change.field == INVALID_BODY
        assert change.value["reason"].startswith(reason), change.value["reason"]
        item = change.value["item"]
        assert item["bytes"] == len(body)
        assert item["sha256"] == hashlib.sha256(body).hexdigest()
        assert item["head"] == body[:1000].decode("utf-8", "replace").replace("\x00", "\ufffd")
        orjson.dumps(change.value)  # held: it can be stored and sent


@dataclass(frozen=True)
class Item:
    label: str
    body: bytes
    field: str  # the change the unusable item becomes
    reason: str
    kept: dict  # what the change keeps of the item


A = {"from": "4915112345678", "id": "wamid.A", "timestamp": "1732528800", "type": "text"}

ITEMS = [
    Item("a message nested 300 deep", post(arrays(300)), INVALID_MESSAGE, DEEP, A),
    Item("a message nested 1,000 deep", post(arrays(1000)), INVALID_MESSAGE, DEEP, A),
    Item("a message of objects 300 deep", post(objects(300)), INVALID_MESSAGE, DEEP, A),
    Item(
        "a NUL, and a message nested 600 deep",
        post(arrays(600), name="Ana\\u0000"),
        INVALID_MESSAGE,
        DEEP,
        A,
    ),
    Item(
        "bytes that are not UTF-8, and a message nested 500 deep",
        post(arrays(500), name="\udcff"),
        INVALID_MESSAGE,
        DEEP,
        A,
    ),
    Item(
        "an integer beyond 64 bits (a body the fast parser refuses)",
        post(str(2**70), name="\\ud83d"),
        INVALID_MESSAGE,
        NUMBER,
        A,
    ),
    Item("a number of 5,000 digits", post("9" * 5000), INVALID_MESSAGE, NUMBER, A),
    Item("a number beyond a double", post("1e400"), INVALID_MESSAGE, NUMBER, A),
    Item("NaN, which JSON does not have", post("NaN"), INVALID_MESSAGE, NUMBER, A),
    Item(
        "a status that is a list nested 300 deep",
        post(statuses=f"[{arrays(300)}]"),
        INVALID_STATUS,
        DEEP,
        {},
    ),
    Item(
        "a status nested 300 deep",
        post(statuses=f'[{{"id": "wamid.S", "status": "read", "x": {arrays(300)}}}]'),
        INVALID_STATUS,
        DEEP,
        {"id": "wamid.S", "status": "read"},
    ),
    Item(
        "a template update nested 300 deep",
        template_update(f'{{"event": "APPROVED", "x": {objects(300)}}}'),
        INVALID_CHANGE,
        DEEP,
        {"field": "message_template_status_update"},
    ),
]


@pytest.mark.parametrize("case", ITEMS, ids=[i.label for i in ITEMS])
def test_an_item_that_cannot_be_held_is_unparsed_and_its_neighbour_kept(case: Item) -> None:
    for form in (case.body, case.body.decode("utf-8", "surrogateescape")):
        result = parse_webhook(form)
        wamids = [m.wamid for m in result.messages]
        assert wamids == (["wamid.B"] if case.field == INVALID_MESSAGE else ["wamid.A", "wamid.B"])
        assert result.messages[-1].content == {"body": "the neighbour"}
        [change] = result.others
        assert change.field == case.field
        assert change.value == {"reason": case.reason, "item": case.kept}
        orjson.dumps([change.value, *(m.raw for m in result.messages)])  # all held


def test_a_top_level_key_nested_deep_but_parsable_costs_no_message() -> None:
    """Not Meta's, never stored: the messages around it go through untouched."""
    result = parse_webhook(post(top=arrays(300)))
    assert [m.wamid for m in result.messages] == ["wamid.A", "wamid.B"]
    assert result.others == []


def test_nesting_up_to_the_limit_is_held() -> None:
    """The limit is the nesting of an item as Meta sends it (a message is 6 levels into the
    POST): a message of MAX_DEPTH levels goes through, one more level does not."""
    within = parse_webhook(post(arrays(MAX_DEPTH - 1)))  # the message itself is one level
    assert [m.wamid for m in within.messages] == ["wamid.A", "wamid.B"]
    assert within.messages[0].raw["x"] == orjson.loads(arrays(MAX_DEPTH - 1))
    beyond = parse_webhook(post(arrays(MAX_DEPTH)))
    assert [m.wamid for m in beyond.messages] == ["wamid.B"]
