"""A WhatsApp user's two names: the number we send to, and the WhatsApp ID (`wa_id`) Meta
reports them by (a status's `recipient_id`, an inbound message's `from`).

Both are digits only (E.164 without `+`), and the same digits except where a country's
mobile numbers are written two ways and WhatsApp registered the user under the other one:
Brazil's ninth digit after the two-digit area code, Mexico's `1` after 52 and Argentina's
`9` after 54, in either direction. Meta's send answer names both (`contacts[0].input` and
`contacts[0].wa_id`) for this reason.
"""

from __future__ import annotations

# (country code, digits before the one that may be added or left out, that digit)
_OPTIONAL_DIGITS = (("55", 4, "9"), ("52", 2, "1"), ("54", 2, "9"))


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
