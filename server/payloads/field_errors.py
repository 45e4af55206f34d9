"""Pydantic's errors as the API's `fields`: a dotted path without union tags, a short message.

Paths follow the request, `template.components[0].parameters[1].text`: pydantic puts the
tag of each discriminated union it enters into its `loc`; the models say where those are,
so the tags are dropped by walking the models alongside the `loc`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import pydantic
from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

_PATTERN_MESSAGES: dict[str, str] = {}
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1  # what orjson, hence our jsonb codec, encodes

_MESSAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "missing": lambda c: "is required",
    "extra_forbidden": lambda c: "is not allowed",
    "string_type": lambda c: "must be a string",
    "bool_type": lambda c: "must be true or false",
    "int_type": lambda c: "must be an integer",
    "float_type": lambda c: "must be a number",
    "finite_number": lambda c: "must be a finite number",
    "dict_type": lambda c: "must be an object",
    "model_type": lambda c: "must be an object",
    "model_attributes_type": lambda c: "must be an object",
    "list_type": lambda c: "must be an array",
    "string_too_short": lambda c: (
        "must not be empty"
        if c["min_length"] == 1
        else f"must be at least {c['min_length']} characters"
    ),
    "string_too_long": lambda c: f"must be at most {c['max_length']} characters",
    "too_short": lambda c: f"must have at least {_items(c['min_length'])}",
    "too_long": lambda c: (
        f"must have at most {_items(c['max_length'])}" if c["max_length"] else "must be empty"
    ),
    "greater_than_equal": lambda c: f"must be at least {_number(c['ge'])}",
    "less_than_equal": lambda c: f"must be at most {_number(c['le'])}",
    "literal_error": lambda c: f"must be {c['expected']}",
    "string_pattern_mismatch": lambda c: _PATTERN_MESSAGES.get(c["pattern"], "is not valid"),
    "union_tag_not_found": lambda c: "is required",
    "union_tag_invalid": lambda c: "must be one of: " + c["expected_tags"].replace("'", ""),
}


def patterned(pattern: str, message: str) -> Any:
    """`Field(pattern=...)` whose mismatch reads `message`, not pydantic's regex dump."""
    _PATTERN_MESSAGES[pattern] = message
    return Field(pattern=pattern)


def error_at(at: tuple[int | str, ...], kind: str, message: str, **ctx: Any) -> Exception:
    """An error a model validator raises about one of its own fields: `at` is the path below it.

    Pydantic places a model validator's error at the model; `at` carries it down to the
    field that is wrong (`buttons[2].reply.id`), so the API names that field.
    """
    return PydanticCustomError(kind, message, {**ctx, "at": at})


def to_fields(exc: pydantic.ValidationError, root: Any) -> list[dict[str, str]]:
    """One `{"field", "message"}` per error; `root` is the type that was validated."""
    return [_field(err, root) for err in exc.errors(include_url=False)]


def unstorable_fields(data: Any) -> list[dict[str, str]]:
    """Valid JSON that jsonb or orjson cannot hold: NUL characters, NaN/Infinity, huge ints."""
    return [{"field": path, "message": message} for path, message in _unstorable(data, "")]


def _field(err: Any, root: Any) -> dict[str, str]:
    kind, ctx = err["type"], err.get("ctx") or {}
    parts, owner = _walk(err["loc"], root)
    if "at" in ctx:
        parts, owner = [*parts, *ctx["at"]], None
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        parts.append(ctx.get("discriminator", "type").strip("'"))
        owner = None
    if not parts:
        return {"field": "body", "message": _body_message(kind, ctx)}
    message = _MESSAGES[kind](ctx) if kind in _MESSAGES else _shorter(err["msg"])
    if owner is not None and kind in ("missing", "extra_forbidden"):
        message += _for_type(kind, parts[-1], *owner)
    return {"field": _dotted(parts), "message": message}


def _number(bound: float) -> str:
    """A bound as written: 2592000, never 2.592e+06; 90, not 90.0."""
    return str(int(bound)) if float(bound).is_integer() else repr(float(bound))


def _items(count: int) -> str:
    return f"{count} item" if count == 1 else f"{count} items"


def _body_message(kind: str, ctx: dict[str, Any]) -> str:
    if kind == "json_invalid":
        return f"must be a JSON object; this is not valid JSON ({ctx.get('error', 'unreadable')})"
    return "must be a JSON object"


def _walk(loc: tuple[int | str, ...], root: Any) -> tuple[list[int | str], Any]:
    """`loc` without union tags, and (tag, members) when its last key is a tagged member's."""
    parts: list[int | str] = []
    owner = pending = None
    annotation = root
    for item in loc:
        annotation = _unwrap(annotation)
        members = _tagged_members(annotation)
        if members is not None:
            annotation = members.get(str(item))
            pending = owner = (item, members)
            continue
        parts.append(item)
        owner, pending = pending, None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(item))
            annotation = _field_annotation(field) if field else None
        elif get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        else:  # a free-form dict, or past what the models describe
            annotation = None
    return parts, owner if pending is None else None


def _for_type(kind: str, key: int | str, tag: Any, members: dict[str, Any]) -> str:
    # Say which type when another type has (or lacks) the key: "index" on a body component.
    with_key = [t for t, model in members.items() if key in model.model_fields]
    if kind == "missing" and len(with_key) < len(members):
        return f" for type {tag}"
    if kind == "extra_forbidden" and with_key:
        return f" for type {tag}"
    return ""


def _unwrap(annotation: Any) -> Any:
    """Drop `X | None` and plain `Annotated` layers; keep a discriminated union's."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated and _discriminator(annotation) is None:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _tagged_members(annotation: Any) -> dict[str, Any] | None:
    discriminator = _discriminator(annotation)
    if discriminator is None:
        return None
    members: dict[str, Any] = {}
    for model in get_args(get_args(annotation)[0]):
        for tag in get_args(model.model_fields[discriminator].annotation):
            members[tag] = model
    return members


def _discriminator(annotation: Any) -> str | None:
    if get_origin(annotation) is not Annotated:
        return None
    for meta in get_args(annotation)[1:]:
        if isinstance(meta, FieldInfo) and isinstance(meta.discriminator, str):
            return meta.discriminator
    return None


def _field_annotation(field: FieldInfo) -> Any:
    if isinstance(field.discriminator, str):
        return Annotated[field.annotation, Field(discriminator=field.discriminator)]
    return field.annotation


def _dotted(parts: list[int | str]) -> str:
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def _shorter(message: str) -> str:
    return message.replace("Input should be", "must be")


def _unstorable(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if "\x00" in value:
            yield path, "must not contain the character U+0000"
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not _INT64_MIN <= value <= _UINT64_MAX:
            yield path, "must be an integer within 64 bits"
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield path, "must be a finite number (NaN and Infinity are not JSON)"
    elif isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                yield inner, "must not contain the character U+0000 in its name"
            yield from _unstorable(item, inner)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unstorable(item, f"{path}[{index}]")
