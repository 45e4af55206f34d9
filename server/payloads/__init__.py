"""The body of `POST /api/v1/messages/send/`: parsed, checked and turned into Meta's message.

`CONTENT_TYPES` below is the one place to add a message type: write a model for Meta's object
of that type (as `text.py`, `media.py`... do) and add one line mapping the type's name to it.
The request is a pydantic discriminated union on `type`, built from this registry, so the send
path, the error paths and the JSON schema follow without other changes.
"""

from __future__ import annotations

from typing import Any

import orjson
import pydantic
from pydantic import TypeAdapter

from server.api_errors import ValidationError
from server.payloads.base import NO_RECIPIENT, SendRequest, keyed_members, tagged_union
from server.payloads.contacts import Contacts
from server.payloads.field_errors import to_fields, unstorable_fields
from server.payloads.interactive import Interactive
from server.payloads.location import Location
from server.payloads.media import Audio, Document, Image, Sticker, Video
from server.payloads.reaction import Reaction
from server.payloads.template import Template
from server.payloads.text import Text

__all__ = ["CONTENT_TYPES", "SendRequest", "parse_send_request", "send_request_schema"]

CONTENT_TYPES: dict[str, Any] = {
    "text": Text,
    "template": Template,
    "image": Image,
    "video": Video,
    "audio": Audio,
    "document": Document,
    "sticker": Sticker,
    "location": Location,
    "contacts": Contacts,
    "interactive": Interactive,
    "reaction": Reaction,
}

_AnySendRequest = tagged_union(*keyed_members(SendRequest, CONTENT_TYPES).values())
_ADAPTER: TypeAdapter[SendRequest] = TypeAdapter(_AnySendRequest)


class _Envelope(SendRequest):
    """The fields every type shares, checked on their own when `type` is missing or unknown."""

    model_config = pydantic.ConfigDict(extra="ignore")


def parse_send_request(raw: bytes) -> SendRequest:
    """The request as a `SendRequest`, or `ValidationError` naming every field that is wrong."""
    try:
        request = _ADAPTER.validate_json(raw)
    except pydantic.ValidationError as exc:
        fields = to_fields(exc, _AnySendRequest)
        if fields and fields[0]["field"] == "type":  # no model chosen: check the rest anyway
            fields += _envelope_fields(raw)
        raise ValidationError(fields + _recipient_fields(raw)) from None
    fields = list(NO_RECIPIENT) if request.to is None and request.recipient is None else []
    fields += unstorable_fields(request.model_dump(mode="python", exclude_none=True))
    if fields:
        raise ValidationError(fields)
    return request


def send_request_schema() -> dict[str, Any]:
    """JSON Schema of the request body, for the OpenAPI document."""
    return _ADAPTER.json_schema()


def _envelope_fields(raw: bytes) -> list[dict[str, str]]:
    try:
        _Envelope.model_validate_json(raw)
    except pydantic.ValidationError as exc:
        return [f for f in to_fields(exc, _Envelope) if f["field"] != "type"]
    return []


def _recipient_fields(raw: bytes) -> list[dict[str, str]]:
    """Neither `to` nor `recipient` in a body that is wrong elsewhere too: both are named
    (either one will do)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(body, dict) or body.get("to") is not None:
        return []
    return list(NO_RECIPIENT) if body.get("recipient") is None else []
