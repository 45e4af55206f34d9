"""interactive: reply buttons, lists, CTA URL buttons, Flows and location requests, each with
the headers Meta allows it and Meta's limits on every text, count and id."""

from __future__ import annotations

import pytest

from tests.support.send_cases import DROP, Bad, accepted, changed, check_bad, ids, valid_request

BUTTONS = valid_request("interactive_button_image_header")
LIST = valid_request("interactive_list_two_sections")
CTA = valid_request("interactive_cta_url")
FLOW = valid_request("interactive_flow_navigate")
FLOW_BY_NAME = valid_request("interactive_flow_data_exchange_by_name")
LOCATION = valid_request("interactive_location_request")

B = "interactive.action.buttons"
S = "interactive.action.sections"
P = "interactive.action.parameters"


def reply(i: int) -> dict:
    return {"type": "reply", "reply": {"id": f"id{i}", "title": f"Title {i}"}}


def rows(count: int, start: int = 0) -> list[dict]:
    return [{"id": f"row{i}", "title": f"Row {i}"} for i in range(start, start + count)]


INVALID = [
    # the union itself
    Bad(
        "interactive type missing",
        changed(BUTTONS, {"interactive.type": DROP}),
        ["interactive.type"],
        "is required",
    ),
    Bad(
        "interactive type unknown",
        changed(BUTTONS, {"interactive.type": "carousel"}),
        ["interactive.type"],
        "must be one of: button, list, cta_url, flow, location_request_message",
    ),
    Bad(
        "body missing",
        changed(BUTTONS, {"interactive.body": DROP}),
        ["interactive.body"],
        "is required",
    ),
    Bad(
        "body of 1025 chars",
        changed(BUTTONS, {"interactive.body.text": "b" * 1025}),
        ["interactive.body.text"],
        "must be at most 1024 characters",
    ),
    Bad(
        "body blank",
        changed(BUTTONS, {"interactive.body.text": " \n "}),
        ["interactive.body.text"],
        "must not be only whitespace",
    ),
    Bad(
        "footer of 61 chars",
        changed(BUTTONS, {"interactive.footer.text": "f" * 61}),
        ["interactive.footer.text"],
        "must be at most 60 characters",
    ),
    Bad(
        "header text of 61 chars",
        changed(BUTTONS, {"interactive.header": {"type": "text", "text": "h" * 61}}),
        ["interactive.header.text"],
        "must be at most 60 characters",
    ),
    Bad(
        "header of unknown type",
        changed(BUTTONS, {"interactive.header": {"type": "audio", "audio": {"id": "1"}}}),
        ["interactive.header.type"],
        "must be one of: text, image, video, document",
    ),
    Bad(
        "header image over http",
        changed(BUTTONS, {"interactive.header.image.link": "http://a.com/a.png"}),
        ["interactive.header.image.link"],
        "must be an https:// URL",
    ),
    Bad(
        "header image with caption",
        changed(BUTTONS, {"interactive.header.image.caption": "x"}),
        ["interactive.header.image.caption"],
        "is not allowed",
    ),
    Bad(
        "header image without id or link",
        changed(BUTTONS, {"interactive.header.image": {}}),
        ["interactive.header.image"],
        "must have id or link",
    ),
    # reply buttons
    Bad(
        "4 buttons",
        changed(BUTTONS, {B: [reply(i) for i in range(4)]}),
        [B],
        "must have at most 3 items",
    ),
    Bad("no buttons", changed(BUTTONS, {B: []}), [B], "must have at least 1 item"),
    Bad(
        "button title of 21 chars",
        changed(BUTTONS, {f"{B}[2].reply.title": "t" * 21}),
        [f"{B}[2].reply.title"],
        "must be at most 20 characters",
    ),
    Bad(
        "button title empty",
        changed(BUTTONS, {f"{B}[0].reply.title": ""}),
        [f"{B}[0].reply.title"],
        "must not be empty",
    ),
    Bad(
        "button id of 257 chars",
        changed(BUTTONS, {f"{B}[1].reply.id": "i" * 257}),
        [f"{B}[1].reply.id"],
        "must be at most 256 characters",
    ),
    Bad(
        "button id with a trailing space",
        changed(BUTTONS, {f"{B}[1].reply.id": "change "}),
        [f"{B}[1].reply.id"],
        "must not start or end with a space",
    ),
    Bad(
        "button ids repeated",
        changed(BUTTONS, {f"{B}[2].reply.id": "keep"}),
        [f"{B}[2].reply.id"],
        "must be unique: another button id is 'keep'",
    ),
    Bad(
        "button titles repeated",
        changed(BUTTONS, {f"{B}[1].reply.title": "Keep it"}),
        [f"{B}[1].reply.title"],
        "must be unique: another button title is 'Keep it'",
    ),
    Bad(
        "button type url",
        changed(BUTTONS, {f"{B}[0].type": "url"}),
        [f"{B}[0].type"],
        "must be 'reply'",
    ),
    Bad(
        "button without reply",
        changed(BUTTONS, {f"{B}[0].reply": DROP}),
        [f"{B}[0].reply"],
        "is required",
    ),
    Bad(
        "buttons with a list action",
        changed(BUTTONS, {"interactive.action": LIST["interactive"]["action"]}),
        ["interactive.action.buttons", "interactive.action.button", "interactive.action.sections"],
        "is required",
    ),
    # lists
    Bad(
        "list with an image header",
        changed(LIST, {"interactive.header": BUTTONS["interactive"]["header"]}),
        ["interactive.header.type"],
        "must be one of: text",
    ),
    Bad(
        "list body of 4097 chars",
        changed(LIST, {"interactive.body.text": "b" * 4097}),
        ["interactive.body.text"],
        "must be at most 4096 characters",
    ),
    Bad(
        "list button text of 21 chars",
        changed(LIST, {"interactive.action.button": "b" * 21}),
        ["interactive.action.button"],
        "must be at most 20 characters",
    ),
    Bad(
        "list without button text",
        changed(LIST, {"interactive.action.button": DROP}),
        ["interactive.action.button"],
        "is required",
    ),
    Bad(
        "11 rows in one section",
        changed(LIST, {S: [{"title": "All", "rows": rows(11)}]}),
        [f"{S}[0].rows"],
        "must have at most 10 items",
    ),
    Bad(
        "11 rows across two sections",
        changed(LIST, {f"{S}[1].rows": rows(6, start=5)}),
        [f"{S}[1].rows[5]"],
        "is one row too many: a list has at most 10 rows in all sections",
    ),
    Bad(
        "11 sections",
        changed(LIST, {S: [{"title": f"S{i}", "rows": rows(1, i)} for i in range(11)]}),
        [S],
        "must have at most 10 items",
    ),
    Bad("no sections", changed(LIST, {S: []}), [S], "must have at least 1 item"),
    Bad(
        "a section without rows",
        changed(LIST, {f"{S}[1].rows": []}),
        [f"{S}[1].rows"],
        "must have at least 1 item",
    ),
    Bad(
        "row title of 25 chars",
        changed(LIST, {f"{S}[1].rows[0].title": "t" * 25}),
        [f"{S}[1].rows[0].title"],
        "must be at most 24 characters",
    ),
    Bad(
        "row description of 73 chars",
        changed(LIST, {f"{S}[0].rows[3].description": "d" * 73}),
        [f"{S}[0].rows[3].description"],
        "must be at most 72 characters",
    ),
    Bad(
        "row id of 201 chars",
        changed(LIST, {f"{S}[1].rows[0].id": "r" * 201}),
        [f"{S}[1].rows[0].id"],
        "must be at most 200 characters",
    ),
    Bad(
        "row ids repeated across sections",
        changed(LIST, {f"{S}[1].rows[2].id": "express_0"}),
        [f"{S}[1].rows[2].id"],
        "must be unique: another row id is 'express_0'",
    ),
    Bad(
        "section title of 25 chars",
        changed(LIST, {f"{S}[0].title": "s" * 25}),
        [f"{S}[0].title"],
        "must be at most 24 characters",
    ),
    Bad(
        "untitled section among two",
        changed(LIST, {f"{S}[1].title": DROP}),
        [f"{S}[1].title"],
        "is required when the list has more than one section",
    ),
    Bad(
        "row without title",
        changed(LIST, {f"{S}[0].rows[0].title": DROP}),
        [f"{S}[0].rows[0].title"],
        "is required",
    ),
    # CTA URL
    Bad(
        "cta_url display_text of 21 chars",
        changed(CTA, {f"{P}.display_text": "d" * 21}),
        [f"{P}.display_text"],
        "must be at most 20 characters",
    ),
    Bad(
        "cta_url url not a URL",
        changed(CTA, {f"{P}.url": "www.example.com"}),
        [f"{P}.url"],
        "must be an http(s):// URL",
    ),
    Bad("cta_url url missing", changed(CTA, {f"{P}.url": DROP}), [f"{P}.url"], "is required"),
    Bad(
        "cta_url action name wrong",
        changed(CTA, {"interactive.action.name": "url"}),
        ["interactive.action.name"],
        "must be 'cta_url'",
    ),
    Bad(
        "cta_url header document without link",
        changed(CTA, {"interactive.header": {"type": "document", "document": {"filename": "a"}}}),
        ["interactive.header.document"],
        "must have id or link",
    ),
    # Flows
    Bad(
        "flow with flow_id and flow_name",
        changed(FLOW, {f"{P}.flow_name": "signup"}),
        [f"{P}.flow_name"],
        "must not be given with flow_id (use one of them)",
    ),
    Bad(
        "flow with neither flow_id nor flow_name",
        changed(FLOW, {f"{P}.flow_id": DROP}),
        [P],
        "must have flow_id or flow_name",
    ),
    Bad(
        "flow version 2",
        changed(FLOW, {f"{P}.flow_message_version": "2"}),
        [f"{P}.flow_message_version"],
        "must be '3'",
    ),
    Bad(
        "flow version a number",
        changed(FLOW, {f"{P}.flow_message_version": 3}),
        [f"{P}.flow_message_version"],
        "must be '3'",
    ),
    Bad(
        "flow_cta of 31 chars",
        changed(FLOW, {f"{P}.flow_cta": "c" * 31}),
        [f"{P}.flow_cta"],
        "must be at most 30 characters",
    ),
    Bad(
        "flow mode live",
        changed(FLOW, {f"{P}.mode": "live"}),
        [f"{P}.mode"],
        "must be 'draft' or 'published'",
    ),
    Bad(
        "flow payload without screen",
        changed(FLOW, {f"{P}.flow_action_payload.screen": DROP}),
        [f"{P}.flow_action_payload.screen"],
        "is required",
    ),
    Bad(
        "flow payload data empty",
        changed(FLOW, {f"{P}.flow_action_payload.data": {}}),
        [f"{P}.flow_action_payload.data"],
        "must have at least 1 item",
    ),
    Bad(
        "flow data_exchange with a payload",
        changed(FLOW_BY_NAME, {f"{P}.flow_action_payload": {"screen": "A"}}),
        [f"{P}.flow_action_payload"],
        "is not allowed with flow_action data_exchange",
    ),
    Bad(
        "flow action unknown",
        changed(FLOW, {f"{P}.flow_action": "open"}),
        [f"{P}.flow_action"],
        "must be 'navigate' or 'data_exchange'",
    ),
    # location requests
    Bad(
        "location request with a header",
        changed(LOCATION, {"interactive.header": {"type": "text", "text": "Hi"}}),
        ["interactive.header"],
        "is not allowed for type location_request_message",
    ),
    Bad(
        "location request with a footer",
        changed(LOCATION, {"interactive.footer": {"text": "x"}}),
        ["interactive.footer"],
        "is not allowed for type location_request_message",
    ),
    Bad(
        "location request action name wrong",
        changed(LOCATION, {"interactive.action.name": "location"}),
        ["interactive.action.name"],
        "must be 'send_location'",
    ),
    Bad(
        "location request body of 1025 chars",
        changed(LOCATION, {"interactive.body.text": "b" * 1025}),
        ["interactive.body.text"],
        "must be at most 1024 characters",
    ),
]

