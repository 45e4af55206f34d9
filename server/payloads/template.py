"""`type: template`: a pre-approved template, its language and the values for its variables.

Each component takes the parameter types Meta allows it (`whatsapp.template_rules`): the
header one text (60 characters), media or location value; the body text, currency and
date_time values; the footer none; a button the values its `sub_type` takes (a quick reply's
`payload`, a URL button's `text`...). Parameters are discriminated unions on `type`, each
value under the key of its type.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from server.payloads.base import NonEmpty, StrictModel, keyed_by_type, keyed_members, tagged_union
from server.payloads.field_errors import error_at, patterned
from server.payloads.location import Location
from server.payloads.media import DocumentRef, MediaRef
from whatsapp.template_rules import (
    BODY_PARAMETERS,
    BUTTON_INDEX_MAX,
    BUTTON_PARAMETER_TYPES,
    BUTTON_PARAMETERS,
    COMPONENTS_MAX,
    COUPON_CODE_MAX_CHARS,
    CURRENCY_CODE_PATTERN,
    FOOTER_PARAMETERS_MAX,
    HEADER_PARAMETERS,
    HEADER_PARAMETERS_MAX,
    HEADER_TEXT_MAX_CHARS,
    LANGUAGE_CODE_PATTERN,
    LANGUAGE_POLICIES,
    NAME_MAX_CHARS,
    NAME_PATTERN,
    TEXT_MAX_CHARS,
    TTL_MINUTES,
    is_button_index,
)


class Currency(StrictModel):
    fallback_value: NonEmpty
    code: Annotated[str, patterned(CURRENCY_CODE_PATTERN, "must be an ISO 4217 code like EUR")]
    amount_1000: int  # the amount times 1000: 99.90 EUR is 99900


class DateTime(StrictModel):
    fallback_value: NonEmpty  # Meta shows this text as it is


class Parameter(StrictModel):
    """One value for a template variable; `_MEMBERS` holds a subclass per type."""

    type: str
    # Templates with named variables ({{order_id}}) say which one this value fills.
    parameter_name: NonEmpty | None = None


def _text(max_chars: int) -> Any:
    return Annotated[str, Field(min_length=1, max_length=max_chars)]


_MEMBERS = keyed_members(
    Parameter,
    {
        "text": _text(TEXT_MAX_CHARS),
        "currency": Currency,
        "date_time": DateTime,
        "image": MediaRef,
        "video": MediaRef,
        "document": DocumentRef,
        "location": Location,
        "payload": NonEmpty,  # quick-reply buttons: a string, not an object
        "coupon_code": _text(COUPON_CODE_MAX_CHARS),  # copy-code buttons: a string too
        "action": dict[str, Any],  # flow, catalog, multi-product buttons: an object
        "ttl_minutes": Annotated[int, Field(ge=TTL_MINUTES[0], le=TTL_MINUTES[1])],
    },
)
_HEADER_TEXT = keyed_by_type(Parameter, "text", _text(HEADER_TEXT_MAX_CHARS), "Header")


def _parameters(*members: Any) -> Any:
    return list[tagged_union(*members)]


_HeaderParameters = Annotated[
    _parameters(*(_HEADER_TEXT if k == "text" else _MEMBERS[k] for k in HEADER_PARAMETERS)),
    Field(max_length=HEADER_PARAMETERS_MAX),
]
_BodyParameters = _parameters(*(_MEMBERS[k] for k in BODY_PARAMETERS))
_ButtonParameters = _parameters(*(_MEMBERS[k] for k in BUTTON_PARAMETER_TYPES))


class HeaderComponent(StrictModel):
    """The header's one variable: a text, a media file or a location."""

    type: Literal["header"]
    parameters: _HeaderParameters


class BodyComponent(StrictModel):
    """The body's variables, in order or by name."""

    type: Literal["body"]
    parameters: _BodyParameters


class FooterComponent(StrictModel):
    """A footer has no variables: its `parameters` are empty."""

    type: Literal["footer"]
    parameters: Annotated[list[Any], Field(max_length=FOOTER_PARAMETERS_MAX)]


_BUTTON_INDEX_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 0, "maximum": BUTTON_INDEX_MAX},
        {"type": "string", "pattern": "^[0-9]$"},
    ]
}


def _button_index(index: Any) -> int | str:
    if is_button_index(index):
        return index
    raise PydanticCustomError(
        "button_index", "must be the button's position from 0 to 9, as a number or a string"
    )


class ButtonComponent(StrictModel):
    """One button of the template, by position, with the value its sub-type needs."""

    type: Literal["button"]
    sub_type: Literal[tuple(BUTTON_PARAMETERS)]
    # Meta's own examples write the position as a string ("0"); both forms are sent as given.
    index: Annotated[Any, AfterValidator(_button_index), WithJsonSchema(_BUTTON_INDEX_SCHEMA)]
    parameters: _ButtonParameters

    @model_validator(mode="after")
    def _parameters_fit_sub_type(self) -> ButtonComponent:
        expected = BUTTON_PARAMETERS[self.sub_type]
        for i, parameter in enumerate(self.parameters):
            if parameter.type not in expected:
                raise error_at(
                    ("parameters", i, "type"),
                    "button_parameter",
                    "must be {expected} for a {sub_type} button",
                    expected=" or ".join(expected),
                    sub_type=self.sub_type,
                )
        return self


Component = Annotated[
    HeaderComponent | BodyComponent | FooterComponent | ButtonComponent,
    Field(discriminator="type"),
]


class Language(StrictModel):
    """Which translation of the template; `deterministic` is the only policy Meta has."""

    code: Annotated[
        str,
        patterned(LANGUAGE_CODE_PATTERN, "must be a language code like en or en_US"),
    ]
    policy: Literal[LANGUAGE_POLICIES] | None = None


class Template(StrictModel):
    """Meta's `template` object."""

    name: Annotated[
        str,
        Field(min_length=1, max_length=NAME_MAX_CHARS),
        patterned(NAME_PATTERN, "must be lowercase letters, digits and underscores"),
    ]
    language: Language
    components: Annotated[list[Component], Field(max_length=COMPONENTS_MAX)] | None = None
