"""`type: template`: a pre-approved template, its language and the values for its variables.

Parameters are a discriminated union built from `PARAMETER_TYPES` (parameter type -> the
value under the same key). Only `text` is checked closely for now: `payload` and `coupon_code`
take any non-empty string, the others any object.
"""

from __future__ import annotations

from functools import reduce
from operator import or_
from typing import Annotated, Any, Literal

from pydantic import Field

from server.payloads.base import StrictModel, keyed_by_type
from server.payloads.field_errors import patterned

TEMPLATE_NAME_MAX_CHARS = 512
TEXT_PARAMETER_MAX_CHARS = 32768
COMPONENTS_MAX = 10

_NonEmpty = Annotated[str, Field(min_length=1)]
_AnyObject = dict[str, Any]

PARAMETER_TYPES: dict[str, Any] = {
    "text": Annotated[str, Field(min_length=1, max_length=TEXT_PARAMETER_MAX_CHARS)],
    "currency": _AnyObject,
    "date_time": _AnyObject,
    "image": _AnyObject,
    "video": _AnyObject,
    "document": _AnyObject,
    "location": _AnyObject,
    "payload": _NonEmpty,  # quick-reply buttons: a string, not an object
    "coupon_code": _NonEmpty,  # copy-code buttons: a string too
    "action": _AnyObject,
}


class Parameter(StrictModel):
    """One value for a template variable; `PARAMETER_TYPES` makes a subclass per type."""

    type: str
    # Templates with named variables ({{order_id}}) say which one this value fills.
    parameter_name: _NonEmpty | None = None


AnyParameter = Annotated[
    reduce(or_, (keyed_by_type(Parameter, n, v) for n, v in PARAMETER_TYPES.items())),
    Field(discriminator="type"),
]


class TextComponent(StrictModel):
    """Header, body or footer: the values for its variables, in order or by name."""

    type: Literal["header", "body", "footer"]
    parameters: list[AnyParameter]


class ButtonComponent(StrictModel):
    """One button of the template, by position, with the value its sub-type needs."""

    type: Literal["button"]
    sub_type: Literal[
        "quick_reply", "url", "copy_code", "flow", "catalog", "mpm", "order_details", "voice_call"
    ]
    index: Annotated[int, Field(ge=0, le=9)]
    parameters: list[AnyParameter]


Component = Annotated[TextComponent | ButtonComponent, Field(discriminator="type")]


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
