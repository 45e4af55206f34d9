"""whatsapp.recipients: a recipient read as callers write it, and written as Meta and the Hub
take it; Meta's wa_id matched against the number we sent to."""

from __future__ import annotations

import pytest

from whatsapp.recipients import (
    PHONE_RULE,
    Recipient,
    parse_phone,
    parse_user_id,
    phone_variants,
    same_user,
)


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
    assert r.hub_fields() == {"recipient": "4915112345678", "recipient_user_id": None}


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


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("US.13491208655302741918", True),
        ("US.ENT.11815799212886844830", True),
        ("BR.1502576394655843", True),
        ("us.1349", False),
        ("USA.1349", False),
        ("US.", False),
        ("US.13-49", False),
        ("US." + "1" * 129, False),
        ("US." + "a" * 128, True),
        ("+4915112345678", False),
    ],
)
def test_user_ids(text: str, ok: bool) -> None:
    if ok:
        assert parse_user_id(text) == text
    else:
        with pytest.raises(ValueError, match="business-scoped user id"):
            parse_user_id(text)


def test_recipient_by_user_id_or_both() -> None:
    by_id = Recipient.parse(recipient="US.1349")
    assert by_id.key == "US.1349" and by_id.phone is None
    assert by_id.meta_fields() == {"recipient_type": "individual", "recipient": "US.1349"}
    both = Recipient.parse("+4915112345678", "US.1349")
    assert both.key == "4915112345678"
    assert both.meta_fields()["to"] == "4915112345678"
    assert both.meta_fields()["recipient"] == "US.1349"
    assert Recipient.stored("US.1349") == by_id
    assert Recipient.stored("4915112345678", "US.1349") == both
    # The Hub and the API name both ids; the number is null when Meta withholds it.
    assert by_id.hub_fields() == {"recipient": None, "recipient_user_id": "US.1349"}
    assert both.hub_fields() == {"recipient": "4915112345678", "recipient_user_id": "US.1349"}
    with pytest.raises(ValueError):
        Recipient()


def test_reported_as_by_user_id() -> None:
    r = Recipient.stored("4915112345678", "US.1349")
    assert r.reported_as(user_id="US.1349")
    assert r.reported_as(user_id="US.ENT.99")  # the parent id names the same user
    assert not r.reported_as(user_id="US.1350")
    assert not r.reported_as(wa_id="4915112345679", user_id="US.1349")
    assert Recipient.stored("US.1349").reported_as(wa_id="4915112345678")


@pytest.mark.parametrize(
    ("number", "variants"),
    [
        ("5511987654321", {"5511987654321", "551187654321"}),  # Brazil, with the ninth digit
        ("551187654321", {"551187654321", "5511987654321"}),  # and without
        ("5215512345678", {"5215512345678", "525512345678"}),  # Mexico's 1
        ("5491112345678", {"5491112345678", "541112345678"}),  # Argentina's 9
        ("4915112345678", {"4915112345678"}),  # elsewhere, one way only
    ],
)
def test_phone_variants_are_the_ways_whatsapp_may_write_a_number(
    number: str, variants: set[str]
) -> None:
    assert phone_variants(number) == variants
    assert all(same_user(number, v) for v in variants)
