"""What Meta's send endpoint checks in a message body, and the error bodies it answers with.

`TYPE_CHECKS` maps each message type to a check of its object; adding a type is one
function and one line there.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

_TO = re.compile(r"\+?[0-9]{5,20}")
_TEXT_MAX = 4096


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
    obj = body.get(kind)
    if not isinstance(obj, dict if kind != "contacts" else list):
        return f"Param {kind} is required"
    return check(obj)


def _text(obj: dict[str, Any]) -> str | None:
    text = obj.get("body")
    if not isinstance(text, str) or not text:
        return "Param text['body'] is required"
    if len(text) > _TEXT_MAX:
        return f"Param text['body'] must be at most {_TEXT_MAX} characters long"
    return None


def _template(obj: dict[str, Any]) -> str | None:
    if not isinstance(obj.get("name"), str) or not obj["name"]:
        return "Param template['name'] is required"
    language = obj.get("language")
    if not isinstance(language, dict) or not isinstance(language.get("code"), str):
        return "Param template['language']['code'] is required"
    components = obj.get("components", [])
    if not isinstance(components, list):
        return "Param template['components'] must be an array"
    return None


def _media(kind: str) -> Callable[[dict[str, Any]], str | None]:
    def check(obj: dict[str, Any]) -> str | None:
        if not (isinstance(obj.get("id"), str) or isinstance(obj.get("link"), str)):
            return f"Param {kind} must have an 'id' or a 'link'"
        return None

    return check


def _location(obj: dict[str, Any]) -> str | None:
    for key in ("latitude", "longitude"):
        if not isinstance(obj.get(key), int | float | str):
            return f"Param location['{key}'] is required"
    return None


def _contacts(obj: list[Any]) -> str | None:
    if not obj or not all(isinstance(c, dict) and c.get("name") for c in obj):
        return "Param contacts must be a non-empty array of contacts with a 'name'"
    return None


def _interactive(obj: dict[str, Any]) -> str | None:
    if not isinstance(obj.get("type"), str):
        return "Param interactive['type'] is required"
    if not isinstance(obj.get("action"), dict):
        return "Param interactive['action'] is required"
    return None


def _reaction(obj: dict[str, Any]) -> str | None:
    if not isinstance(obj.get("message_id"), str):
        return "Param reaction['message_id'] is required"
    if not isinstance(obj.get("emoji"), str):  # "" removes a reaction
        return "Param reaction['emoji'] is required"
    return None


TYPE_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "text": _text,
    "template": _template,
    "image": _media("image"),
    "video": _media("video"),
    "audio": _media("audio"),
    "document": _media("document"),
    "sticker": _media("sticker"),
    "location": _location,
    "contacts": _contacts,
    "interactive": _interactive,
    "reaction": _reaction,
}
