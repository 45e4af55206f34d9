"""`type: template`: a pre-approved template, its language and the values for its variables.

Each component takes the parameter types Meta allows it: the header one text (60
characters), media or location value; the body text, currency and date_time values; a
button the value its `sub_type` needs (a quick reply's `payload`, a URL button's `text`...).
Parameters are discriminated unions on `type`, each value under the key of its type.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from server.payloads.base import NonEmpty, StrictModel, keyed_by_type, keyed_members, tagged_union
from server.payloads.field_errors import error_at, patterned
from server.payloads.location import Location
from server.payloads.media import DocumentRef, MediaRef

TEMPLATE_NAME_MAX_CHARS = 512
TEXT_PARAMETER_MAX_CHARS = 32768
HEADER_TEXT_PARAMETER_MAX_CHARS = 60
COUPON_CODE_MAX_CHARS = 20  # Meta raised it from 15 (coupon code templates page, 2025)
COMPONENTS_MAX = 10


class Currency(StrictModel):
    fallback_value: NonEmpty
    code: Annotated[str, patterned(r"^[A-Z]{3}$", "must be an ISO 4217 code like EUR")]
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
        "text": _text(TEXT_PARAMETER_MAX_CHARS),
        "currency": Currency,
        "date_time": DateTime,
        "image": MediaRef,
        "video": MediaRef,
        "document": DocumentRef,
        "location": Location,
        "payload": NonEmpty,  # quick-reply buttons: a string, not an object
        "coupon_code": _text(COUPON_CODE_MAX_CHARS),  # copy-code buttons: a string too
        "action": dict[str, Any],  # flow, catalog, multi-product buttons: an object
    },
)
_HEADER_TEXT = keyed_by_type(Parameter, "text", _text(HEADER_TEXT_PARAMETER_MAX_CHARS), "Header")


def _parameters(*members: Any) -> Any:
    return list[tagged_union(*members)]


_HeaderParameters = Annotated[
    _parameters(_HEADER_TEXT, *(_MEMBERS[k] for k in ("image", "video", "document", "location"))),
    Field(max_length=1),
]
_BodyParameters = _parameters(*(_MEMBERS[k] for k in ("text", "currency", "date_time")))
_ButtonParameters = _parameters(
    *(_MEMBERS[k] for k in ("payload", "text", "coupon_code", "action"))
)


class HeaderComponent(StrictModel):
    """The header's one variable: a text, a media file or a location."""

    type: Literal["header"]
    parameters: _HeaderParameters


class BodyComponent(StrictModel):
    """The body's variables, in order or by name."""

    type: Literal["body", "footer"]
    parameters: _BodyParameters


# Which parameter each button sub_type takes; sub_types missing here take none.
BUTTON_PARAMETER = {
    "quick_reply": "payload",
    "url": "text",
    "copy_code": "coupon_code",
    "flow": "action",
    "catalog": "action",
    "mpm": "action",
    "order_details": "action",
}


_BUTTON_INDEX_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 0, "maximum": 9},
        {"type": "string", "pattern": "^[0-9]$"},
    ]
}


def _button_index(index: Any) -> int | str:
    if isinstance(index, bool):
        pass
    elif (isinstance(index, int) and 0 <= index <= 9) or index in tuple("0123456789"):
        return index
    raise PydanticCustomError(
        "button_index", "must be the button's position from 0 to 9, as a number or a string"
    )


class ButtonComponent(StrictModel):
    """One button of the template, by position, with the value its sub-type needs."""

    type: Literal["button"]
    sub_type: Literal[
        "quick_reply", "url", "copy_code", "flow", "catalog", "mpm", "order_details", "voice_call"
    ]
    # Meta's own examples write the position as a string ("0"); both forms are sent as given.
    index: Annotated[Any, AfterValidator(_button_index), WithJsonSchema(_BUTTON_INDEX_SCHEMA)]
    parameters: _ButtonParameters

    @model_validator(mode="after")
    def _parameter_fits_sub_type(self) -> ButtonComponent:
        expected = BUTTON_PARAMETER.get(self.sub_type)
        for i, parameter in enumerate(self.parameters):
            if parameter.type != expected:
                raise error_at(
                    ("parameters", i, "type"),
                    "button_parameter",
                    "must be {expected} for a {sub_type} button",
                    expected=expected or "absent (no parameter)",
                    sub_type=self.sub_type,
                )
        return self


Component = Annotated[
    HeaderComponent | BodyComponent | ButtonComponent, Field(discriminator="type")
]


class Language(StrictModel):
    """Which translation of the template; `deterministic` is the only policy Meta has."""

    code: Annotated[
        str,
        patterned(r"^[a-z]{2,3}(_[A-Z]{2})?$", "must be a language code like en or en_US"),
    ]
    policy: Literal["deterministic"] | None = None


class Template(StrictModel):
    """Meta's `template` object."""

    name: Annotated[
        str,
        Field(min_length=1, max_length=TEMPLATE_NAME_MAX_CHARS),
        patterned(r"^[a-z0-9_]+$", "must be lowercase letters, digits and underscores"),
    ]
    language: Language
    components: Annotated[list[Component], Field(max_length=COMPONENTS_MAX)] | None = None
