"""template components: each takes the parameter types Meta allows it (header: one text of 60
characters, media or location; body: text, currency, date_time; footer: none; a button: the
values its sub_type takes), with currency, media and location values checked like their own
types."""

from __future__ import annotations

import pytest

from tests.support.send_cases import DROP, Bad, accepted, changed, check_bad, ids, valid_request

EVERY = valid_request("template_every_component")
CALL = valid_request("template_text_and_video_headers")  # [2] is a voice_call button
LOCATED = valid_request("template_location_header")
DOCUMENTED = valid_request("template_document_header_named")

C = "template.components"


def ttl(minutes: object) -> dict:
    return {"type": "ttl_minutes", "ttl_minutes": minutes}


def header(*parameters: dict) -> dict:
    return changed(EVERY, {f"{C}[0].parameters": list(parameters)})


INVALID = [
    # header
    Bad(
        "header text parameter of 61 chars",
        header({"type": "text", "text": "h" * 61}),
        [f"{C}[0].parameters[0].text"],
        "must be at most 60 characters",
    ),
    Bad(
        "two header parameters",
        header({"type": "text", "text": "a"}, {"type": "text", "text": "b"}),
        [f"{C}[0].parameters"],
        "must have at most 1 item",
    ),
    Bad(
        "currency in the header",
        header(
            {
                "type": "currency",
                "currency": {"fallback_value": "1", "code": "EUR", "amount_1000": 1},
            }
        ),
        [f"{C}[0].parameters[0].type"],
        "must be one of: text, image, video, document, location",
    ),
    Bad(
        "header image over http",
        header({"type": "image", "image": {"link": "http://a.com/a.png"}}),
        [f"{C}[0].parameters[0].image.link"],
        "must be an https:// URL",
    ),
    Bad(
        "header image with id and link",
        header({"type": "image", "image": {"id": "1", "link": "https://a.com/a.png"}}),
        [f"{C}[0].parameters[0].image.link"],
        "must not be given with id (use one of them)",
    ),
    Bad(
        "header video with caption",
        header({"type": "video", "video": {"id": "1", "caption": "x"}}),
        [f"{C}[0].parameters[0].video.caption"],
        "is not allowed",
    ),
    Bad(
        "header document without id or link",
        changed(DOCUMENTED, {f"{C}[0].parameters[0].document.link": DROP}),
        [f"{C}[0].parameters[0].document"],
        "must have id or link",
    ),
    Bad(
        "header location latitude 91",
        changed(LOCATED, {f"{C}[0].parameters[0].location.latitude": 91}),
        [f"{C}[0].parameters[0].location.latitude"],
        "must be at most 90",
    ),
    Bad(
        "header location without longitude",
        changed(LOCATED, {f"{C}[0].parameters[0].location.longitude": DROP}),
        [f"{C}[0].parameters[0].location.longitude"],
        "is required",
    ),
    # body
    Bad(
        "image in the body",
        changed(EVERY, {f"{C}[1].parameters[0]": {"type": "image", "image": {"id": "1"}}}),
        [f"{C}[1].parameters[0].type"],
        "must be one of: text, currency, date_time",
    ),
    Bad(
        "currency code lowercase",
        changed(EVERY, {f"{C}[1].parameters[1].currency.code": "brl"}),
        [f"{C}[1].parameters[1].currency.code"],
        "must be an ISO 4217 code like EUR",
    ),
    Bad(
        "currency amount a float",
        changed(EVERY, {f"{C}[1].parameters[1].currency.amount_1000": 99.9}),
        [f"{C}[1].parameters[1].currency.amount_1000"],
        "must be an integer",
    ),
    Bad(
        "currency without fallback",
        changed(EVERY, {f"{C}[1].parameters[1].currency.fallback_value": DROP}),
        [f"{C}[1].parameters[1].currency.fallback_value"],
        "is required",
    ),
    Bad(
        "date_time without fallback",
        changed(EVERY, {f"{C}[1].parameters[2].date_time": {}}),
        [f"{C}[1].parameters[2].date_time.fallback_value"],
        "is required",
    ),
    Bad(
        "date_time with a legacy field",
        changed(EVERY, {f"{C}[1].parameters[2].date_time.day_of_week": 5}),
        [f"{C}[1].parameters[2].date_time.day_of_week"],
        "is not allowed",
    ),
    # buttons
    Bad(
        "quick_reply button with a text parameter",
        changed(EVERY, {f"{C}[4].parameters[0]": {"type": "text", "text": "x"}}),
        [f"{C}[4].parameters[0].type"],
        "must be payload for a quick_reply button",
    ),
    Bad(
        "url button with a payload",
        changed(EVERY, {f"{C}[3].parameters[0]": {"type": "payload", "payload": "x"}}),
        [f"{C}[3].parameters[0].type"],
        "must be text for a url button",
    ),
    Bad(
        "copy_code coupon of 21 chars",
        changed(EVERY, {f"{C}[5].parameters[0].coupon_code": "C" * 21}),
        [f"{C}[5].parameters[0].coupon_code"],
        "must be at most 20 characters",
    ),
    Bad(
        "flow button with a coupon",
        changed(EVERY, {f"{C}[6].parameters[0]": {"type": "coupon_code", "coupon_code": "X"}}),
        [f"{C}[6].parameters[0].type"],
        "must be action for a flow button",
    ),
    Bad(
        "button index a float",
        changed(EVERY, {f"{C}[3].index": 1.0}),
        [f"{C}[3].index"],
        "must be the button's position from 0 to 9, as a number or a string",
    ),
    Bad(
        "button index a digit of another script",
        changed(EVERY, {f"{C}[3].index": "\u0663"}),
        [f"{C}[3].index"],
    ),
    Bad(
        "flow button action not an object",
        changed(EVERY, {f"{C}[6].parameters[0].action": "tok-1"}),
        [f"{C}[6].parameters[0].action"],
        "must be an object",
    ),
    Bad(
        "voice_call button with a text",
        changed(CALL, {f"{C}[2].parameters": [{"type": "text", "text": "x"}]}),
        [f"{C}[2].parameters[0].type"],
        "must be ttl_minutes or payload for a voice_call button",
    ),
    Bad(
        "voice_call ttl_minutes as a string",
        changed(CALL, {f"{C}[2].parameters": [{"type": "ttl_minutes", "ttl_minutes": "60"}]}),
        [f"{C}[2].parameters[0].ttl_minutes"],
        "must be an integer",
    ),
    # footer
    Bad(
        "footer with a variable",
        changed(EVERY, {f"{C}[2].parameters": [{"type": "text", "text": "x"}]}),
        [f"{C}[2].parameters"],
        "must be empty",
    ),
    # language
    Bad(
        "language code in capitals",
        changed(EVERY, {"template.language.code": "PT_BR"}),
        ["template.language.code"],
        "must be a language code like en or en_US",
    ),
    Bad(
        "currency on a button",
        changed(EVERY, {f"{C}[4].parameters[0]": {"type": "currency", "currency": {}}}),
        [f"{C}[4].parameters[0].type"],
        "must be one of: payload, text, coupon_code, action, ttl_minutes",
    ),
]

