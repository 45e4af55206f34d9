"""What the webhook path can hold: a POST body as Python values that PostgreSQL's jsonb,
orjson (our storage and the Hub's serializer) and Python itself all take.

One guard for the whole path. `load()` turns any bytes into a value or raises `Unusable`
with the reason, never anything else (`RecursionError` included). `problem()` says why a
value cannot be held, or None: nested deeper than `MAX_DEPTH` levels (orjson refuses 255
levels, Python's own parser about 1,000, and every envelope around an item adds some), or a
number out of range (an integer beyond 64 bits, a float beyond a double, `NaN`). What
`load()` returns is cleaned as deep as any of it can be held: a NUL, a lone UTF-16
surrogate or bytes that are not UTF-8 become U+FFFD, as PostgreSQL cannot store them.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import orjson

__all__ = ["MAX_DEPTH", "Unusable", "body_summary", "load", "problem", "scalars"]

# The deepest of Meta's payloads recorded in tests/fixtures/meta (a message with contacts)
# is 12 levels from the top of the POST, its message 5.
MAX_DEPTH = 64
_ORJSON_DEPTH = 254  # the deepest value orjson serializes
_CLEANED_DEPTH = 2 * MAX_DEPTH  # an item held is MAX_DEPTH deep, a few levels into the POST
_HEAD_BYTES = 1000
_INT_RANGE = range(-(2**63), 2**64)  # what orjson and jsonb-by-orjson take
_NUL_ESCAPE = "\\u0000"  # how JSON writes NUL; a raw NUL byte is not valid JSON
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL, and surrogates left unpaired
TOO_DEEP = f"nests deeper than {MAX_DEPTH} levels"
OUT_OF_RANGE = "holds a number out of range"


class Unusable(ValueError):
    """The body cannot be read as Meta's JSON at all: permanent, and the reason says why."""


class _OutOfRange:
    """A number read by Python's parser that orjson cannot write: found by `problem()`."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _nest(levels: int) -> tuple[list, list]:
    """`levels` lists, each the only element of the one before: (outermost, innermost)."""
    outermost = innermost = [None]
    for _ in range(levels - 1):
        innermost[0] = innermost = [None]
    return outermost, innermost


_OUTERMOST, _INNERMOST = _nest(_ORJSON_DEPTH - MAX_DEPTH)


def load(body: bytes | str) -> Any:
    """The JSON value of `body`, cleaned; `Unusable` when it is not JSON or nests so deep
    that no parser here can read it."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # orjson refuses lone surrogates, bytes that are not UTF-8 and numbers beyond a
        # double; Python's parser keeps them (numbers as `_OutOfRange`, for `problem()`).
        text = body if isinstance(body, str) else body.decode("utf-8", "replace")
        try:
            value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_OutOfRange)
        except RecursionError:
            raise Unusable(f"webhook body {TOO_DEEP}") from None
        except ValueError:
            raise Unusable(f"webhook body is not JSON: {exc}") from None
        return _cleaned(value)
    if (_NUL_ESCAPE.encode() if isinstance(body, bytes) else _NUL_ESCAPE) in body:
        value = _cleaned(value)
    return value


def _cleaned(value: Any, levels: int = _CLEANED_DEPTH) -> Any:
    """`value` with every NUL and lone surrogate in its strings (keys too) made U+FFFD, down
    to `levels` levels: anything deeper is never held."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if levels <= 0:
        return value
    if isinstance(value, list):
        return [_cleaned(v, levels - 1) for v in value]
    if isinstance(value, dict):
        return {_cleaned(k, 0): _cleaned(v, levels - 1) for k, v in value.items()}
    return value


def problem(value: Any) -> str | None:
    """Why `value` cannot be held, or None when it can."""
    _INNERMOST[0] = value  # orjson's own depth limit checks ours (no await: never shared)
    try:
        orjson.dumps(_OUTERMOST, default=_refuse)
    except orjson.JSONEncodeError as exc:
        if "Recursion" in str(exc):
            return TOO_DEEP
        if isinstance(exc.__cause__, _Refused) or "Integer" in str(exc):
            return OUT_OF_RANGE
        return f"cannot be stored: {exc}"
    finally:
        _INNERMOST[0] = None
    return None


def scalars(item: Any) -> dict[str, Any]:
    """What an item that cannot be held keeps: its top-level strings, numbers and booleans
    (its ids, status, type, timestamp...); nothing of a list."""
    if not isinstance(item, dict):
        return {}
    kept = (str, bool, float, type(None))
    return {
        k: v
        for k, v in item.items()
        if isinstance(v, kept) or (isinstance(v, int) and v in _INT_RANGE)
    }


def body_summary(body: bytes | str | dict) -> dict[str, Any]:
    """What a body that cannot be used keeps: its size, sha256 and first 1,000 bytes as text."""
    if isinstance(body, dict):
        try:
            raw = orjson.dumps(body)
        except orjson.JSONEncodeError:
            raw = b""
    else:
        raw = body if isinstance(body, bytes) else body.encode("utf-8", "surrogateescape")
    head = raw[:_HEAD_BYTES].decode("utf-8", "replace").replace("\x00", "\ufffd")
    return {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest(), "head": head}


class _Refused(TypeError):
    pass


def _refuse(value: Any) -> Any:
    raise _Refused(type(value).__name__)


def _int(text: str) -> int | _OutOfRange:
    if len(text) > 21:  # past 64 bits, and spares int() a 5,000-digit string
        return _OutOfRange(text)
    number = int(text)
    return number if number in _INT_RANGE else _OutOfRange(text)


def _float(text: str) -> float | _OutOfRange:
    number = float(text)
    return number if abs(number) != float("inf") else _OutOfRange(text)
