"""The callers' API keys: `MESSAGING_SERVICE_API_KEY`, and who presented a key.

The variable is comma-separated; each item is `name:key` (the caller `name`, e.g.
`billing:KEY1`) or a bare key (the caller `default`). A caller may have several keys, so a
key rotates by listing the old and the new one under the same name. An item is split at its
first `:`, so a key that holds `:` needs a name in front (`default:a:b`). Errors name the
item by position, never by its text: it is a secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from core.tokens import matches_any

DEFAULT_CALLER = "default"
CALLER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_CALLER = re.compile(CALLER_PATTERN)


class ApiKey(NamedTuple):
    """One accepted key and the caller it names."""

    caller: str
    key: str


def parse(value: str) -> tuple[ApiKey, ...]:
    """The keys of `MESSAGING_SERVICE_API_KEY`; ValueError names the bad item's position."""
    keys: list[ApiKey] = []
    items = [item.strip() for item in value.split(",")]
    for position, item in enumerate(items, 1):
        if not item:
            continue
        caller, sep, key = item.partition(":")
        if not sep:
            caller, key = DEFAULT_CALLER, item
        caller, key = caller.strip(), key.strip()
        if not _CALLER.match(caller):
            raise ValueError(
                f"item {position} has a caller name that is not 1 to 64 letters, digits, "
                "_ . - (write name:key)"
            )
        if not key:
            raise ValueError(f"item {position} ({caller}:) has no key")
        if any(k.key == key for k in keys):
            raise ValueError(f"item {position} ({caller}) repeats an earlier item's key")
        keys.append(ApiKey(caller, key))
    if not keys:
        raise ValueError("has no values")
    return tuple(keys)


def caller_of(presented: str, keys: Iterable[ApiKey]) -> str | None:
    """The caller whose key `presented` is, or None; compares against every key, in constant
    time each, whether or not one matched."""
    found = None
    for caller, key in keys:
        if matches_any(presented, (key,)):
            found = caller
    return found