# (label, accepted at the limit, refused one past it, the field named)
BOUNDARIES = [
    (
        "one header parameter, not two",
        header({"type": "text", "text": "a"}),
        header({"type": "text", "text": "a"}, {"type": "text", "text": "b"}),
        f"{C}[0].parameters",
    ),
    (
        "header location needs no name, but a longitude",
        changed(LOCATED, {f"{C}[0].parameters[0].location": {"latitude": 0, "longitude": -180}}),
        changed(LOCATED, {f"{C}[0].parameters[0].location": {"latitude": 0}}),
        f"{C}[0].parameters[0].location.longitude",
    ),
    (
        "negative amounts, not fractions",
        changed(EVERY, {f"{C}[1].parameters[1].currency.amount_1000": -500}),
        changed(EVERY, {f"{C}[1].parameters[1].currency.amount_1000": -0.5}),
        f"{C}[1].parameters[1].currency.amount_1000",
    ),
    (
        "button index as Meta's examples write it, a string, but one digit",
        changed(EVERY, {f"{C}[3].index": "9"}),
        changed(EVERY, {f"{C}[3].index": "10"}),
        f"{C}[3].index",
    ),
    (
        "button index 9, not 10",
        changed(EVERY, {f"{C}[3].index": 9}),
        changed(EVERY, {f"{C}[3].index": 10}),
        f"{C}[3].index",
    ),
    (
        "coupon of 20 chars, not 21",
        changed(EVERY, {f"{C}[5].parameters[0].coupon_code": "C" * 20}),
        changed(EVERY, {f"{C}[5].parameters[0].coupon_code": "C" * 21}),
        f"{C}[5].parameters[0].coupon_code",
    ),
    (  # Meta's call button page: both optional, ttl_minutes 1 to 43200
        "voice_call button with ttl_minutes and payload, not a coupon",
        changed(CALL, {f"{C}[2].parameters": [ttl(100), {"type": "payload", "payload": "c-42"}]}),
        changed(CALL, {f"{C}[2].parameters": [{"type": "coupon_code", "coupon_code": "X"}]}),
        f"{C}[2].parameters[0].type",
    ),
    (
        "call button alive 43200 minutes (30 days), not 43201",
        changed(CALL, {f"{C}[2].parameters": [ttl(43200)]}),
        changed(CALL, {f"{C}[2].parameters": [ttl(43201)]}),
        f"{C}[2].parameters[0].ttl_minutes",
    ),
    (
        "call button alive 1 minute, not 0",
        changed(CALL, {f"{C}[2].parameters": [ttl(1)]}),
        changed(CALL, {f"{C}[2].parameters": [ttl(0)]}),
        f"{C}[2].parameters[0].ttl_minutes",
    ),
]


@pytest.mark.parametrize("case", INVALID, ids=ids(INVALID))
def test_invalid_template_names_the_field(case: Bad) -> None:
    check_bad(case)


@pytest.mark.parametrize(
    ("label", "ok", "bad", "field"), BOUNDARIES, ids=[b[0] for b in BOUNDARIES]
)
def test_template_boundary(label: str, ok: dict, bad: dict, field: str) -> None:
    accepted(ok)
    check_bad(Bad(label, bad, [field]))
