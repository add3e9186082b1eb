"""Amounts and dates as people write them in real files, read into one form.

Money: digits with any thousands grouping (``1,500,000``, Indian ``20,00,00,000``, ``1 500 000``),
Chinese units (``500万``, ``1.5亿``, ``3千万``), English suffixes (``1.5M``, ``200k``), and a currency
before or after (``USD 1,500,000``, ``$1.5M``, ``500万美元``). Yuan (CNY) is assumed; another
currency is converted to yuan at the fixed rate of ``models/data/currencies.toml`` (not a
market rate: amounts compare on one footing whenever they were imported).

Dates: ``2019-03-01``, ``2019/3/1``, ``2019.3.1``, ``2019年3月1日``, ``20190301``, a month alone
(``2019-03``, ``2019年3月`` → its first day) and day-first ``01/03/2019`` (= 1 March 2019). The
rule for ``a/b/yyyy``: day first, as in most of the world; when the first number cannot be a
day-of-month's partner (the second is above 12) it is read month first, US style.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

from models.shipped import shipped_toml

__all__ = ["CURRENCY_RATES", "DATE_FORMATS", "Amount", "parse_amount", "parse_date", "parse_money_cny"]

DATE_FORMATS: Final = "2019-03-01, 2019/3/1, 2019年3月1日, 2019-03 or 01/03/2019 (day first)"
_UNITS: Final = {
    "万": Decimal(10_000),
    "亿": Decimal(100_000_000),
    "千万": Decimal(10_000_000),
    "百万": Decimal(1_000_000),
    "千": Decimal(1_000),
    "k": Decimal(1_000),
    "m": Decimal(1_000_000),
    "mn": Decimal(1_000_000),
    "million": Decimal(1_000_000),
    "b": Decimal(1_000_000_000),
    "bn": Decimal(1_000_000_000),
    "billion": Decimal(1_000_000_000),
}
_NUMBER: Final = re.compile(r"^(?P<number>\d{1,3}(?:[,\s]\d{2,3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?P<unit>[^\d]*)$")


def _load_rates() -> tuple[dict[str, Decimal], dict[str, str]]:
    table = shipped_toml("currencies.toml")
    rates = {code: Decimal(str(entry["rate"])) for code, entry in table.items()}
    spellings = {
        spelling.casefold(): code for code, entry in table.items() for spelling in entry["spellings"]
    }
    return rates, spellings


CURRENCY_RATES, _CURRENCY_SPELLINGS = _load_rates()
# Longest first, so "US$" is read before "$" and "元人民币" before "元".
_CURRENCY_ORDER: Final = sorted(_CURRENCY_SPELLINGS, key=len, reverse=True)


@dataclass(frozen=True)
class Amount:
    """An amount as given (in its currency) and its value in yuan for comparison."""

    value: Decimal
    currency: str

    @property
    def cny(self) -> int:
        return int((self.value * CURRENCY_RATES[self.currency]).to_integral_value())


def _strip_currency(text: str) -> tuple[str, str | None]:
    lowered = text.casefold()
    for spelling in _CURRENCY_ORDER:
        if lowered.startswith(spelling):
            return text[len(spelling) :].strip(), _CURRENCY_SPELLINGS[spelling]
        if lowered.endswith(spelling):
            return text[: len(text) - len(spelling)].strip(), _CURRENCY_SPELLINGS[spelling]
    return text, None


def parse_amount(text: str) -> Amount:
    """An amount from text; ValueError naming the accepted forms when it is none."""
    cleaned = unicodedata.normalize("NFKC", text).strip().replace("，", ",")
    rest, currency = _strip_currency(cleaned)
    if currency is not None:  # a currency may stand on either side of the unit: 500万美元, $1.5M
        rest, other = _strip_currency(rest)
        if other is not None and other != currency:
            raise ValueError(f"{text!r} names two currencies")
    match = _NUMBER.match(rest.strip())
    unit = match.group("unit").strip().casefold() if match else ""
    if match is None or (unit and unit not in _UNITS):
        raise ValueError(
            f"{text!r} is not an amount: write digits (1500000, 1,500,000, 20,00,00,000), "
            "with 万 or 亿 (500万, 1.5亿) or k/M, and a currency if not yuan (USD 1,500,000)"
        )
    try:
        number = Decimal(re.sub(r"[,\s]", "", match.group("number")))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimal digits
        raise ValueError(f"{text!r} is not an amount") from None
    return Amount(number * _UNITS.get(unit, Decimal(1)), currency or "CNY")


def parse_money_cny(text: str) -> int:
    """Whole yuan for an amount written in any of the forms `parse_amount` reads."""
    return parse_amount(text).cny


_ISO_LIKE: Final = re.compile(r"^(\d{4})[-/.](\d{1,2})(?:[-/.](\d{1,2}))?$")
_CHINESE: Final = re.compile(r"^(\d{4})年(\d{1,2})月(?:(\d{1,2})[日号]?)?$")
_COMPACT: Final = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DAY_FIRST: Final = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
_MONTHS_IN_YEAR: Final = 12


def parse_date(text: str) -> dt.date:
    """A date from the common formats (see the module docstring); ValueError naming them."""
    cleaned = unicodedata.normalize("NFKC", text).strip().replace(" ", "")
    cleaned = cleaned.split("T", 1)[0] if re.match(r"^\d{4}-\d{2}-\d{2}T", cleaned) else cleaned
    for pattern in (_ISO_LIKE, _CHINESE, _COMPACT):
        if (match := pattern.match(cleaned)) is not None:
            year, month, day = match.groups()
            return _date(text, int(year), int(month), int(day) if day else 1)
    if (match := _DAY_FIRST.match(cleaned)) is not None:
        first, second, year = (int(part) for part in match.groups())
        day, month = (second, first) if second > _MONTHS_IN_YEAR else (first, second)
        return _date(text, int(year), month, day)
    raise ValueError(f"{text!r} is not a date: expected {DATE_FORMATS}")


def _date(text: str, year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError as error:
        raise ValueError(f"{text!r} is not a date ({error}): expected {DATE_FORMATS}") from None
