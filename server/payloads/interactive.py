"""`type: interactive`: reply buttons, a list, a URL button, a Flow, or a location request.

A discriminated union on `interactive.type`. Each kind takes the headers Meta allows it
(lists: text only; location requests: no header or footer), a body and an action.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from server.payloads.base import StrictModel, bounded_text, keyed_members, tagged_union
from server.payloads.interactive_actions import (
    ButtonAction,
    CtaUrlAction,
    FlowAction,
    ListAction,
    LocationRequestAction,
)
from server.payloads.media import DocumentRef, MediaRef
from whatsapp.interactive_rules import (
    BODY_MAX_CHARS,
    FOOTER_MAX_CHARS,
    HEADER_TEXT_MAX_CHARS,
    HEADER_TYPES,
    LIST_BODY_MAX_CHARS,
    LIST_HEADER_TYPES,
)

_BodyText = bounded_text(BODY_MAX_CHARS)
_ListBodyText = bounded_text(LIST_BODY_MAX_CHARS)
_FooterText = bounded_text(FOOTER_MAX_CHARS)


class _Header(StrictModel):
    type: str


_HEADERS = keyed_members(
    _Header,
    {
        "text": bounded_text(HEADER_TEXT_MAX_CHARS),
        "image": MediaRef,
        "video": MediaRef,
        "document": DocumentRef,
    },
)


def _header(*kinds: str) -> Any:
    return tagged_union(*(_HEADERS[k] for k in kinds))


AnyHeader = _header(*HEADER_TYPES)
TextHeader = _header(*LIST_HEADER_TYPES)


class Body(StrictModel):
    text: _BodyText


class ListBody(StrictModel):
    text: _ListBodyText


class Footer(StrictModel):
    text: _FooterText


class _Framed(StrictModel):
    """Header, body and footer around the action: the frame every kind but one shares."""

    header: AnyHeader | None = None
    body: Body
    footer: Footer | None = None


class ButtonMessage(_Framed):
    type: Literal["button"]
    action: ButtonAction


class ListMessage(_Framed):
    type: Literal["list"]
    header: TextHeader | None = None
    body: ListBody
    action: ListAction


class CtaUrlMessage(_Framed):
    type: Literal["cta_url"]
    action: CtaUrlAction


class FlowMessage(_Framed):
    type: Literal["flow"]
    action: FlowAction


class LocationRequestMessage(StrictModel):
    type: Literal["location_request_message"]
    body: Body
    action: LocationRequestAction


Interactive = Annotated[
    ButtonMessage | ListMessage | CtaUrlMessage | FlowMessage | LocationRequestMessage,
    Field(discriminator="type"),
]
