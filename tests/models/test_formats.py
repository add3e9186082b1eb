"""Real files go in: amounts, dates and places as people write them, and no wrong suggestion."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from matcher.catalog import Catalog
from models.db import create_db_engine, migrate, session_factory
from models.enums import EntityKind
from models.formats import CURRENCY_RATES, parse_amount, parse_date, parse_money_cny
from models.kinds import KINDS
from models.schemas import InteractionCreate, StartupCreate
from models.taxonomy import UnknownTermError, normalize_area, normalize_industry
from models.transfer import import_records


@pytest.mark.parametrize(
    ("text", "cny"),
    [
        ("20,00,00,000", 200_000_000),  # Indian grouping
        ("1,500,000", 1_500_000),
        ("1500000", 1_500_000),
        ("1 500 000", 1_500_000),
        ("500万", 5_000_000),
        ("1.5亿", 150_000_000),
        ("3千万", 30_000_000),
        ("¥200k", 200_000),
        ("200万元", 2_000_000),
    ],
)
def test_yuan_in_any_common_form(text: str, cny: int) -> None:
    assert parse_money_cny(text) == cny


def test_other_currencies_keep_their_amount_and_convert_at_the_fixed_rate() -> None:
    usd = parse_amount("USD 1,500,000")
    assert (usd.value, usd.currency) == (Decimal(1_500_000), "USD")
    assert usd.cny == round(1_500_000 * CURRENCY_RATES["USD"])
    assert parse_amount("$1.5M").cny == usd.cny
    assert parse_amount("500万美元").currency == "USD"
    assert parse_amount("₹20,00,00,000").currency == "INR"


@pytest.mark.parametrize("text", ["abc", "1,5", "12 apples", "USD 5 EUR"])
def test_a_non_amount_names_the_forms_accepted(text: str) -> None:
    with pytest.raises(ValueError, match=f"{text!r}"):
        parse_amount(text)


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2019-03-01", dt.date(2019, 3, 1)),
        ("2019/3/1", dt.date(2019, 3, 1)),
        ("2019.3.1", dt.date(2019, 3, 1)),
        ("2019年3月1日", dt.date(2019, 3, 1)),
        ("20190301", dt.date(2019, 3, 1)),
        ("2019-03", dt.date(2019, 3, 1)),
        ("2019年3月", dt.date(2019, 3, 1)),
        ("01/03/2019", dt.date(2019, 3, 1)),  # the documented rule: day first
        ("03/25/2019", dt.date(2019, 3, 25)),  # 25 cannot be a month: month first
    ],
)
def test_dates_in_common_formats(text: str, day: dt.date) -> None:
    assert parse_date(text) == day


@pytest.mark.parametrize("text", ["2019-02-30", "1/3/19", "March 2019", "昨天"])
def test_a_bad_date_names_the_expected_formats(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected 2019-03-01, 2019/3/1, 2019年3月1日"):
        parse_date(text)


def test_schemas_read_the_formats_and_name_the_field() -> None:
    startup = StartupCreate.model_validate(
        {
            "name": "新创",
            "industries": ["Transportation"],
            "stage": "seed",
            "funding_ask_cny": "1.5亿",
            "founded_on": "2019年3月1日",
            "city": "Bangalore",
        }
    )
    assert startup.funding_ask_cny == 150_000_000
    assert startup.founded_on == dt.date(2019, 3, 1)
    assert startup.industries == [normalize_industry("Transport")]
    deal = InteractionCreate.model_validate(
        {
            "actor_kind": "investor",
            "actor_external_id": "I-1",
            "target_kind": "startup",
            "target_external_id": "S-1",
            "kind": "invested",
            "occurred_at": "2019/3/1",
            "amount_cny": "USD 1,500,000",
        }
    )
    assert deal.occurred_at.isoformat() == "2019-03-01T00:00:00+08:00"
    with pytest.raises(ValidationError, match="founded_on") as error:
        StartupCreate.model_validate(
            {"name": "x", "industries": ["ai"], "stage": "seed", "founded_on": "1/3/19"}
        )
    assert "expected 2019-03-01" in str(error.value)


@pytest.mark.parametrize(("vocabulary", "value"), [(normalize_area, "Chennai"), (normalize_industry, "nan")])
def test_no_wrong_close_match_is_suggested(vocabulary: object, value: str) -> None:
    with pytest.raises(UnknownTermError) as error:
        vocabulary(value)  # type: ignore[operator]
    assert error.value.suggestions == ()


@pytest.mark.parametrize(
    ("vocabulary", "typo", "fix"),
    [
        (normalize_industry, "finace", "finance"),
        (normalize_area, "Hongshn", "hongshan"),
        (normalize_industry, "人工只能", "人工智能"),
    ],
)
def test_a_typo_still_gets_its_fix(vocabulary: object, typo: str, fix: str) -> None:
    with pytest.raises(UnknownTermError) as error:
        vocabulary(typo)  # type: ignore[operator]
    assert error.value.suggestions[0] == fix


def test_a_csv_like_import_takes_money_dates_and_any_city(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'import.db'}")
    migrate(engine)
    factory = session_factory(engine)
    rows = [
        {"external_id": "S-in", "name": "Chai Labs", "industries": "fintech", "stage": "seed",
         "funding_ask_cny": "20,00,00,000", "founded_on": "01/03/2019", "city": "Bangalore, India"},
        {"external_id": "S-wh", "name": "光谷芯", "industries": "半导体", "stage": "天使轮",
         "funding_ask_cny": "500万", "founded_on": "2019年3月", "city": "湖北省武汉市洪山区"},
        {"external_id": "S-xx", "name": "Far", "industries": "ai", "stage": "seed", "city": "Madurai"},
    ]  # fmt: skip
    report = import_records(factory, KINDS["startups"], rows, secret="test")
    assert report.created == 3
    with factory() as session:
        stored = {
            r["external_id"]: r for r in Catalog.from_database(session).tables[EntityKind.startup].records
        }
    assert (stored["S-in"]["funding_ask_cny"], stored["S-in"]["city"], stored["S-in"]["country"]) == (
        200_000_000,
        "bangalore",
        "IN",
    )
    assert stored["S-in"]["founded_on"] == dt.date(2019, 3, 1)
    assert (stored["S-wh"]["funding_ask_cny"], stored["S-wh"]["district"]) == (5_000_000, "hongshan")
    assert stored["S-xx"]["city"] == "Madurai"  # unknown: kept as given, not refused
    engine.dispose()
