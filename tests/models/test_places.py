"""Locations read from any language, from registered company names, and kept when unknown."""

from __future__ import annotations

import pytest
from alembic import command
from pydantic import ValidationError
from sqlalchemy import Engine, text

from matcher.catalog import Catalog
from models.db import alembic_config, create_db_engine, migrate, session_factory
from models.enums import EntityKind
from models.places import (
    Location,
    PlaceConflictError,
    distance_between,
    location_from_company_name,
    parse_location,
    resolve_location,
)
from models.schemas import InvestorCreate, StartupCreate, StartupPublic

WUHAN = Location(country="CN", province="hubei", city="wuhan")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Registered names from the 创业邦 events, as written there.
        ("武汉精测电子技术股份有限公司", WUHAN),
        ("武汉市快鼠网络科技有限公司", WUHAN),
        ("蜂巢（武汉）微系统技术有限公司", WUHAN),
        ("吾能用餐（武汉）科技有限公司", WUHAN),
        ("好衣互联（北京）科技有限公司", Location("CN", "beijing", "beijing")),
        ("TCL空调器（中山）有限公司", Location("CN", "guangdong", "zhongshan")),
        ("北京四方继保自动化股份有限公司", Location("CN", "beijing", "beijing")),
        ("中山市中辰信息科技有限公司", Location("CN", "guangdong", "zhongshan")),
        ("四川省有色科技集团有限责任公司", Location("CN", "sichuan")),
        ("中国航发成都发动机有限公司", Location("CN", "sichuan", "chengdu")),
        ("湖北武汉某某有限公司", WUHAN),
        ("江苏省苏州某某科技有限公司", Location("CN", "jiangsu", "suzhou")),
        ("武汉市江岸区江岸药有限公司", Location("CN", "hubei", "wuhan", "jiangan")),
        ("武汉光谷芯有限公司", Location("CN", "hubei", "wuhan", "east_lake_hightech")),
        ("武汉东湖新技术开发区某某公司", Location("CN", "hubei", "wuhan", "east_lake_hightech")),
        ("武汉经开区某某汽车零部件有限公司", Location("CN", "hubei", "wuhan", "wuhan_econ_tech")),
        ("某某科技（深圳）有限公司", Location("CN", "guangdong", "shenzhen")),
        # No place in the name: nothing is guessed, brand words are not cities.
        ("华为技术有限公司", Location()),
        ("长城汽车股份有限公司", Location()),
        ("中山大学达安基因股份有限公司", Location()),
        ("阿里巴巴网络技术有限公司", Location()),
        ("北京光谷科技有限公司", Location("CN", "beijing", "beijing")),  # 光谷 outside Wuhan: no district
    ],
)
def test_registered_names(name: str, expected: Location) -> None:
    assert location_from_company_name(name) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wuhan", WUHAN),
        ("武汉", WUHAN),
        ("武汉市", WUHAN),
        ("湖北省武汉市洪山区", Location("CN", "hubei", "wuhan", "hongshan")),
        ("光谷", Location("CN", "hubei", "wuhan", "east_lake_hightech")),
        ("临空港", Location("CN", "hubei", "wuhan", "airport_econ")),
        ("Beijing", Location("CN", "beijing", "beijing")),
        ("北京", Location("CN", "beijing", "beijing")),
        ("深圳", Location("CN", "guangdong", "shenzhen")),
        ("Shenzhen, China", Location("CN", "guangdong", "shenzhen")),
        ("Bangalore", Location("IN", None, "bangalore")),
        ("Bengaluru, India", Location("IN", None, "bangalore")),
        ("Bangalore, IN", Location("IN", None, "bangalore")),  # India, not Indiana
        ("Chennai", Location("IN", None, "chennai")),
        ("San Francisco - California - USA", Location("US", "CA", "san_francisco")),
        ("Palo Alto, CA", Location("US", "CA", "palo_alto")),
        ("Cambridge, MA, USA", Location("US", "MA", "cambridge_us")),
        ("美国旧金山", Location("US", None, "san_francisco")),
        ("India", Location("IN")),
        ("Hubei", Location("CN", "hubei")),
        # Unknown places are kept as written, with whatever else is known.
        ("Springfield", Location(city="Springfield")),
        ("Springfield, IL", Location("US", "IL", "Springfield")),
        ("London, Ontario, Canada", Location("CA", None, "London")),
        ("", Location()),
    ],
)
def test_free_text_in_any_language(text: str, expected: Location) -> None:
    assert parse_location(text) == expected


