"""A WhatsApp user, as the service, Meta and the Hub name them: phone number and BSUID.

A user is reached by phone number (digits only, E.164 without `+`; `parse_phone` reads what
a caller wrote, `+` or not) or by business-scoped user id (BSUID, `parse_user_id`): Meta's id
for a user within one business portfolio, the only one it reveals for a user who adopted a
username and withholds their number. A BSUID is a two-letter country code, a dot and up to
128 letters and digits (`US.13491208655302741918`); a parent BSUID, shared by linked
portfolios, has `ENT` after the country (`US.ENT.11815799212886844830`).

`Recipient` is how the rest of the service holds the user a message goes to: what is stored
and keyed on (`key`: the number when there is one, else the BSUID), the fields of Meta's
/messages body (`meta_fields`: Meta takes `to` over `recipient` when both are given), and
what the Hub's events say (`hub_fields`). `is_user_id` tells a stored key's kind.

Meta reports a phone user by their WhatsApp ID (`wa_id`: a status's `recipient_id`, an
inbound message's `from`), the same digits as the number we sent to except where a
country's mobile numbers are written two ways and WhatsApp registered the user under the
other one: Brazil's ninth digit after the two-digit area code, Mexico's `1` after 52 and
Argentina's `9` after 54, in either direction (`same_user`). Meta's send answer names both
(`contacts[0].input` and `contacts[0].wa_id`) for this reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# E.164: a country code never starts with 0; 8 to 15 digits in all.
PHONE_PATTERN = r"^\+?[1-9][0-9]{7,14}$"
PHONE_RULE = "must be 8 to 15 digits (E.164), optionally after a +"
USER_ID_PATTERN = r"^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}$"
USER_ID_RULE = (
    "must be a business-scoped user id: a two-letter country code, a dot and up to 128"
    " letters and digits (US.13491208655302741918; a parent id has ENT: US.ENT.1181...)"
)
_PHONE = re.compile(PHONE_PATTERN)
_USER_ID = re.compile(USER_ID_PATTERN)
# (country code, digits before the one that may be added or left out, that digit)
_OPTIONAL_DIGITS = (("55", 4, "9"), ("52", 2, "1"), ("54", 2, "9"))


def parse_phone(text: str) -> str:
    """The number's digits; ValueError (`PHONE_RULE`) when it is not a phone number."""
    if not _PHONE.match(text):
        raise ValueError(PHONE_RULE)
    return text.removeprefix("+")


def parse_user_id(text: str) -> str:
    """A BSUID or parent BSUID, as given; ValueError (`USER_ID_RULE`) when it is neither."""
    if not _USER_ID.match(text):
        raise ValueError(USER_ID_RULE)
    return text


def is_user_id(key: str) -> bool:
    """Whether a stored key (or anything Meta or a caller wrote) is a BSUID, not a number."""
    return "." in key


def is_parent_user_id(user_id: str) -> bool:
    return user_id[2:7] == ".ENT."


@dataclass(frozen=True, slots=True)
class Recipient:
    """A WhatsApp user a message goes to: by phone number (digits only), by BSUID, or both."""

    phone: str | None = None
    user_id: str | None = None

    def __post_init__(self) -> None:
        if self.phone is None and self.user_id is None:
            raise ValueError("a recipient needs a phone number or a user id")

    @classmethod
    def parse(cls, to: str | None = None, recipient: str | None = None) -> Recipient:
        """From a caller's `to` and `recipient`; ValueError naming the rule otherwise."""
        return cls(
            parse_phone(to) if to is not None else None,
            parse_user_id(recipient) if recipient is not None else None,
        )

    @classmethod
    def stored(cls, key: str, user_id: str | None = None) -> Recipient:
        """From a message's `recipient` (its `key`) and the BSUID stored beside it, if any."""
        if is_user_id(key):
            return cls(None, key)
        return cls(key, user_id)

    @property
    def key(self) -> str:
        """What a message stores and a pair limit or service window is keyed on."""
        return self.phone if self.phone is not None else self.user_id  # type: ignore[return-value]

    def meta_fields(self) -> dict[str, Any]:
        """Who it goes to, in Meta's /messages body (Meta takes `to` when both are given)."""
        fields: dict[str, Any] = {"recipient_type": "individual"}
        if self.phone is not None:
            fields["to"] = self.phone
        if self.user_id is not None:
            fields["recipient"] = self.user_id
        return fields

    def hub_fields(self) -> dict[str, Any]:
        """Who it went to, in the Hub's events and the API's answers: `recipient`, the phone
        number (null for a send by BSUID alone: Meta withholds a username user's number), and
        `recipient_user_id`, the BSUID (null until the caller or Meta names one)."""
        return {"recipient": self.phone, "recipient_user_id": self.user_id}

    def reported_as(self, wa_id: str | None = None, user_id: str | None = None) -> bool:
        """Whether the ids Meta reported (a status's `recipient_id`, `recipient_user_id` or
        parent id) can name this user. An id we do not know for them contradicts nothing."""
        if wa_id is not None and self.phone is not None and not same_user(self.phone, wa_id):
            return False
        if user_id is not None and self.user_id is not None and user_id != self.user_id:
            # A parent BSUID and a BSUID are different names for the same user.
            return is_parent_user_id(user_id) != is_parent_user_id(self.user_id)
        return True


def phone_variants(number: str) -> set[str]:
    """The number and the other way WhatsApp may have registered it (`same_user`): Brazil's
    ninth digit, Mexico's `1`, Argentina's `9`, with or without."""
    found = {number}
    for country, at, digit in _OPTIONAL_DIGITS:
        if number.startswith(country) and len(number) > at:
            if number[at] == digit:  # written with it: the other way is without
                found.add(number[:at] + number[at + 1 :])
            else:
                found.add(number[:at] + digit + number[at:])
    return {v for v in found if same_user(number, v)}


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
