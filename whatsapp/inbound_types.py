"""Inbound WhatsApp messages, normalised into the `data` of the Hub's `message.received`.

The Hub gets Meta's own object for each type, under the type's key (`text`, `image`,
`interactive`...), so Meta's documentation describes it, plus a few normalisations that
spare every Hub consumer the same guesswork (docs/events.md lists them):

- `context` is always `null` or an object whose `forwarded` / `frequently_forwarded` are
  booleans (a frequently forwarded message is forwarded too);
- `audio.voice` and `sticker.animated` are booleans; a removed reaction has `emoji: null`;
- a flow reply (`interactive.nfm_reply`) carries `response`, its `response_json` decoded;
- `referral` (click-to-WhatsApp ads) and `errors` (unsupported messages) are top-level
  keys, `null` when absent; any other top-level key Meta adds lands in `extra`.

A type we do not know is forwarded as received: its object under its key and the whole
message under `raw`. Nothing here raises on odd input: a wrong-shaped object is passed on
as it came.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from whatsapp import holdable

__all__ = ["KNOWN_TYPES", "normalise"]

# Keys of `message.received`'s data that a message type's name must never overwrite.
_RESERVED = frozenset(
    {
        "wamid",
        "from",
        "profile_name",
        "type",
        "timestamp",
        "phone_number_id",
        "context",
        "referral",
        "errors",
        "extra",
        "raw",
    }
)
# Top-level keys of Meta's message object that the normalised shape already carries.
_CONSUMED = frozenset({"from", "id", "timestamp", "type", "context", "referral", "errors"})


def _as_is(content: Any) -> Any:
    return content


def _flag(key: str) -> Callable[[Any], Any]:
    """A media object whose boolean `key` Meta only sends when true."""

    def normalise(content: Any) -> Any:
        if not isinstance(content, dict):
            return content
        return {**content, key: content.get(key) is True}

    return normalise


def _reaction(content: Any) -> Any:
    # Meta sends an empty (or no) emoji when the user removes their reaction.
    if not isinstance(content, dict):
        return content
    return {**content, "emoji": content.get("emoji") or None}


def _interactive(content: Any) -> Any:
    if not isinstance(content, dict) or not isinstance(content.get("nfm_reply"), dict):
        return content
    reply = content["nfm_reply"]
    return {**content, "nfm_reply": {**reply, "response": _json_object(reply.get("response_json"))}}


def _json_object(text: Any) -> Any:
    """`response_json` decoded, or None when it is missing, not JSON or cannot be held."""
    if not isinstance(text, str):
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if holdable.problem(value) is None else None


_TYPES: dict[str, Callable[[Any], Any]] = {
    "text": _as_is,
    "image": _as_is,
    "video": _as_is,
    "document": _as_is,
    "audio": _flag("voice"),
    "sticker": _flag("animated"),
    "location": _as_is,
    "contacts": _as_is,
    "interactive": _interactive,
    "button": _as_is,
    "reaction": _reaction,
    "order": _as_is,
    "system": _as_is,
    "request_welcome": _as_is,
    "unsupported": _as_is,
    "unknown": _as_is,
}
KNOWN_TYPES = frozenset(_TYPES)


def normalise(message: dict[str, Any]) -> dict[str, Any]:
    """The type-dependent part of `message.received`'s data for one of Meta's messages."""
    kind = message.get("type")
    kind = kind if isinstance(kind, str) else "unknown"
    data: dict[str, Any] = {
        "context": _context(message.get("context")),
        "referral": message.get("referral"),
        "errors": message.get("errors"),
    }
    known = _TYPES.get(kind)
    if kind not in _RESERVED:
        data[kind] = (known or _as_is)(message.get(kind))
    extra = {k: v for k, v in message.items() if k not in _CONSUMED and k != kind}
    data["extra"] = extra or None
    if known is None:
        data["raw"] = message
    return data


def _context(context: Any) -> Any:
    if not isinstance(context, dict):
        return context  # None, or an odd value passed on as it came
    frequently = context.get("frequently_forwarded") is True
    return {
        **context,
        "forwarded": frequently or context.get("forwarded") is True,
        "frequently_forwarded": frequently,
    }
