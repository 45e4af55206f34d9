"""USAGE_RATE_CARD_PATH: a JSON or CSV rate card read at start (a bad one fails naming the
variable), and the price of a message by the longest country calling code that matches."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from core.rate_card import load
from core.settings import Settings, SettingsError
from tests.core.test_settings import env

CARD = {"1": {"utility": 0.004}, "1876": {"utility": 0.01}, "49": {"marketing": 0.1365}}
JSON = '{"currency": "EUR", "rates": %s}'


def test_no_path_is_no_card() -> None:
    assert Settings.from_env(env()).usage_rate_card is None


@pytest.mark.parametrize(
    ("prefix", "category", "price"),
    [
        ("4915", "marketing", Decimal("0.1365")),
        ("4915", "utility", None),  # no rate for +49 utility, and no `*`
        ("1212", "utility", Decimal("0.004")),
        ("1876", "utility", Decimal("0.01")),  # the longest code wins
        ("US.1", "utility", None),  # a BSUID: only `*` would price it
        ("4915", None, None),
    ],
)
def test_prices_by_the_longest_code(
    tmp_path: Path, prefix: str, category: str | None, price: Decimal | None
) -> None:
    path = tmp_path / "card.json"
    path.write_text(JSON % str(CARD).replace("'", '"'))
    card = load(str(path))
    assert card is not None and card.currency == "EUR" and card.prefix_digits == 4
    assert card.price(prefix, category) == price


# label, file name, its text, what the error says
BAD = [
    ("missing file", "absent.json", None, "cannot be read"),
    ("not JSON", "card.json", "{", "neither a .csv file nor valid JSON"),
    ("no rates", "card.json", '{"currency": "USD"}', 'must hold {"currency"'),
    ("no currency", "card.json", '{"rates": {"1": {"utility": 1}}}', "three capital letters"),
    ("a bad code", "card.json", JSON % '{"+1": {"utility": 1}}', "+1/utility: a country"),
    ("a bad price", "card.json", JSON % '{"1": {"utility": "cheap"}}', "a price is a number"),
    ("a negative price", "card.json", JSON % '{"1": {"utility": -1}}', "a price is a number"),
    ("a bad category", "card.json", JSON % '{"1": {"Utility": 1}}', "lower case"),
    ("nothing priced", "card.json", JSON % "{}", "prices nothing"),
    ("CSV header", "card.csv", "code,category,price\n1,utility,1\n", "CSV must start"),
    (
        "CSV two currencies",
        "card.csv",
        "country_calling_code,category,price,currency\n1,utility,1,USD\n44,utility,1,EUR\n",
        "one currency",
    ),
    (
        "CSV short row",
        "card.csv",
        "country_calling_code,category,price,currency\n1,utility\n",
        "4 columns",
    ),
    (
        "CSV twice",
        "card.csv",
        "country_calling_code,category,price,currency\n1,utility,1,USD\n1,utility,2,USD\n",
        "priced twice",
    ),
]


@pytest.mark.parametrize(("label", "name", "text", "fragment"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_card_fails_at_start_naming_the_variable(
    tmp_path: Path, label: str, name: str, text: str | None, fragment: str
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env(USAGE_RATE_CARD_PATH=str(path)))
    assert str(caught.value).startswith("USAGE_RATE_CARD_PATH ")
    assert fragment in str(caught.value)