VALID_EDGES = [
    (
        "1 button, no header or footer",
        changed(
            BUTTONS,
            {
                "interactive": {
                    "type": "button",
                    "body": {"text": "ok?"},
                    "action": {"buttons": [reply(0)]},
                }
            },
        ),
    ),
    ("button body of 1024 chars", changed(BUTTONS, {"interactive.body.text": "b" * 1024})),
    (
        "text header of 60 chars",
        changed(BUTTONS, {"interactive.header": {"type": "text", "text": "h" * 60}}),
    ),
    (
        "video header by id",
        changed(BUTTONS, {"interactive.header": {"type": "video", "video": {"id": "7"}}}),
    ),
    (
        "10 sections of 1 row",
        changed(LIST, {S: [{"title": f"S{i}", "rows": rows(1, i)} for i in range(10)]}),
    ),
    ("row description empty", changed(LIST, {f"{S}[0].rows[0].description": ""})),
    # Meta's rule is about the ends only: an id may hold a line break (the simulator refused it)
    ("row id with a line break inside", changed(LIST, {f"{S}[0].rows[0].id": "line\nbreak"})),
    ("cta_url over http", changed(CTA, {f"{P}.url": "http://example.com/x"})),
    (
        "flow with only the required parameters",
        changed(FLOW, {P: {"flow_message_version": "3", "flow_id": "1", "flow_cta": "Go"}}),
    ),
    ("flow navigate without payload", changed(FLOW, {f"{P}.flow_action_payload": DROP})),
    ("location request as a reply", changed(LOCATION, {"context": {"message_id": "wamid.Q"}})),
]


@pytest.mark.parametrize("case", INVALID, ids=ids(INVALID))
def test_invalid_interactive_names_the_field(case: Bad) -> None:
    check_bad(case)


@pytest.mark.parametrize(("label", "body"), VALID_EDGES, ids=[c[0] for c in VALID_EDGES])
def test_valid_interactive_edge(label: str, body: dict) -> None:
    accepted(body)
