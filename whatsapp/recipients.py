"""A message's recipient: who it goes to, as the service, Meta and the Hub name them.

Today a recipient is a WhatsApp user reached by phone number: digits only, E.164 without
`+` (`parse_phone` reads what a caller wrote, `+` or not). `Recipient` is how the rest of
the service holds one: what is stored and keyed on (`key`), the fields of Meta's /messages
body (`meta_fields`), and what the Hub's events say (`hub_fields`).

Meta reports a user by their WhatsApp ID (`wa_id`: a status's `recipient_id`, an inbound
message's `from`), the same digits as the number we sent to except where a country's mobile
numbers are written two ways and WhatsApp registered the user under the other one: Brazil's
ninth digit after the two-digit area code, Mexico's `1` after 52 and Argentina's `9` after
54, in either direction (`same_user`). Meta's send answer names both (`contacts[0].input`
and `contacts[0].wa_id`) for this reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# E.164: a country code never starts with 0; 8 to 15 digits in all.
PHONE_PATTERN = r"^\+?[1-9][0-9]{7,14}$"
PHONE_RULE = "must be 8 to 15 digits (E.164), optionally after a +"
_PHONE = re.compile(PHONE_PATTERN)
# (country code, digits before the one that may be added or left out, that digit)
_OPTIONAL_DIGITS = (("55", 4, "9"), ("52", 2, "1"), ("54", 2, "9"))


def parse_phone(text: str) -> str:
    """The number's digits; ValueError (`PHONE_RULE`) when it is not a phone number."""
    if not _PHONE.match(text):
        raise ValueError(PHONE_RULE)
    return text.removeprefix("+")


@dataclass(frozen=True, slots=True)
class Recipient:
    """A WhatsApp user a message goes to, by phone number (digits only)."""

    phone: str

    @classmethod
    def parse(cls, text: str) -> Recipient:
        return cls(parse_phone(text))

    @property
    def key(self) -> str:
        """What a message stores and a pair limit or service window is keyed on."""
        return self.phone

    def meta_fields(self) -> dict[str, Any]:
        """Who it goes to, in Meta's /messages body."""
        return {"recipient_type": "individual", "to": self.phone}

    def hub_fields(self) -> dict[str, Any]:
        """Who it went to, in the Hub's events."""
        return {"recipient": self.phone}

    def reported_as(self, wa_id: str) -> bool:
        """Whether Meta's `wa_id` names this user."""
        return same_user(self.phone, wa_id)


def same_user(number: str, wa_id: str) -> bool:
    """Whether Meta's `wa_id` can name the user we sent `number` to."""
    if wa_id == number:
        return True
    if abs(len(wa_id) - len(number)) != 1:
        return False
    longer, shorter = (wa_id, number) if len(wa_id) > len(number) else (number, wa_id)
    return any(
        shorter.startswith(country)
        and longer[at] == digit
        and longer[:at] + longer[at + 1 :] == shorter
        for country, at, digit in _OPTIONAL_DIGITS
    )
