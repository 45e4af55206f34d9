"""What Meta's send endpoint checks in a message body, and the error bodies it answers with.

`TYPE_CHECKS` maps each message type to the shape of its object, with the limits Meta
documents (lengths, counts, required keys, `id` xor `link`); adding a type is one line there.
Written apart from the service's models on purpose: the end-to-end tests prove that what
the service sends is what this independent description of Meta accepts.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from simulator.meta_interactive import INTERACTIVE
from simulator.meta_shapes import (
    Check,
    anything,
    array,
    boolean,
    by_type,
    integer,
    keyed,
    media,
    number,
    obj,
    one_of,
    text,
)
from whatsapp.emoji import is_one_emoji

_TO = re.compile(r"\+?[0-9]{5,20}")
_ENVELOPE = {
    "messaging_product",
    "recipient_type",
    "to",
    "type",
    "context",
    "biz_opaque_callback_data",
}


def _button_index(value: Any, path: str) -> str | None:
    """A button's position, 0-9, as a number or (Meta's own examples) a string."""
    if isinstance(value, str) and len(value) == 1 and value.isdigit():
        return None
    return number(0, 9)(value, path)


def _emoji(value: Any, path: str) -> str | None:
    """Exactly one emoji, or "" to remove the reaction."""
    if not isinstance(value, str):
        return f"Param {path} must be a string"
    if value and not is_one_emoji(value):
        return f"Param {path} must be exactly one emoji"
    return None


def error_body(
    code: int,
    message: str,
    details: str | None = None,
    type_: str = "OAuthException",
    **extra: Any,
) -> dict[str, Any]:
    """Meta's Graph API error envelope; `details` goes in `error_data` as Meta puts it."""
    err: dict[str, Any] = {"message": message, "type": type_, "code": code, **extra}
    if details is not None:
        err["error_data"] = {"messaging_product": "whatsapp", "details": details}
    err["fbtrace_id"] = "A" + secrets.token_urlsafe(16)
    return {"error": err}


def invalid(details: str) -> dict[str, Any]:
    """The 400 for a body Meta would refuse."""
    return error_body(100, "(#100) Invalid parameter", details)


def check_message(body: Any) -> str | None:
    """None when Meta would accept `body`, else what is wrong with it."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object"
    if body.get("messaging_product") != "whatsapp":
        return "Param messaging_product must be 'whatsapp'"
    to = body.get("to")
    if not isinstance(to, str) or not _TO.fullmatch(to):
        return "Param to must be a phone number of digits, optionally starting with +"
    kind = body.get("type", "text")
    check = TYPE_CHECKS.get(kind) if isinstance(kind, str) else None
    if check is None:
        return f"Param type must be one of {{{', '.join(TYPE_CHECKS)}}}"
    if kind not in body:
        return f"Param {kind} is required"
    for key in body.keys() - _ENVELOPE - {kind}:
        return f"Param {key} is not a valid parameter for a {kind} message"
    if "context" in body:
        problem = _CONTEXT(body["context"], "context")
        if problem:
            return problem
    return check(body[kind], kind)


_CONTEXT = obj({"message_id": text()})
_LOCATION = obj(
    {"latitude": number(-90, 90), "longitude": number(-180, 180)},
    {"name": text(), "address": text()},
)

# -- templates
_PARAMETER = {
    "text": text(32768),
    "currency": obj(
        {"fallback_value": text(), "code": text(pattern="[A-Z]{3}"), "amount_1000": integer}
    ),
    "date_time": obj({"fallback_value": text()}),
    "image": media(),
    "video": media(),
    "document": media(filename=True),
    "location": _LOCATION,
    "payload": text(),
    "coupon_code": text(20),
    "action": anything,
}


def _parameters(*kinds: str, high: int | None = None, **override: Check) -> Check:
    shapes = {k: override.get(k, _PARAMETER[k]) for k in kinds}
    return array(keyed(shapes, parameter_name=text()), low=0, high=high)


_BUTTON_PARAMETER = {
    "quick_reply": "payload",
    "url": "text",
    "copy_code": "coupon_code",
    "flow": "action",
    "catalog": "action",
    "mpm": "action",
    "order_details": "action",
    "voice_call": None,
}


def _button_parameters_fit(value: dict[str, Any], path: str) -> str | None:
    wanted = _BUTTON_PARAMETER.get(value["sub_type"])
    if any(p.get("type") != wanted for p in value["parameters"]):
        return f"Param {path}['parameters'] must be of type {wanted} for this sub_type"
    return None


_COMPONENT = by_type(
    {
        "header": obj(
            {
                "type": anything,
                "parameters": _parameters(
                    "text", "image", "video", "document", "location", high=1, text=text(60)
                ),
            }
        ),
        "body": obj({"type": anything, "parameters": _parameters("text", "currency", "date_time")}),
        "footer": obj({"type": anything, "parameters": _parameters("text")}),
        "button": obj(
            {
                "type": anything,
                "sub_type": one_of(*_BUTTON_PARAMETER),
                "index": _button_index,
                "parameters": _parameters("payload", "text", "coupon_code", "action"),
            },
            {},
            _button_parameters_fit,
        ),
    }
)
_TEMPLATE = obj(
    {
        "name": text(512, pattern="[a-z0-9_]+"),
        "language": obj({"code": text()}, {"policy": one_of("deterministic")}),
    },
    {"components": array(_COMPONENT, low=0, high=10)},
)

# -- contacts
_ANY_TEXT = text()
_NAME_PARTS = ("first_name", "last_name", "middle_name", "suffix", "prefix")


def _name_part(name: dict[str, Any], path: str) -> str | None:
    if not any(part in name for part in _NAME_PARTS):
        return f"Param {path} needs one of {', '.join(_NAME_PARTS)} besides formatted_name"
    return None


_CONTACT = obj(
    {"name": obj({"formatted_name": text()}, {k: _ANY_TEXT for k in _NAME_PARTS}, _name_part)},
    {
        "addresses": array(
            obj(
                {},
                {
                    k: _ANY_TEXT
                    for k in ("street", "city", "state", "zip", "country", "country_code", "type")
                },
            ),
            low=0,
        ),
        "birthday": text(pattern="[0-9]{4}-[0-9]{2}-[0-9]{2}"),
        "emails": array(
            obj({"email": text(pattern=r"[^@\s]+@[^@\s]+")}, {"type": _ANY_TEXT}), low=0
        ),
        "org": obj({}, {"company": _ANY_TEXT, "department": _ANY_TEXT, "title": _ANY_TEXT}),
        "phones": array(
            obj({"phone": _ANY_TEXT}, {"type": _ANY_TEXT, "wa_id": text(pattern="[0-9]+")}), low=0
        ),
        "urls": array(obj({"url": _ANY_TEXT}, {"type": _ANY_TEXT}), low=0),
    },
)

TYPE_CHECKS: dict[str, Check] = {
    "text": obj({"body": text(4096)}, {"preview_url": boolean}),
    "template": _TEMPLATE,
    "image": media(caption=True),
    "video": media(caption=True),
    "audio": media(voice=True),
    "document": media(caption=True, filename=True),
    "sticker": media(),
    "location": _LOCATION,
    "contacts": array(_CONTACT),
    "interactive": INTERACTIVE,
    "reaction": obj({"message_id": text(), "emoji": _emoji}),
}