def test_distances_between_cities_and_inside_wuhan() -> None:
    wuhan_beijing = distance_between(parse_location("Wuhan"), parse_location("北京"))
    assert wuhan_beijing is not None
    assert 1000 < wuhan_beijing < 1100
    districts = distance_between(parse_location("洪山区"), parse_location("光谷"))
    assert districts is not None
    assert 0 < districts < 15
    assert distance_between(parse_location("Springfield"), WUHAN) is None


def test_stated_parts_must_agree() -> None:
    assert resolve_location(city="武汉", district="hongshan") == Location("CN", "hubei", "wuhan", "hongshan")
    assert resolve_location(district="hongshan") == Location("CN", "hubei", "wuhan", "hongshan")
    with pytest.raises(PlaceConflictError, match="province '广东 / Guangdong' contradicts the city"):
        resolve_location(city="武汉", province="广东")
    with pytest.raises(PlaceConflictError, match="district"):
        resolve_location(city="Shenzhen", district="hongshan")


def test_profiles_take_any_city_and_keep_the_unknown() -> None:
    base = {"name": "新创", "industries": ["ai"], "stage": "seed"}
    assert StartupCreate.model_validate(base | {"city": "湖北省武汉市洪山区"}).model_dump(
        include={"country", "province", "city", "district"}
    ) == {"country": "CN", "province": "hubei", "city": "wuhan", "district": "hongshan"}
    abroad = StartupCreate.model_validate(base | {"city": "Tiruchirappalli", "country": "India"})
    assert (abroad.city, abroad.country) == ("Tiruchirappalli", "IN")
    fund = InvestorCreate.model_validate({"name": "基金", "investor_type": "vc", "district": "光谷"})
    assert (fund.city, fund.district) == ("wuhan", "east_lake_hightech")
    with pytest.raises(ValidationError, match="contradicts"):
        StartupCreate.model_validate(base | {"city": "深圳", "district": "洪山区"})
    # What is stored reads back unchanged (codes and kept text are fixed points).
    stored = StartupCreate.model_validate(base | {"city": "Palo Alto, CA, USA"}).model_dump()
    assert StartupCreate.model_validate(stored).model_dump() == stored


def _at_revision(url: str, revision: str) -> Engine:
    engine = create_db_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return engine


def test_migration_keeps_old_rows_and_places_wuhan_districts(empty_database_url: str) -> None:
    engine = _at_revision(empty_database_url, "0005")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO startups (external_id, name, district, active, consent_matching, "
                "one_liner, description, industries, stage, seeking) VALUES "
                "('s-old', '老企业', 'hongshan', true, true, '', '', '[\"ai\"]', 'seed', '[]'),"
                "('s-none', '无区', NULL, true, true, '', '', '[\"ai\"]', 'seed', '[]')"
            )
        )
    migrate(engine)
    with session_factory(engine)() as session:
        catalog = Catalog.from_database(session)
    rows = {r["external_id"]: r for r in catalog.tables[EntityKind.startup].records}
    assert {k: rows["s-old"][k] for k in ("country", "province", "city", "district")} == {
        "country": "CN",
        "province": "hubei",
        "city": "wuhan",
        "district": "hongshan",
    }
    assert rows["s-none"]["city"] is None
    assert (
        StartupPublic.model_validate(rows["s-old"] | {"created_at": rows["s-old"]["created_at"]}).city
        == "wuhan"
    )
    engine.dispose()


def test_a_country_code_that_is_also_a_state_is_not_read_as_the_state() -> None:
    # YC's "Lone Butte" with country "CA": Canada, not California.
    location = resolve_location(country="CA", city="Lone Butte")
    assert location.country == resolve_location(country="Canada").country
