"""A tiny checker of JSON shapes, written the way Meta's errors read: `Param x['y'][0] ...`.

Each builder returns a check `(value, path) -> problem or None`; objects refuse keys they do
not know, as Meta does. `meta_checks.py` describes each message type with these.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from whatsapp.message_rules import CAPTION_MAX_CHARS, MEDIA_LINK_PATTERN

Check = Callable[[Any, str], "str | None"]
Rule = Callable[[dict[str, Any], str], "str | None"]


def text(
    max_chars: int | None = None,
    pattern: str | None = None,
    empty: bool = False,
    shown: bool = False,
) -> Check:
    """A string: non-empty unless `empty`, not only white space if `shown` (a text WhatsApp
    shows), at most `max_chars`, matching `pattern`."""
    regex = re.compile(pattern) if pattern else None

    def check(value: Any, path: str) -> str | None:
        if not isinstance(value, str):
            return f"Param {path} must be a string"
        if not empty and not value:
            return f"Param {path} is required"
        if shown and not value.strip():
            return f"Param {path} must not be blank"
        if max_chars is not None and len(value) > max_chars:
            return f"Param {path} must be at most {max_chars} characters long"
        if regex is not None and not regex.fullmatch(value):
            return f"Param {path} is not valid"
        return None

    return check


def number(low: float, high: float) -> Check:
    def check(value: Any, path: str) -> str | None:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or not low <= value <= high:
            return f"Param {path} must be a number from {low:g} to {high:g}"
        return None

    return check


def integer(value: Any, path: str) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool)
    return None if ok else f"Param {path} must be an integer"


def integer_in(low: int, high: int) -> Check:
    def check(value: Any, path: str) -> str | None:
        if integer(value, path) is not None or not low <= value <= high:
            return f"Param {path} must be an integer from {low} to {high}"
        return None

    return check


def boolean(value: Any, path: str) -> str | None:
    return None if isinstance(value, bool) else f"Param {path} must be a boolean"


def one_of(*allowed: str) -> Check:
    def check(value: Any, path: str) -> str | None:
        return None if value in allowed else f"Param {path} must be one of {{{', '.join(allowed)}}}"

    return check


def anything(value: Any, path: str) -> str | None:
    return None


def any_object(value: Any, path: str) -> str | None:
    return None if isinstance(value, dict) else f"Param {path} must be an object"


def non_empty_object(value: Any, path: str) -> str | None:
    return None if isinstance(value, dict) and value else f"Param {path} must be a non-empty object"


def obj(
    required: dict[str, Check], optional: dict[str, Check] | None = None, *rules: Rule
) -> Check:
    """An object with these keys and no others; `rules` check keys against each other."""
    known = {**required, **(optional or {})}

    def check(value: Any, path: str) -> str | None:
        if not isinstance(value, dict):
            return f"Param {path} must be an object"
        for key in required:
            if key not in value:
                return f"Param {path}['{key}'] is required"
        for key, item in value.items():
            if key not in known:
                return f"Param {path}['{key}'] is not a valid parameter"
            problem = known[key](item, f"{path}['{key}']")
            if problem:
                return problem
        for rule in rules:
            problem = rule(value, path)
            if problem:
                return problem
        return None

    return check


def array(item: Check, low: int = 1, high: int | None = None) -> Check:
    def check(value: Any, path: str) -> str | None:
        if not isinstance(value, list):
            return f"Param {path} must be an array"
        if len(value) < low or (high is not None and len(value) > high):
            most = f" and at most {high}" if high is not None else ""
            return f"Param {path} must have at least {low}{most} elements"
        for i, element in enumerate(value):
            problem = item(element, f"{path}[{i}]")
            if problem:
                return problem
        return None

    return check


def by_type(shapes: dict[str, Check], key: str = "type") -> Check:
    """An object whose `type` chooses its shape (which must also allow `type`)."""

    def check(value: Any, path: str) -> str | None:
        kind = value.get(key) if isinstance(value, dict) else None
        if not isinstance(kind, str) or kind not in shapes:
            return f"Param {path}['{key}'] must be one of {{{', '.join(shapes)}}}"
        return shapes[kind](value, path)

    return check


def keyed(shapes: dict[str, Check], **common: Check) -> Check:
    """Meta's `{"type": "image", "image": {...}}`: the value sits under its type's name."""
    return by_type(
        {kind: obj({"type": anything, kind: shape}, common) for kind, shape in shapes.items()}
    )


def either(first: str, second: str) -> Rule:
    """Exactly one of two keys."""

    def rule(value: dict[str, Any], path: str) -> str | None:
        if (first in value) == (second in value):
            return f"Param {path} must have exactly one of '{first}' or '{second}'"
        return None

    return rule


def distinct(values: Callable[[dict[str, Any]], list[Any]], what: str) -> Rule:
    def rule(value: dict[str, Any], path: str) -> str | None:
        seen = values(value)
        if len(seen) != len(set(seen)):
            return f"Param {path} has duplicate {what}"
        return None

    return rule


_ID_OR_LINK = either("id", "link")
_REF = {"id": text(), "link": text(pattern=MEDIA_LINK_PATTERN)}


def media(caption: bool = False, filename: bool = False, voice: bool = False) -> Check:
    """Meta's media object: `id` xor an https `link`, and the keys its type allows."""
    extra = {"caption": text(CAPTION_MAX_CHARS, shown=True)} if caption else {}
    extra |= {"filename": text()} if filename else {}
    extra |= {"voice": boolean} if voice else {}
    return obj({}, {**_REF, **extra}, _ID_OR_LINK)
