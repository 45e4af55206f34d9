"""whatsapp.templates: Meta's template listing, read from recorded pages, and the parameters
each component of a send needs; a table of templates, then the paging rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from whatsapp.templates import MalformedTemplates, Page, parse_page, parse_template, placeholders

# Recorded answers of Meta's `GET /{version}/{waba_id}/message_templates`, one per page.
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "message_templates"


def page(name: str) -> dict[str, Any]:
    return orjson.loads((FIXTURES / f"{name}.json").read_bytes())


def needs(type_: str, *parameters: dict[str, Any], sub_type=None, index=None) -> dict[str, Any]:
    full = [{"parameter_name": None, "example": None, **p} for p in parameters]
    return {"type": type_, "sub_type": sub_type, "index": index, "parameters": full}


def text(example: str | None = None, name: str | None = None) -> dict[str, Any]:
    return {"type": "text", "parameter_name": name, "example": example}


@dataclass(frozen=True)
class Case:
    label: str
    page: str
    name: str
    status: str
    category: str | None
    parameter_format: str
    header: str | None
    needs: list[dict[str, Any]]


CASES = [
    Case(
        "named body, image header, static buttons",
        "page_1",
        "reservation_confirmation",
        "APPROVED",
        "UTILITY",
        "NAMED",
        "IMAGE",
        [
            needs("header", {"type": "image"}),
            needs(
                "body",
                text("4", "number_of_guests"),
                text("Saturday", "day"),
                text("August 30th, 2025", "date"),
                text("7:30 pm", "time"),
            ),
        ],
    ),
    Case(
        "text header, two body placeholders, url button suffix",
        "page_1",
        "order_delivery_update",
        "APPROVED",
        "UTILITY",
        "POSITIONAL",
        "TEXT",
        [
            needs("header", text("#1234")),
            needs("body", text("Pablo"), text("Monday")),
            needs("button", {"type": "text"}, sub_type="url", index=0),
        ],
    ),
    Case(
        "authentication: the code in the body and in the one-time-password url button",
        "page_1",
        "verification_code",
        "APPROVED",
        "AUTHENTICATION",
        "POSITIONAL",
        None,
        [
            needs("body", text("123456")),
            needs("button", {"type": "text"}, sub_type="url", index=0),
        ],
    ),
    Case(
        "video header, body without example, copy code button, paused",
        "page_2",
        "summer_sale_coupon",
        "PAUSED",
        "MARKETING",
        "POSITIONAL",
        "VIDEO",
        [
            needs("header", {"type": "video"}),
            needs("body", text()),
            needs("button", {"type": "coupon_code"}, sub_type="copy_code", index=0),
        ],
    ),
    Case(
        "document header, body without placeholders, rejected",
        "page_2",
        "invoice_ready",
        "REJECTED",
        "UTILITY",
        "POSITIONAL",
        "DOCUMENT",
        [needs("header", {"type": "document"})],
    ),
    Case(
        "location header, no parameter_format given",
        "page_2",
        "store_nearby",
        "PENDING",
        "MARKETING",
        "POSITIONAL",
        "LOCATION",
        [needs("header", {"type": "location"}), needs("body", text("8 pm"))],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_a_listed_template_and_what_a_send_of_it_needs(case: Case):
    [template] = [t for t in parse_page(page(case.page)).templates if t.name == case.name]
    assert template.status == case.status
    assert template.category == case.category
    assert template.parameter_format == case.parameter_format
    assert template.header_format() == case.header
    assert [n.as_dict() for n in template.needs] == case.needs
    assert template.components == next(
        t["components"] for t in page(case.page)["data"] if t.get("name") == case.name
    )


def test_pages_say_where_the_next_one_starts():
    first, last = parse_page(page("page_1")), parse_page(page("page_2"))
    assert first.after == "QVFIUnN5TjlsT0ZAuWDRJdXpKd2JfMUJ"
    assert last.after is None  # no `next`: the last page, whatever its cursors say
    assert [t.language for t in first.templates] == ["en_US"] * 3
    assert last.skipped == ["data[3]: no `name`"]  # left out, said why; the rest is read


@pytest.mark.parametrize(
    ("label", "body", "after"),
    [
        (
            "cursor from next alone",
            {"data": [], "paging": {"next": "https://g/x?after=QQ%3D%3D"}},
            "QQ==",
        ),
        (
            "empty next is the end",
            {"data": [], "paging": {"next": "", "cursors": {"after": "A"}}},
            None,
        ),
        ("no paging at all", {"data": []}, None),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_the_next_cursor(label: str, body: dict[str, Any], after: str | None):
    assert parse_page(body) == Page([], [], after)


@pytest.mark.parametrize(
    ("label", "body", "message"),
    [
        ("not an object", [], "no `data` list"),
        ("no data", {"paging": {}}, "no `data` list"),
        ("data not a list", {"data": {"name": "x"}}, "no `data` list"),
        (
            "next without a cursor",
            {"data": [], "paging": {"next": "https://g/x?limit=2"}},
            "cursor",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_an_answer_that_is_no_page_is_refused(label: str, body: Any, message: str):
    with pytest.raises(MalformedTemplates, match=message):
        parse_page(body)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi {{1}}, your order {{2}} ships {{1}}", ["1", "2"]),
        ("{{ 2 }} then {{1}}", ["2", "1"]),
        ("Hi {{first_name}}", ["first_name"]),
        ("No placeholders, only {braces} and {{}}", []),
        (None, []),
    ],
)
def test_placeholders(text: Any, expected: list[str]):
    assert placeholders(text) == expected


def test_positional_placeholders_are_counted_in_number_order():
    template = parse_template(
        {
            "name": "t",
            "language": "en",
            "status": "approved",
            "components": [
                {
                    "type": "BODY",
                    "text": "{{2}} before {{1}}",
                    "example": {"body_text": [["a", "b"]]},
                },
                "not a component",
            ],
        }
    )
    assert template.status == "APPROVED"
    assert [p.example for p in template.needs[0].parameters] == ["a", "b"]
