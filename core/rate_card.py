"""The rate card (`USAGE_RATE_CARD_PATH`): a price per country calling code and pricing
category, which turns usage counts into an estimated cost. Meta's invoice is the truth.

A JSON file: `{"currency": "USD", "rates": {"44": {"marketing": 0.0705, "utility": 0.022},
"*": {...}}}`; or a CSV file with the header `country_calling_code,category,price,currency`
(one currency throughout). Codes are 1 to 4 digits (4 for NANP areas Meta prices apart);
`*` prices recipients no code matches, and those sent by business-scoped user id alone.
Categories are Meta's (`marketing`, `utility`, `authentication`, ...), lower case.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

ANY_COUNTRY = "*"
_CODE = re.compile(r"^(?:[1-9][0-9]{0,3}|\*)$")
_CATEGORY = re.compile(r"^[a-z_]{1,64}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_CSV_HEADER = ["country_calling_code", "category", "price", "currency"]


@dataclass(frozen=True)
class RateCard:
    """Prices by (country calling code or `*`, category), in one currency."""

    currency: str
    rates: dict[tuple[str, str], Decimal]

    @property
    def prefix_digits(self) -> int:
        """How many leading digits of a phone number its longest code needs."""
        return max((len(code) for code, _ in self.rates if code != ANY_COUNTRY), default=0)

    def price(self, prefix: str, category: str | None) -> Decimal | None:
        """The price of one billable message in `category` to a number starting with
        `prefix` (the longest code that matches wins; else `*`); None: no rate."""
        if category is None:
            return None
        if prefix.isdigit():
            for length in range(min(len(prefix), 4), 0, -1):
                if (prefix[:length], category) in self.rates:
                    return self.rates[(prefix[:length], category)]
        return self.rates.get((ANY_COUNTRY, category))


def load(path: str) -> RateCard | None:
    """The card in the file at `path` (`.csv`, else JSON); "" is no card. ValueError says what
    is wrong (the settings name the variable)."""
    if not path.strip():
        return None
    try:
        text = Path(path.strip()).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"names a file that cannot be read ({exc.strerror})") from None
    if path.strip().lower().endswith(".csv"):
        return _from_csv(text)
    try:
        document = json.loads(text)
    except ValueError:
        raise ValueError("is neither a .csv file nor valid JSON") from None
    return _from_json(document)


def _from_json(document: Any) -> RateCard:
    if not isinstance(document, dict) or not isinstance(document.get("rates"), dict):
        shape = '{"currency": "USD", "rates": {"<code>": {"<category>": price}}}'
        raise ValueError(f"must hold {shape}")
    rows = []
    for code, prices in document["rates"].items():
        if not isinstance(prices, dict):
            raise ValueError(f"rates.{code} must map categories to prices")
        rows += [(code, category, price) for category, price in prices.items()]
    return _card(document.get("currency"), rows)


def _from_csv(text: str) -> RateCard:
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    if header != _CSV_HEADER:
        raise ValueError(f"CSV must start with the header {','.join(_CSV_HEADER)}")
    rows = [[c.strip() for c in row] for row in reader if any(c.strip() for c in row)]
    if any(len(row) != len(_CSV_HEADER) for row in rows):
        raise ValueError(f"CSV rows must have {len(_CSV_HEADER)} columns")
    currencies = {row[3] for row in rows}
    if len(currencies) > 1:
        raise ValueError("CSV must use one currency throughout")
    return _card(next(iter(currencies), None), [(r[0], r[1], r[2]) for r in rows])


def _card(currency: Any, rows: list[tuple[Any, Any, Any]]) -> RateCard:
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise ValueError("must name its currency as three capital letters, like USD")
    rates: dict[tuple[str, str], Decimal] = {}
    for code, category, price in rows:
        where = f"{code}/{category}"
        if not isinstance(code, str) or not _CODE.match(code):
            raise ValueError(f"{where}: a country calling code is 1 to 4 digits, or *")
        if not isinstance(category, str) or not _CATEGORY.match(category):
            raise ValueError(f"{where}: a category is lower case, like marketing")
        if (code, category) in rates:
            raise ValueError(f"{where} is priced twice")
        rates[(code, category)] = _price(price, where)
    if not rates:
        raise ValueError("prices nothing")
    return RateCard(currency, rates)


def _price(value: Any, where: str) -> Decimal:
    try:
        price = Decimal(str(value)) if not isinstance(value, bool) else Decimal("NaN")
    except InvalidOperation:
        price = Decimal("NaN")
    if not price.is_finite() or price < 0:
        raise ValueError(f"{where}: a price is a number, 0 or more")
    return price
