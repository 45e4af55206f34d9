"""What Meta checks in an `interactive` object: reply buttons, lists, CTA URL buttons, Flows
and location requests, with the limits of Meta's pages on each (see docs/message-types.md)."""

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

_HEADERS = {
    "text": text(60),
    "image": media(),
    "video": media(),
    "document": media(filename=True),
}
_BODY = obj({"text": text(1024)})
_FOOTER = obj({"text": text(60)})


def _choice_id(max_chars: int) -> Check:
    return text(max_chars, pattern=r"\S(.*\S)?")


_BUTTONS = obj(
    {
        "buttons": array(
            obj(
                {"type": one_of("reply"), "reply": obj({"id": _choice_id(256), "title": text(20)})}
            ),
            high=3,
        )
    },
    {},
    distinct(lambda a: [b["reply"]["id"] for b in a["buttons"]], "button ids"),
    distinct(lambda a: [b["reply"]["title"] for b in a["buttons"]], "button titles"),
)


def _rows(action: dict[str, Any]) -> list[Any]:
    return [row["id"] for section in action["sections"] for row in section["rows"]]


def _list_rules(action: dict[str, Any], path: str) -> str | None:
    if len(_rows(action)) > 10:
        return f"Param {path}['sections'] must have at most 10 rows in total"
    if len(action["sections"]) > 1 and not all("title" in s for s in action["sections"]):
        return f"Param {path}['sections'] need a title each when there are several"
    return None


_ROW = obj({"id": _choice_id(200), "title": text(24)}, {"description": text(72, empty=True)})
_LIST = obj(
    {
        "button": text(20),
        "sections": array(obj({"rows": array(_ROW, high=10)}, {"title": text(24)}), high=10),
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
            {"flow_message_version": one_of("3"), "flow_cta": text(30)},
            {
                "flow_id": text(),
                "flow_name": text(),
                "flow_token": text(),
                "mode": one_of("draft", "published"),
                "flow_action": one_of("navigate", "data_exchange"),
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
            {"display_text": text(20), "url": text(pattern=r"https?://[^\s/?#]+\S*")}
        ),
    }
)


def _interactive(
    action: Check, headers: tuple[str, ...] = tuple(_HEADERS), body: int = 1024
) -> Check:
    header = keyed({k: _HEADERS[k] for k in headers})
    return obj(
        {"type": anything, "body": obj({"text": text(body)}), "action": action},
        {"header": header, "footer": _FOOTER},
    )


INTERACTIVE = by_type(
    {
        "button": _interactive(_BUTTONS),
        "list": _interactive(_LIST, ("text",), body=4096),
        "cta_url": _interactive(_CTA_URL),
        "flow": _interactive(_FLOW),
        "location_request_message": obj(
            {"type": anything, "body": _BODY, "action": obj({"name": one_of("send_location")})}
        ),
    }
)
