"""What Meta's send endpoint checks in a message body, and the error bodies it answers with.

`TYPE_CHECKS` maps each message type to the shape of its object (required keys, `id` xor
`link`...); adding a type is one line there. The limits, patterns and tables are Meta's rules
in `whatsapp` (`message_rules`, `interactive_rules`, `template_rules`, `emoji`), the same the
service's models are built from; the shapes are written here apart from those models, so the
end-to-end tests prove that what the service sends is what this description of Meta accepts.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from simulator.meta_interactive import INTERACTIVE
from simulator.meta_shapes import (
    Check,
    any_object,
    anything,
    array,
    boolean,
    by_type,
    integer,
    integer_in,
    keyed,
    media,
    number,
    obj,
    one_of,
    text,
)
from whatsapp import message_rules as messages
from whatsapp import template_rules as templates
from whatsapp.emoji import is_reaction
from whatsapp.recipients import USER_ID_PATTERN

_TO = re.compile(r"\+?[0-9]{5,20}")
_USER_ID = re.compile(USER_ID_PATTERN)
_ENVELOPE = {
    "messaging_product",
    "recipient_type",
    "to",
    "recipient",
    "type",
    "context",
    "biz_opaque_callback_data",
}


def _button_index(value: Any, path: str) -> str | None:
    if templates.is_button_index(value):
        return None
    return f"Param {path} must be the button's position, 0 to 9, as a number or a string"


def _emoji(value: Any, path: str) -> str | None:
    if not isinstance(value, str):
        return f"Param {path} must be a string"
    if not is_reaction(value):
        return f"Param {path} must be exactly one emoji, or empty"
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
    to, user_id = body.get("to"), body.get("recipient")
    if user_id is not None and (not isinstance(user_id, str) or not _USER_ID.match(user_id)):
        return "Param recipient must be a business-scoped user ID or parent business-scoped user ID"
    if (to is not None or user_id is None) and (not isinstance(to, str) or not _TO.fullmatch(to)):
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
    {"latitude": number(*messages.LATITUDE), "longitude": number(*messages.LONGITUDE)},
    {"name": text(), "address": text()},
)

# -- templates
_PARAMETER = {
    "text": text(templates.TEXT_MAX_CHARS),
    "currency": obj(
        {
            "fallback_value": text(),
            "code": text(pattern=templates.CURRENCY_CODE_PATTERN),
            "amount_1000": integer,
        }
    ),
    "date_time": obj({"fallback_value": text()}),
    "image": media(),
    "video": media(),
    "document": media(filename=True),
    "location": _LOCATION,
    "payload": text(),
    "coupon_code": text(templates.COUPON_CODE_MAX_CHARS),
    "action": any_object,
    "ttl_minutes": integer_in(*templates.TTL_MINUTES),
}


def _parameters(kinds: tuple[str, ...], high: int | None = None, **override: Check) -> Check:
    shapes = {k: override.get(k, _PARAMETER[k]) for k in kinds}
    return array(keyed(shapes, parameter_name=text()), low=0, high=high)


def _button_parameters_fit(value: dict[str, Any], path: str) -> str | None:
    wanted = templates.BUTTON_PARAMETERS[value["sub_type"]]
    if any(p.get("type") not in wanted for p in value["parameters"]):
        return f"Param {path}['parameters'] must be of type {' or '.join(wanted)} for this sub_type"
    return None


_COMPONENT = by_type(
    {
        "header": obj(
            {
                "type": anything,
                "parameters": _parameters(
                    templates.HEADER_PARAMETERS,
                    high=templates.HEADER_PARAMETERS_MAX,
                    text=text(templates.HEADER_TEXT_MAX_CHARS),
                ),
            }
        ),
        "body": obj({"type": anything, "parameters": _parameters(templates.BODY_PARAMETERS)}),
        "footer": obj(
            {"type": anything, "parameters": array(anything, 0, templates.FOOTER_PARAMETERS_MAX)}
        ),
        "button": obj(
            {
                "type": anything,
                "sub_type": one_of(*templates.BUTTON_PARAMETERS),
                "index": _button_index,
                "parameters": _parameters(templates.BUTTON_PARAMETER_TYPES),
            },
            {},
            _button_parameters_fit,
        ),
    }
)
_TEMPLATE = obj(
    {
        "name": text(templates.NAME_MAX_CHARS, pattern=templates.NAME_PATTERN),
        "language": obj(
            {"code": text(pattern=templates.LANGUAGE_CODE_PATTERN)},
            {"policy": one_of(*templates.LANGUAGE_POLICIES)},
        ),
    },
    {"components": array(_COMPONENT, low=0, high=templates.COMPONENTS_MAX)},
)

# -- contacts
_ANY_TEXT = text()


def _name_part(name: dict[str, Any], path: str) -> str | None:
    if not any(part in name for part in messages.NAME_PARTS):
        return f"Param {path} needs one of {', '.join(messages.NAME_PARTS)} besides formatted_name"
    return None


def _texts(keys: tuple[str, ...]) -> dict[str, Check]:
    return dict.fromkeys(keys, _ANY_TEXT)


_CONTACT = obj(
    {"name": obj({"formatted_name": text()}, _texts(messages.NAME_PARTS), _name_part)},
    {
        "addresses": array(obj({}, _texts(messages.ADDRESS_KEYS)), low=0),
        "birthday": text(pattern=messages.BIRTHDAY_PATTERN),
        "emails": array(
            obj({"email": text(pattern=messages.EMAIL_PATTERN)}, {"type": _ANY_TEXT}), low=0
        ),
        "org": obj({}, _texts(messages.ORG_KEYS)),
        "phones": array(
            obj(
                {"phone": _ANY_TEXT},
                {"type": _ANY_TEXT, "wa_id": text(pattern=messages.WA_ID_PATTERN)},
            ),
            low=0,
        ),
        "urls": array(obj({"url": _ANY_TEXT}, {"type": _ANY_TEXT}), low=0),
    },
)

TYPE_CHECKS: dict[str, Check] = {
    "text": obj({"body": text(messages.TEXT_BODY_MAX_CHARS, shown=True)}, {"preview_url": boolean}),
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
