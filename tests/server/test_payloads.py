"""The send request: valid fixtures become Meta's exact body; each bad one names its fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from server.api_errors import ValidationError
from server.payloads import CONTENT_TYPES, SendRequest, parse_send_request, send_request_schema
from simulator.meta_checks import check_message

FIXTURES = Path(__file__).parent.parent / "fixtures" / "send"
VALID_FIXTURES = sorted((FIXTURES / "valid").glob("*.json"))
TO = "+4915112345678"
_DROP = object()
FULLWIDTH_DIGITS = "".join(chr(0xFF10 + int(d)) for d in "4915112345678")


def text(**changes: Any) -> dict[str, Any]:
    """A valid text request with `changes` applied (`_DROP` removes a key)."""
    return _changed({"to": TO, "type": "text", "text": {"body": "hi"}}, changes)


def template(components: Any = _DROP, **changes: Any) -> dict[str, Any]:
    """A valid template request; `components` goes inside the template object."""
    body = {"name": "order_update", "language": {"code": "en_US"}}
    tmpl = _changed(body, {"components": components})
    return _changed({"to": TO, "type": "template", "template": tmpl}, changes)


def button(**changes: Any) -> dict[str, Any]:
    """A valid quick-reply button component with `changes` applied."""
    base = {
        "type": "button",
        "sub_type": "quick_reply",
        "index": 0,
        "parameters": [{"type": "payload", "payload": "YES"}],
    }
    return _changed(base, changes)


def params(*parameters: Any) -> list[dict[str, Any]]:
    """One body component holding `parameters`."""
    return [{"type": "body", "parameters": list(parameters)}]


def _changed(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = {**base, **changes}
    return {k: v for k, v in out.items() if v is not _DROP}


def errors_of(body: bytes | dict[str, Any]) -> list[dict[str, str]]:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    with pytest.raises(ValidationError) as info:
        parse_send_request(raw)
    return info.value.fields


# ---------------------------------------------------------------- valid requests


@pytest.mark.parametrize("path", VALID_FIXTURES, ids=lambda p: p.stem)
def test_valid_fixture_becomes_metas_exact_body(path: Path) -> None:
    case = orjson.loads(path.read_bytes())
    req = parse_send_request(orjson.dumps(case["request"]))
    assert isinstance(req, SendRequest)
    assert req.to == case["to"]
    assert req.type == case["request"]["type"]
    assert req.metadata == case["metadata"]
    assert req.meta_payload("msg-1") == case["meta_payload"]
    assert check_message(case["meta_payload"]) is None  # and the Meta simulator accepts it


def test_there_are_valid_fixtures_for_every_type() -> None:
    kinds = {orjson.loads(p.read_bytes())["request"]["type"] for p in VALID_FIXTURES}
    assert kinds == set(CONTENT_TYPES)


def _metadata_of_bytes(size: int) -> dict[str, str]:
    return {"k": "x" * (size - len(b'{"k":""}'))}


VALID_EDGES = [
    ("text of 4096 chars", text(text={"body": "x" * 4096})),
    ("text of 4096 emoji", text(text={"body": "🚚" * 4096})),
    ("text with surrounding spaces", text(text={"body": " hi "})),
    ("preview_url null", text(text={"body": "hi", "preview_url": None})),
    ("8 digits", text(to="12345678")),
    ("15 digits with plus", text(to="+123456789012345")),
    ("metadata of exactly 4096 bytes", text(metadata=_metadata_of_bytes(4096))),
    ("metadata null", text(metadata=None)),
    ("context null", text(context=None)),
    ("validity of 1 s", text(validity_period_s=1)),
    ("validity of 30 days", text(validity_period_s=30 * 86400)),
    ("button index 9", template([button(index=9)])),
    ('button index "0", as Meta\'s examples write it', template([button(index="0")])),
    ("10 components", template(params({"type": "text", "text": "1"}) * 10)),
    ("text parameter of 32768 chars", template(params({"type": "text", "text": "x" * 32768}))),
    ("language of three letters", template(template={"name": "a", "language": {"code": "fil"}})),
]


@pytest.mark.parametrize(("label", "body"), VALID_EDGES, ids=[c[0] for c in VALID_EDGES])
def test_valid_edge(label: str, body: dict[str, Any]) -> None:
    req = parse_send_request(orjson.dumps(body))
    sent = req.meta_payload("m")
    assert sent["to"] == body["to"].removeprefix("+")
    assert sent[req.type] == {k: v for k, v in body[req.type].items() if v is not None}


@pytest.mark.parametrize("to", ["+4915112345678", "4915112345678"])
def test_to_is_normalised_to_digits(to: str) -> None:
    assert parse_send_request(orjson.dumps(text(to=to))).to == "4915112345678"


def test_meta_payload_leaves_out_metadata_and_nulls() -> None:
    req = parse_send_request(
        orjson.dumps(text(text={"body": "hi", "preview_url": None}, metadata={"a": 1}))
    )
    assert req.metadata == {"a": 1}
    assert req.meta_payload("id-1") == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "4915112345678",
        "type": "text",
        "text": {"body": "hi"},
        "biz_opaque_callback_data": "id-1",
    }


# -------------------------------------------------------------- invalid requests

_NESTED_OBJECT = {"a": {"b": [1, 2, {"c": "x" * 4100}]}}

INVALID = [
    # the body itself
    ("bad JSON", b"{nope", ["body"]),
    ("empty body", b"", ["body"]),
    ("JSON array body", b"[]", ["body"]),
    ("JSON string body", b'"hi"', ["body"]),
    ("JSON null body", b"null", ["body"]),
    ("not UTF-8", b"\xff\xfe", ["body"]),
    ("unknown top-level key", text(priority="high"), ["priority"]),
    # to
    ("missing to", text(to=_DROP), ["to", "recipient"]),
    ("numeric to", text(to=4915112345678), ["to"]),
    ("null to", text(to=None), ["to", "recipient"]),
    ("letters in to", text(to="+49151abc45678"), ["to"]),
    ("spaces in to", text(to="+49 151 12345678"), ["to"]),
    ("7 digits", text(to="1234567"), ["to"]),
    ("16 digits", text(to="1234567890123456"), ["to"]),
    ("two plus signs", text(to="++4915112345678"), ["to"]),
    ("plus inside", text(to="49+15112345678"), ["to"]),
    ("trailing newline in to", text(to="4915112345678\n"), ["to"]),
    ("fullwidth digits in to", text(to=FULLWIDTH_DIGITS), ["to"]),
    ("country code 0 (not E.164)", text(to="+04915112345678"), ["to"]),
    ("leading 0 without plus", text(to="015112345678"), ["to"]),
    # type
    ("missing type", text(type=_DROP), ["type"]),
    ("unknown type", text(type="fax"), ["type"]),
    ("numeric type", text(type=1), ["type"]),
    ("null type", text(type=None), ["type"]),
    ("unknown type and bad to", text(type="fax", to="123"), ["type", "to"]),
    ("unknown type and bad context", text(type="fax", context={}), ["type", "context.message_id"]),
    # the object of the type, and objects of other types
    ("text object missing", text(text=_DROP), ["text"]),
    ("text object is a string", text(text="hi"), ["text"]),
    ("template object missing", template(template=_DROP), ["template"]),
    ("template with text object extra", template(text={"body": "hi"}), ["text"]),
    ("text with template object extra", text(template={"name": "x"}), ["template"]),
    # text
    ("text body missing", text(text={}), ["text.body"]),
    ("empty text", text(text={"body": ""}), ["text.body"]),
    ("whitespace text", text(text={"body": " \n\t "}), ["text.body"]),
    ("text of 4097 chars", text(text={"body": "x" * 4097}), ["text.body"]),
    ("numeric text", text(text={"body": 42}), ["text.body"]),
    ('preview_url "yes"', text(text={"body": "hi", "preview_url": "yes"}), ["text.preview_url"]),
    ("preview_url 1", text(text={"body": "hi", "preview_url": 1}), ["text.preview_url"]),
    ('preview_url "true"', text(text={"body": "hi", "preview_url": "true"}), ["text.preview_url"]),
    ("unknown key in text", text(text={"body": "hi", "bold": True}), ["text.bold"]),
    # recipient_type, messaging_product
    ("recipient_type group", text(recipient_type="group"), ["recipient_type"]),
    ("messaging_product sms", text(messaging_product="sms"), ["messaging_product"]),
    # context
    ("context without message_id", text(context={}), ["context.message_id"]),
    ("context message_id empty", text(context={"message_id": ""}), ["context.message_id"]),
    ("context message_id number", text(context={"message_id": 7}), ["context.message_id"]),
    ("context is a string", text(context="wamid.x"), ["context"]),
    ("unknown key in context", text(context={"message_id": "w", "x": 1}), ["context.x"]),
    # validity period
    ("validity 0", text(validity_period_s=0), ["validity_period_s"]),
    ("validity negative", text(validity_period_s=-5), ["validity_period_s"]),
    ("validity past 30 days", text(validity_period_s=30 * 86400 + 1), ["validity_period_s"]),
    ("validity a string", text(validity_period_s="60"), ["validity_period_s"]),
    ("validity a fraction", text(validity_period_s=1.5), ["validity_period_s"]),
    # metadata
    ("metadata array", text(metadata=[1, 2]), ["metadata"]),
    ("metadata string", text(metadata="order 42"), ["metadata"]),
    ("metadata number", text(metadata=42), ["metadata"]),
    ("metadata too big", text(metadata=_metadata_of_bytes(4097)), ["metadata"]),
    ("metadata too big when nested", text(metadata=_NESTED_OBJECT), ["metadata"]),
    (
        "metadata NaN",
        b'{"to":"4915112345678","type":"text","text":{"body":"hi"},"metadata":{"a":NaN}}',
        ["metadata.a"],
    ),
    (
        "metadata Infinity",
        b'{"to":"4915112345678","type":"text","text":{"body":"hi"},"metadata":{"a":[1e400]}}',
        ["metadata.a[0]"],
    ),
    (
        "metadata int beyond 64 bits",
        b'{"to":"4915112345678","type":"text","text":{"body":"hi"},'
        b'"metadata":{"big":1180591620717411303424}}',
        ["metadata.big"],
    ),
    ("NUL in text", text(text={"body": "a\x00b"}), ["text.body"]),
    ("NUL in metadata key", text(metadata={"a\x00": 1}), ["metadata.a\x00"]),
    # template
    ("template name missing", template(template={"language": {"code": "en"}}), ["template.name"]),
    (
        "template name uppercase",
        template(template={"name": "Order", "language": {"code": "en"}}),
        ["template.name"],
    ),
    (
        "template name 513 chars",
        template(template={"name": "a" * 513, "language": {"code": "en"}}),
        ["template.name"],
    ),
    (
        "template name empty",
        template(template={"name": "", "language": {"code": "en"}}),
        ["template.name"],
    ),
    ("template language missing", template(template={"name": "a"}), ["template.language"]),
    (
        "template language a string",
        template(template={"name": "a", "language": "en"}),
        ["template.language"],
    ),
    (
        "template language code missing",
        template(template={"name": "a", "language": {}}),
        ["template.language.code"],
    ),
    *[
        (
            f"template bad language code {code}",
            template(template={"name": "a", "language": {"code": code}}),
            ["template.language.code"],
        )
        for code in ("english", "EN", "en-US", "en_us", "e", "")
    ],
    (
        "template language policy fallback",
        template(template={"name": "a", "language": {"code": "en", "policy": "fallback"}}),
        ["template.language.policy"],
    ),
    ("components not a list", template({"type": "body"}), ["template.components"]),
    (
        "11 components",
        template(params({"type": "text", "text": "1"}) * 11),
        ["template.components"],
    ),
    (
        "component of unknown type",
        template([{"type": "carousel", "parameters": []}]),
        ["template.components[0].type"],
    ),
    ("component without type", template([{"parameters": []}]), ["template.components[0].type"]),
    (
        "component without parameters",
        template([{"type": "body"}]),
        ["template.components[0].parameters"],
    ),
    (
        "button component without index",
        template([button(index=_DROP)]),
        ["template.components[0].index"],
    ),
    (
        "button component without sub_type",
        template([button(sub_type=_DROP)]),
        ["template.components[0].sub_type"],
    ),
    (
        "button unknown sub_type",
        template([button(sub_type="call_me")]),
        ["template.components[0].sub_type"],
    ),
    ("button index 10", template([button(index=10)]), ["template.components[0].index"]),
    ("button index -1", template([button(index=-1)]), ["template.components[0].index"]),
    ('button index "10"', template([button(index="10")]), ["template.components[0].index"]),
    (
        "body component with index",
        template([{"type": "body", "index": 0, "parameters": []}]),
        ["template.components[0].index"],
    ),
    (
        "parameter of unknown type",
        template(params({"type": "emoji", "emoji": "x"})),
        ["template.components[0].parameters[0].type"],
    ),
    (
        "parameter without type",
        template(params({"text": "x"})),
        ["template.components[0].parameters[0].type"],
    ),
    (
        "text parameter empty",
        template(params({"type": "text", "text": ""})),
        ["template.components[0].parameters[0].text"],
    ),
    (
        "text parameter of 32769 chars",
        template(params({"type": "text", "text": "x" * 32769})),
        ["template.components[0].parameters[0].text"],
    ),
    (
        "text parameter a number",
        template(params({"type": "text", "text": 42})),
        ["template.components[0].parameters[0].text"],
    ),
    (
        "second parameter bad",
        template(params({"type": "text", "text": "ok"}, {"type": "text", "text": ""})),
        ["template.components[0].parameters[1].text"],
    ),
    (
        "parameter with another type's object",
        template(params({"type": "text", "currency": {"code": "EUR"}})),
        [
            "template.components[0].parameters[0].text",
            "template.components[0].parameters[0].currency",
        ],
    ),
    (
        "currency parameter not an object",
        template(params({"type": "currency", "currency": "EUR"})),
        ["template.components[0].parameters[0].currency"],
    ),
    (
        "payload parameter an object",
        template([button(parameters=[{"type": "payload", "payload": {}}])]),
        ["template.components[0].parameters[0].payload"],
    ),
    (
        "parameter_name empty",
        template(params({"type": "text", "parameter_name": "", "text": "x"})),
        ["template.components[0].parameters[0].parameter_name"],
    ),
    (
        "bad parameter in second button",
        template([button(), button(index=1, parameters=[{}])]),
        ["template.components[1].parameters[0].type"],
    ),
]


@pytest.mark.parametrize(("label", "body", "fields"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_request_names_each_field(label: str, body: Any, fields: list[str]) -> None:
    got = errors_of(body)
    assert [f["field"] for f in got] == fields, got
    for f in got:
        assert f["message"] and "Input should" not in f["message"], f


def test_every_problem_is_reported_at_once() -> None:
    body = {
        "to": 4915112345678,
        "type": "text",
        "text": {"body": "", "preview_url": "yes"},
        "template": {"name": "x"},
        "context": {},
        "metadata": [1],
    }
    assert errors_of(body) == [
        {"field": "to", "message": "must be a string"},
        {"field": "context.message_id", "message": "is required"},
        {"field": "metadata", "message": "must be an object"},
        {"field": "text.body", "message": "must not be empty"},
        {"field": "text.preview_url", "message": "must be true or false"},
        {"field": "template", "message": "is not allowed for type text"},
    ]


MESSAGES = [
    (
        "text of 4097 chars",
        text(text={"body": "x" * 4097}),
        "text.body",
        "must be at most 4096 characters",
    ),
    ("whitespace text", text(text={"body": "   "}), "text.body", "must not be only whitespace"),
    ("7 digits", text(to="1234567"), "to", "must be 8 to 15 digits (E.164), optionally after a +"),
    (
        "unknown type",
        text(type="fax"),
        "type",
        "must be one of: text, template, image, video, audio, document, sticker, location, "
        "contacts, interactive, reaction",
    ),
    ("missing type", text(type=_DROP), "type", "is required"),
    (
        "validity of 30 days and 1 s",
        text(validity_period_s=2592001),
        "validity_period_s",
        "must be at most 2592000",
    ),
    ("validity of 0 s", text(validity_period_s=0), "validity_period_s", "must be at least 1"),
    ("text object missing", text(text=_DROP), "text", "is required for type text"),
    (
        "template with text object extra",
        template(text={"body": "hi"}),
        "text",
        "is not allowed for type template",
    ),
    ("unknown top-level key", text(priority="high"), "priority", "is not allowed"),
    (
        "bad JSON",
        b"{nope",
        "body",
        "must be a JSON object; this is not valid JSON (key must be a string at line 1 column 2)",
    ),
    ("JSON array body", b"[]", "body", "must be a JSON object"),
    (
        "metadata too big",
        text(metadata=_metadata_of_bytes(4097)),
        "metadata",
        "must be at most 4096 bytes as compact JSON (is 4097)",
    ),
    (
        "recipient_type group",
        text(recipient_type="group"),
        "recipient_type",
        "must be 'individual'",
    ),
    (
        "button component without index",
        template([button(index=_DROP)]),
        "template.components[0].index",
        "is required for type button",
    ),
    (
        "body component with index",
        template([{"type": "body", "index": 0, "parameters": []}]),
        "template.components[0].index",
        "is not allowed for type body",
    ),
    (
        "button index 10",
        template([button(index=10)]),
        "template.components[0].index",
        "must be the button's position from 0 to 9, as a number or a string",
    ),
    (
        'button index "a"',
        template([button(index="a")]),
        "template.components[0].index",
        "must be the button's position from 0 to 9, as a number or a string",
    ),
    (
        "11 components",
        template(params({"type": "text", "text": "1"}) * 11),
        "template.components",
        "must have at most 10 items",
    ),
    (
        "template bad language code",
        template(template={"name": "a", "language": {"code": "EN"}}),
        "template.language.code",
        "must be a language code like en or en_US",
    ),
    (
        "template name uppercase",
        template(template={"name": "Order", "language": {"code": "en"}}),
        "template.name",
        "must be lowercase letters, digits and underscores",
    ),
    (
        "parameter of unknown type",
        template(params({"type": "emoji"})),
        "template.components[0].parameters[0].type",
        "must be one of: text, currency, date_time",
    ),
    (
        "NUL in text",
        text(text={"body": "a\x00b"}),
        "text.body",
        "must not contain the character U+0000",
    ),
]


@pytest.mark.parametrize(
    ("label", "body", "field", "message"), MESSAGES, ids=[c[0] for c in MESSAGES]
)
def test_error_message(label: str, body: Any, field: str, message: str) -> None:
    assert {"field": field, "message": message} in errors_of(body)


def test_error_body_is_the_api_shape() -> None:
    with pytest.raises(ValidationError) as info:
        parse_send_request(orjson.dumps(text(text={"body": "x" * 4097})))
    assert info.value.status == 400
    assert info.value.body() == {
        "error": {
            "code": "validation_error",
            "message": "text.body: must be at most 4096 characters",
            "fields": [{"field": "text.body", "message": "must be at most 4096 characters"}],
        }
    }


# ------------------------------------------------------------------- the registry


def test_registry_is_the_union_and_its_schema() -> None:
    schema = send_request_schema()
    assert schema["discriminator"]["propertyName"] == "type"
    assert set(schema["discriminator"]["mapping"]) == set(CONTENT_TYPES)
    assert errors_of(text(type="fax")) == [
        {"field": "type", "message": "must be one of: " + ", ".join(CONTENT_TYPES)}
    ]
