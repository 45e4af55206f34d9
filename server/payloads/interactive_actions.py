"""The `action` of each interactive message: what the user can tap, with Meta's limits
(`whatsapp.interactive_rules`), checked here so a message Meta would refuse is never queued.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from server.payloads.base import NonEmpty, StrictModel, bounded_text, exactly_one, unique
from server.payloads.field_errors import error_at, patterned
from whatsapp.interactive_rules import (
    BUTTON_ID_MAX_CHARS,
    BUTTON_TITLE_MAX_CHARS,
    CHOICE_ID_PATTERN,
    CTA_DISPLAY_TEXT_MAX_CHARS,
    CTA_URL_PATTERN,
    FLOW_ACTIONS,
    FLOW_CTA_MAX_CHARS,
    FLOW_MESSAGE_VERSIONS,
    FLOW_MODES,
    LIST_BUTTON_MAX_CHARS,
    REPLY_BUTTONS_MAX,
    ROW_DESCRIPTION_MAX_CHARS,
    ROW_ID_MAX_CHARS,
    ROW_TITLE_MAX_CHARS,
    ROWS_MAX,
    SECTION_TITLE_MAX_CHARS,
    SECTIONS_MAX,
)


def _choice_id(max_chars: int) -> Any:
    return Annotated[
        str,
        Field(min_length=1, max_length=max_chars),
        patterned(CHOICE_ID_PATTERN, "must not start or end with a space"),
    ]


_ButtonId = _choice_id(BUTTON_ID_MAX_CHARS)
_ButtonTitle = bounded_text(BUTTON_TITLE_MAX_CHARS)
_RowId = _choice_id(ROW_ID_MAX_CHARS)
_RowTitle = bounded_text(ROW_TITLE_MAX_CHARS)
_SectionTitle = bounded_text(SECTION_TITLE_MAX_CHARS)
_ListButton = bounded_text(LIST_BUTTON_MAX_CHARS)
_CtaDisplayText = bounded_text(CTA_DISPLAY_TEXT_MAX_CHARS)
_FlowCta = bounded_text(FLOW_CTA_MAX_CHARS)


class Reply(StrictModel):
    id: _ButtonId
    title: _ButtonTitle


class ReplyButton(StrictModel):
    type: Literal["reply"]
    reply: Reply


class ButtonAction(StrictModel):
    """Up to three reply buttons, each id and each title different."""

    buttons: Annotated[list[ReplyButton], Field(min_length=1, max_length=REPLY_BUTTONS_MAX)]

    @model_validator(mode="after")
    def _unique(self) -> ButtonAction:
        replies = [(i, b.reply) for i, b in enumerate(self.buttons)]
        unique(((("buttons", i, "reply", "id"), r.id) for i, r in replies), "button id")
        unique(((("buttons", i, "reply", "title"), r.title) for i, r in replies), "button title")
        return self


class Row(StrictModel):
    id: _RowId
    title: _RowTitle
    description: Annotated[str, Field(max_length=ROW_DESCRIPTION_MAX_CHARS)] | None = None


class Section(StrictModel):
    title: _SectionTitle | None = None
    rows: Annotated[list[Row], Field(min_length=1, max_length=ROWS_MAX)]


class ListAction(StrictModel):
    """The list's button and its sections: at most 10 rows in all, row ids unique."""

    button: _ListButton
    sections: Annotated[list[Section], Field(min_length=1, max_length=SECTIONS_MAX)]

    @model_validator(mode="after")
    def _rows(self) -> ListAction:
        rows = [
            (s, r, row) for s, sec in enumerate(self.sections) for r, row in enumerate(sec.rows)
        ]
        if len(rows) > ROWS_MAX:
            s, r, _ = rows[ROWS_MAX]
            raise error_at(
                ("sections", s, "rows", r),
                "too_many_rows",
                "is one row too many: a list has at most {limit} rows in all sections",
                limit=ROWS_MAX,
            )
        unique(((("sections", s, "rows", r, "id"), row.id) for s, r, row in rows), "row id")
        if len(self.sections) > 1:
            for s, section in enumerate(self.sections):
                if section.title is None:
                    raise error_at(
                        ("sections", s, "title"),
                        "section_title",
                        "is required when the list has more than one section",
                    )
        return self


class CtaUrlParameters(StrictModel):
    display_text: _CtaDisplayText
    url: Annotated[str, patterned(CTA_URL_PATTERN, "must be an http(s):// URL")]


class CtaUrlAction(StrictModel):
    """One button that opens a URL."""

    name: Literal["cta_url"]
    parameters: CtaUrlParameters


class FlowActionPayload(StrictModel):
    screen: NonEmpty
    data: Annotated[dict[str, Any], Field(min_length=1)] | None = None


class FlowParameters(StrictModel):
    flow_message_version: Literal[FLOW_MESSAGE_VERSIONS]
    flow_id: NonEmpty | None = None
    flow_name: NonEmpty | None = None
    flow_cta: _FlowCta
    flow_token: NonEmpty | None = None
    mode: Literal[FLOW_MODES] | None = None
    flow_action: Literal[FLOW_ACTIONS] | None = None
    flow_action_payload: FlowActionPayload | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FlowParameters:
        exactly_one(self, "flow_id", "flow_name")
        if self.flow_action == "data_exchange" and self.flow_action_payload is not None:
            raise error_at(
                ("flow_action_payload",),
                "payload_not_navigate",
                "is not allowed with flow_action data_exchange",
            )
        return self


class FlowAction(StrictModel):
    """A button that opens a WhatsApp Flow."""

    name: Literal["flow"]
    parameters: FlowParameters


class LocationRequestAction(StrictModel):
    """The "Send location" button."""

    name: Literal["send_location"]
