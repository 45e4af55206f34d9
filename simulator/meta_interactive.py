"""What Meta checks in an `interactive` object: reply buttons, lists, CTA URL buttons, Flows
and location requests, with Meta's limits (`whatsapp.interactive_rules`)."""

from __future__ import annotations

from typing import Any

from simulator.meta_shapes import (
    Check,
    anything,
    array,
    by_type,
    distinct,
    either,
    keyed,
    media,
    non_empty_object,
    obj,
    one_of,
    text,
)
from whatsapp import interactive_rules as rules

_HEADERS = {
    "text": text(rules.HEADER_TEXT_MAX_CHARS, shown=True),
    "image": media(),
    "video": media(),
    "document": media(filename=True),
}
_FOOTER = obj({"text": text(rules.FOOTER_MAX_CHARS, shown=True)})


def _choice_id(max_chars: int) -> Check:
    return text(max_chars, pattern=rules.CHOICE_ID_PATTERN)


_REPLY = obj(
    {
        "id": _choice_id(rules.BUTTON_ID_MAX_CHARS),
        "title": text(rules.BUTTON_TITLE_MAX_CHARS, shown=True),
    }
)
_BUTTONS = obj(
    {
        "buttons": array(
            obj({"type": one_of("reply"), "reply": _REPLY}), high=rules.REPLY_BUTTONS_MAX
        )
    },
    {},
    distinct(lambda a: [b["reply"]["id"] for b in a["buttons"]], "button ids"),
    distinct(lambda a: [b["reply"]["title"] for b in a["buttons"]], "button titles"),
)


def _rows(action: dict[str, Any]) -> list[Any]:
    return [row["id"] for section in action["sections"] for row in section["rows"]]


def _list_rules(action: dict[str, Any], path: str) -> str | None:
    if len(_rows(action)) > rules.ROWS_MAX:
        return f"Param {path}['sections'] must have at most {rules.ROWS_MAX} rows in total"
    if len(action["sections"]) > 1 and not all("title" in s for s in action["sections"]):
        return f"Param {path}['sections'] need a title each when there are several"
    return None


_ROW = obj(
    {
        "id": _choice_id(rules.ROW_ID_MAX_CHARS),
        "title": text(rules.ROW_TITLE_MAX_CHARS, shown=True),
    },
    {"description": text(rules.ROW_DESCRIPTION_MAX_CHARS, empty=True)},
)
_SECTION = obj(
    {"rows": array(_ROW, high=rules.ROWS_MAX)},
    {"title": text(rules.SECTION_TITLE_MAX_CHARS, shown=True)},
)
_LIST = obj(
    {
        "button": text(rules.LIST_BUTTON_MAX_CHARS, shown=True),
        "sections": array(_SECTION, high=rules.SECTIONS_MAX),
    },
    {},
    _list_rules,
    distinct(_rows, "row ids"),
)


def _flow_payload_only_to_navigate(value: dict[str, Any], path: str) -> str | None:
    if value.get("flow_action") == "data_exchange" and "flow_action_payload" in value:
        return f"Param {path}['flow_action_payload'] must be omitted for data_exchange"
    return None


_FLOW = obj(
    {
        "name": one_of("flow"),
        "parameters": obj(
            {
                "flow_message_version": one_of(*rules.FLOW_MESSAGE_VERSIONS),
                "flow_cta": text(rules.FLOW_CTA_MAX_CHARS, shown=True),
            },
            {
                "flow_id": text(),
                "flow_name": text(),
                "flow_token": text(),
                "mode": one_of(*rules.FLOW_MODES),
                "flow_action": one_of(*rules.FLOW_ACTIONS),
                "flow_action_payload": obj({"screen": text()}, {"data": non_empty_object}),
            },
            either("flow_id", "flow_name"),
            _flow_payload_only_to_navigate,
        ),
    }
)
_CTA_URL = obj(
    {
        "name": one_of("cta_url"),
        "parameters": obj(
            {
                "display_text": text(rules.CTA_DISPLAY_TEXT_MAX_CHARS, shown=True),
                "url": text(pattern=rules.CTA_URL_PATTERN),
            }
        ),
    }
)


def _interactive(
    action: Check, headers: tuple[str, ...] = rules.HEADER_TYPES, body: int = rules.BODY_MAX_CHARS
) -> Check:
    header = keyed({k: _HEADERS[k] for k in headers})
    return obj(
        {"type": anything, "body": obj({"text": text(body, shown=True)}), "action": action},
        {"header": header, "footer": _FOOTER},
    )


INTERACTIVE = by_type(
    {
        "button": _interactive(_BUTTONS),
        "list": _interactive(_LIST, rules.LIST_HEADER_TYPES, rules.LIST_BODY_MAX_CHARS),
        "cta_url": _interactive(_CTA_URL),
        "flow": _interactive(_FLOW),
        "location_request_message": obj(
            {
                "type": anything,
                "body": obj({"text": text(rules.BODY_MAX_CHARS, shown=True)}),
                "action": obj({"name": one_of("send_location")}),
            }
        ),
    }
)
