"""whatsapp.recipients: a recipient read as callers write it, and written as Meta and the Hub
take it; Meta's wa_id matched against the number we sent to."""

from __future__ import annotations

import pytest

from whatsapp.recipients import PHONE_RULE, Recipient, parse_phone, same_user


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("+4915112345678", "4915112345678"),
        ("4915112345678", "4915112345678"),
        ("12345678", "12345678"),
    ],
)
def test_a_phone_number_is_kept_as_its_digits(text: str, digits: str) -> None:
    assert parse_phone(text) == digits
    assert Recipient.parse(text).key == digits


@pytest.mark.parametrize(
    "text",
    [
        "",
        "+",
        "1234567",
        "0491511234567",
        "+49 151 1234567",
        "49151123456789012",
        "++4915112345678",
    ],
)
def test_anything_else_is_refused_with_the_rule(text: str) -> None:
    with pytest.raises(ValueError, match=r"must be 8 to 15 digits \(E.164\)"):
        parse_phone(text)
    assert PHONE_RULE.startswith("must be")


def test_written_to_meta_and_to_the_hub() -> None:
    r = Recipient.parse("+4915112345678")
    assert r.meta_fields() == {"recipient_type": "individual", "to": "4915112345678"}
    assert r.hub_fields() == {"recipient": "4915112345678"}


@pytest.mark.parametrize(
    ("number", "wa_id", "same"),
    [
        ("4915112345678", "4915112345678", True),
        ("5511987654321", "551187654321", True),  # Brazil: the ninth digit left out
        ("551187654321", "5511987654321", True),  # and added
        ("525512345678", "5215512345678", True),  # Mexico: 1 after 52
        ("541112345678", "5491112345678", True),  # Argentina: 9 after 54
        ("4915112345678", "4915112345679", False),
        ("4915112345678", "49151123456789", False),  # one digit more, not a known rule
    ],
)
def test_metas_wa_id_names_the_user_we_sent_to(number: str, wa_id: str, same: bool) -> None:
    assert same_user(number, wa_id) is same
    assert Recipient(number).reported_as(wa_id) is same
