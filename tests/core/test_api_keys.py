"""MESSAGING_SERVICE_API_KEY names callers: `name:key` items, bare keys for `default`,
several keys per caller for rotation; a malformed value fails at start naming the variable
and the item's position, never the key; the caller of a presented key is found comparing
every key."""

from __future__ import annotations

import pytest

from core.api_keys import caller_of, parse
from core.logs import secrets_of
from core.settings import Settings, SettingsError
from tests.core.test_settings import env

# label, the variable's value, the (caller, key) pairs it names
CALLERS = [
    ("a bare key is the caller default", "KEY1", [("default", "KEY1")]),
    (
        "named keys",
        "billing:KEY1,support:KEY2",
        [("billing", "KEY1"), ("support", "KEY2")],
    ),
    (
        "rotation: two keys of one caller",
        "billing:OLD,billing:NEW",
        [("billing", "OLD"), ("billing", "NEW")],
    ),
    (
        "bare and named mixed, spaces and empty items ignored",
        " KEY0 , billing : KEY1 ,, ",
        [("default", "KEY0"), ("billing", "KEY1")],
    ),
    ("split at the first colon: a key may hold colons", "ops:a:b:c", [("ops", "a:b:c")]),
    ("a name with digits, dots, dashes", "team-2.eu_west:K", [("team-2.eu_west", "K")]),
]

# label, the variable's value, what the error says
MALFORMED = [
    ("no values", " , ", "has no values"),
    ("an empty name", "KEY1,:SECRET-2", "item 2 has a caller name"),
    ("a name with a space", "my team:SECRET-3", "item 1 has a caller name"),
    ("a name too long", "n" * 65 + ":SECRET-4", "item 1 has a caller name"),
    ("a name without key", "billing:", "item 1 (billing:) has no key"),
    ("one key for two callers", "billing:SECRET-5,support:SECRET-5", "item 2 (support) repeats"),
    ("one key twice", "SECRET-6,SECRET-6", "item 2 (default) repeats"),
]


@pytest.mark.parametrize(("label", "value", "keys"), CALLERS, ids=[c[0] for c in CALLERS])
def test_callers_are_parsed(label: str, value: str, keys: list[tuple[str, str]]) -> None:
    s = Settings.from_env(env(MESSAGING_SERVICE_API_KEY=value))
    assert [(k.caller, k.key) for k in s.api_keys] == keys
    assert all(k.key in secrets_of(s) for k in s.api_keys)  # redacted from logs
    assert all(k.key not in repr(s) for k in s.api_keys)


@pytest.mark.parametrize(("label", "value", "fragment"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_values_fail_naming_the_variable_not_the_key(
    label: str, value: str, fragment: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env(MESSAGING_SERVICE_API_KEY=value))
    assert str(caught.value).startswith("MESSAGING_SERVICE_API_KEY ")
    assert fragment in str(caught.value)
    assert "SECRET" not in str(caught.value)


@pytest.mark.parametrize(
    ("presented", "caller"),
    [
        ("KEY0", "default"),
        ("OLD", "billing"),
        ("NEW", "billing"),
        ("KEY2", "support"),
        ("KEY", None),
        ("NEW ", None),
        ("", None),
        ("\udcff", None),  # a header byte that is not UTF-8, surrogate-escaped
    ],
)
def test_the_caller_of_a_presented_key(presented: str, caller: str | None) -> None:
    keys = parse("KEY0,billing:OLD,billing:NEW,support:KEY2")
    assert caller_of(presented, keys) == caller
