"""Where a profile is: country, province and city, plus the district or zone inside Wuhan.

The gazetteer is data (``models/data/places.toml``): China's provinces and prefecture-level
cities in 中文 and pinyin, the major cities and countries elsewhere, US states, each with an
approximate point for distances. A place is read from any language and layout people write
("武汉市洪山区", "湖北武汉", "Wuhan", "Bangalore, India", "San Francisco - California - USA") and
from registered company names, branch forms included (``XX（武汉）有限公司``,
``XX科技（深圳）有限公司``, ``武汉XX科技有限公司``).

Known places are stored as stable codes (``CN``, ``hubei``, ``wuhan``, ``bangalore``); a place
the gazetteer does not know is kept as the text given, never refused, so an import from any
city in the world goes in. Like `models.taxonomy`, this module is stdlib-only.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Final

from models.shipped import shipped_toml
from models.taxonomy import AREAS, spelling_key

__all__ = [
    "CHINA",
    "CITIES",
    "COUNTRIES",
    "PROVINCES",
    "WUHAN",
    "City",
    "Location",
    "PlaceConflictError",
    "distance_between",
    "location_from_company_name",
    "parse_location",
    "place_names",
    "point_of",
    "resolve_location",
    "wuhan_area_in",
]

CHINA: Final = "CN"
WUHAN: Final = "wuhan"
HUBEI: Final = "hubei"
_EARTH_RADIUS_KM: Final = 6371.0088
# The province-level cities: the province and the city are one place.
_MUNICIPALITIES: Final = frozenset({"beijing", "tianjin", "shanghai", "chongqing", "hong_kong", "macau"})
# City names that also start many brand names (阿里巴巴, 中山装, 白银 = silver, 北海道 …): at the
# head of a registered name they count as the city only when 市 or 地区 follows.
_BRAND_LIKE: Final = frozenset(
    {"阿里", "中山", "白银", "北海", "黄山", "大理", "红河", "文山", "海东", "海西", "玉树", "金昌", "白山"}
    | {"丽江", "普洱", "天门", "仙桃", "潜江", "安顺", "吉安", "三明", "安康", "大同", "长治", "新竹"}
    | {"阿坝", "山南", "林芝", "那曲", "日照", "德宏", "昌吉", "迪庆", "和田", "哈密", "伊犁", "酒泉"}
)
_GROUP_PREFIX_CHARS: Final = 8
_HAN: Final = re.compile(r"[\u3400-\u9fff]")
_BRACKETED: Final = re.compile(r"[（(]([^（）()]{1,12})[)）]")
_LATIN_PARTS: Final = re.compile(r"\s*(?:[,;|/]|\s-\s|\s–\s)\s*")


@dataclass(frozen=True)
class City:
    code: str
    zh: str
    en: str
    country: str
    province: str | None
    lat: float
    lon: float


@dataclass(frozen=True)
class Region:
    """A country or a Chinese province."""

    code: str
    zh: str
    en: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Location:
    """A structured place; each part a gazetteer code, or the text given when unknown."""

    country: str | None = None
    province: str | None = None
    city: str | None = None
    district: str | None = None  # a Wuhan area code (models.taxonomy.AREAS)

    @property
    def known(self) -> bool:
        return any(part is not None for part in (self.country, self.province, self.city, self.district))

    def fields(self) -> dict[str, str]:
        """The stated parts as a profile's fields (country, province, city, district)."""
        parts = {
            "country": self.country,
            "province": self.province,
            "city": self.city,
            "district": self.district,
        }
        return {name: value for name, value in parts.items() if value is not None}


class PlaceConflictError(ValueError):
    """Two parts of a location that cannot both be true (武汉 in 广东, Bangalore in the US)."""


def _load() -> dict[str, Any]:
    return shipped_toml("places.toml")


_DATA: Final = _load()

COUNTRIES: Final[Mapping[str, Region]] = MappingProxyType(
    {row[0]: Region(row[0], row[2], row[3], row[4], row[5]) for row in _DATA["countries"]}
)
PROVINCES: Final[Mapping[str, Region]] = MappingProxyType(
    {row[0]: Region(row[0], row[1], row[2], row[3], row[4]) for row in _DATA["provinces"]}
)
US_STATES: Final[Mapping[str, str]] = MappingProxyType(dict(_DATA["us_states"]))
CITIES: Final[Mapping[str, City]] = MappingProxyType(
    {
        **{row[0]: City(row[0], row[1], row[2], CHINA, row[3], row[4], row[5]) for row in _DATA["cities"]},
        **{
            row[0]: City(row[0], row[2], row[1], row[3], None, row[4], row[5])
            for row in _DATA["world_cities"]
        },
    }
)


def _index(entries: Iterable[tuple[str, Iterable[str]]]) -> dict[str, list[str]]:
    """Key -> codes, the first spelling's owner first (a shared spelling keeps every owner,
    so a country or province given beside it can choose)."""
    index: dict[str, list[str]] = {}
    for code, spellings in entries:
        for spelling in spellings:
            key = spelling_key(spelling)
            if key and code not in index.setdefault(key, []):
                index[key].append(code)
    return index


def _city_spellings(city: City) -> list[str]:
    spellings = [city.code, city.code.replace("_", " "), city.en, city.zh]
    if city.country == CHINA:
        spellings += [city.zh.removesuffix("市") + "市"]
    return spellings


_CITY_INDEX: Final = _index(
    [
        *((c.code, _city_spellings(c)) for c in CITIES.values()),
        *((code, [alias]) for alias, code in _DATA["city_aliases"].items()),
        *((row[0], row[6]) for row in _DATA["world_cities"]),
    ]
)
_PROVINCE_SUFFIXES: Final = ("省", "市", "自治区", "特别行政区", "")
_PROVINCE_INDEX: Final = _index(
    [
        *(
            (p.code, [p.code, p.en, p.en + " Province", *(p.zh + suffix for suffix in _PROVINCE_SUFFIXES)])
            for p in PROVINCES.values()
        ),
        *((code, [alias]) for alias, code in _DATA["province_aliases"].items()),
    ]
)
_COUNTRY_INDEX: Final = _index(
    (row[0], [row[0], row[1], row[2], row[3], *row[6]]) for row in _DATA["countries"]
)
_US_STATE_INDEX: Final = _index((code, [code, name]) for code, name in US_STATES.items())

# Chinese spellings searched at the head of a text, longest first (湖北省 before 湖北).
_ZH_CITIES: Final = tuple(
    sorted(
        {
            (spelling, code)
            for code, city in CITIES.items()
            if _HAN.search(city.zh)
            for spelling in {city.zh.split("（")[0], city.zh.split("（")[0].removesuffix("市") + "市"}
        },
        key=lambda pair: -len(pair[0]),
    )
)
_ZH_PROVINCES: Final = tuple(
    sorted(
        {(p.zh + suffix, p.code) for p in PROVINCES.values() for suffix in _PROVINCE_SUFFIXES}
        | {(alias, code) for alias, code in _DATA["province_aliases"].items() if _HAN.search(alias)},
        key=lambda pair: -len(pair[0]),
    )
)
_ZH_COUNTRIES: Final = tuple(
    sorted(
        {
            (spelling, row[0])
            for row in _DATA["countries"]
            for spelling in (row[2], *row[6])
            if _HAN.search(spelling)
        },
        key=lambda pair: -len(pair[0]),
    )
)
# Wuhan areas as written after 武汉 in names and addresses: each area's Chinese name with and
# without 区, and the zone nicknames (光谷, 沌口, 临空港 …).
_AREA_SPELLINGS: Final[tuple[tuple[str, str], ...]] = tuple(
    sorted(
        {(spelling, a.code) for a in AREAS.values() for spelling in (a.zh, a.zh.removesuffix("区"))}
        | {
            (nick, code)
            for nick, code in (
                ("光谷", "east_lake_hightech"),
                ("东湖高新", "east_lake_hightech"),
                ("东湖新技术", "east_lake_hightech"),
                ("沌口", "wuhan_econ_tech"),
                ("经开区", "wuhan_econ_tech"),
                ("经济技术开发区", "wuhan_econ_tech"),
                ("车谷", "wuhan_econ_tech"),
                ("临空港", "airport_econ"),
                ("空港", "airport_econ"),
                ("长江新区", "yangtze_new_area"),
            )
        },
        key=lambda pair: -len(pair[0]),
    )
)


def _has_han(text: str) -> bool:
    return _HAN.search(text) is not None


def _clean(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def wuhan_area_in(text: str) -> str | None:
    """The Wuhan district or zone a text names (洪山区, 光谷, 武汉经开区 …), if any; the longest
    spelling wins, so 东西湖区 is never read as 东湖."""
    return next((code for spelling, code in _AREA_SPELLINGS if spelling in text), None)


@dataclass(frozen=True)
class _Heads:
    """Spellings (longest first, as a table above) looked up by the text's head: one dict
    lookup per spelling length instead of a ``startswith`` per spelling (the 创业邦 loader reads
    the place off every registered name; the scan was most of its time)."""

    code_of: Mapping[str, str]  # the first code the table gives a spelling
    lengths: tuple[int, ...]  # the spellings' lengths, longest first

    @classmethod
    def of(cls, table: tuple[tuple[str, str], ...]) -> _Heads:
        code_of: dict[str, str] = {}
        for spelling, code in table:
            code_of.setdefault(spelling, code)
        return cls(MappingProxyType(code_of), tuple(sorted({len(s) for s in code_of}, reverse=True)))


_ZH_CITY_HEADS: Final = _Heads.of(_ZH_CITIES)
_ZH_PROVINCE_HEADS: Final = _Heads.of(_ZH_PROVINCES)
_ZH_COUNTRY_HEADS: Final = _Heads.of(_ZH_COUNTRIES)


def _head(text: str, heads: _Heads) -> tuple[str, str] | None:
    """(code, rest of text) for the longest spelling that ``text`` starts with."""
    for length in heads.lengths:
        if length <= len(text) and (code := heads.code_of.get(text[:length])) is not None:
            return code, text[length:]
    return None


def _with_city(location: Location, city: str) -> Location:
    entry = CITIES[city]
    return replace(
        location,
        city=city,
        province=location.province or entry.province,
        country=location.country or entry.country,
    )


def _chinese(text: str, *, strict: bool) -> Location:
    """A Chinese place read from the head of ``text`` (country, province, city, then a Wuhan
    area anywhere after 武汉). ``strict`` (registered names) reads only the head and skips
    brand-like city names without 市; otherwise a city named further in is found too."""
    rest = re.sub(r"\s+", "", text)
    location = Location()
    if (found := _head(rest, _ZH_COUNTRY_HEADS)) is not None:
        location, rest = replace(location, country=found[0]), found[1]
    city = _city_head(rest, strict=strict)
    if city is None and (found := _head(rest, _ZH_PROVINCE_HEADS)) is not None:
        location = replace(location, province=found[0], country=location.country or CHINA)
        rest = found[1]
        city = _city_head(rest, strict=strict)
        if city is None and found[0] in _MUNICIPALITIES:
            city = (found[0], rest)
    if city is None and not strict:
        city = _city_anywhere(rest)
    if city is not None:
        location, rest = _with_city(location, city[0]), city[1]
    area = wuhan_area_in(rest) if location.city == WUHAN else None
    if area is None and location.city is None and location.province in (None, HUBEI) and not strict:
        area = wuhan_area_in(rest)  # 光谷 or 洪山区 alone means Wuhan
    if area is not None:
        location = _with_city(replace(location, district=area), WUHAN)
    return location


def _city_head(text: str, *, strict: bool) -> tuple[str, str] | None:
    found = _head(text, _ZH_CITY_HEADS)
    if found is None:
        return None
    code, rest = found
    name = text[: len(text) - len(rest)]
    if strict and name in _BRAND_LIKE and not rest.startswith(("市", "地区")):
        return None
    return code, rest.removeprefix("地区")


def _city_anywhere(text: str) -> tuple[str, str] | None:
    hits = [
        (at, -len(spelling), code, spelling)
        for spelling, code in _ZH_CITIES
        if (at := text.find(spelling)) >= 0
    ]
    if not hits:
        return None
    at, _, code, spelling = min(hits)
    return code, text[at + len(spelling) :]


def _one(index: dict[str, list[str]], text: str) -> str | None:
    codes = index.get(spelling_key(text))
    return codes[0] if codes else None


def _latin(text: str) -> Location:
    """ "City, state, country" in any order people write it; the city is the first part that is
    not a state or country, kept as written when the gazetteer does not know it."""
    parts = [part for part in _LATIN_PARTS.split(text) if part]
    if not parts:
        return Location()
    country = province = None
    state_country = None  # the country a US state implies, weaker than one written out
    leftover: list[str] = []
    for position, part in enumerate(parts):
        last = position == len(parts) - 1 and len(parts) > 2
        if position > 0 and province is None and not last and (state := _one(_US_STATE_INDEX, part)):
            province, state_country = state, "US"
        elif position > 0 and country is None and (found := _one(_COUNTRY_INDEX, part)):
            country = found
        elif position > 0 and province is None and (found := _one(_PROVINCE_INDEX, part)):
            province, state_country = found, CHINA
        elif position > 0 and province is None and (state := _one(_US_STATE_INDEX, part)):
            province, state_country = state, "US"
        else:
            leftover.append(part)
    if not leftover:  # one part that names a country or province only
        return Location(country=country or state_country, province=province)
    head = leftover[0]
    if len(parts) == 1 and (found := _one(_COUNTRY_INDEX, head)) and not _CITY_INDEX.get(spelling_key(head)):
        return Location(country=found)
    if len(parts) == 1 and (found := _one(_PROVINCE_INDEX, head)) and found not in _MUNICIPALITIES:
        return Location(country=CHINA, province=found)
    return _latin_city(head, country, province, state_country)


def _latin_city(head: str, country: str | None, province: str | None, state_country: str | None) -> Location:
    candidates = _CITY_INDEX.get(spelling_key(head), [])
    wanted = country or state_country
    fitting = [c for c in candidates if wanted is None or CITIES[c].country == wanted]
    fitting = [c for c in fitting if province is None or CITIES[c].province in (None, province)] or fitting
    if fitting:
        location = Location(country=country, province=province)
        if country is None and CITIES[fitting[0]].country != state_country:
            location = replace(location, province=None)
        return _with_city(location, fitting[0])
    if candidates and country is None and state_country is not None:
        # "Bangalore, IN": the city is sure, the two letters were India, not Indiana.
        return _with_city(Location(), candidates[0])
    return Location(country=country or state_country, province=province, city=head)


def parse_location(text: str) -> Location:
    """A structured location from free text in any language; the unknown part is kept as
    written (``Location(city="Palo Alto")``), an empty text gives an empty location."""
    cleaned = _clean(text)
    if not cleaned:
        return Location()
    if _has_han(cleaned):
        location = _chinese(cleaned, strict=False)
        if location.known:
            return location
        return _latin(cleaned) if "," in cleaned else Location(city=cleaned)
    return _latin(cleaned)


def location_from_company_name(name: str) -> Location:
    """Where a registered company is, read from its name: the bracketed seat of a branch or
    subsidiary (``蜂巢（武汉）微系统``, ``XX科技（深圳）有限公司``) first, else the province and
    city it starts with (``湖北武汉…``, ``武汉市洪山区…``, ``深圳市…``). Empty when the name says
    nothing (a national-level name such as 华为技术有限公司): we never guess."""
    cleaned = re.sub(r"\s+", "", _clean(name))
    for bracketed in _BRACKETED.findall(cleaned):
        location = _chinese(bracketed, strict=False)
        if location.known:
            if location.city == WUHAN and location.district is None:
                tail = cleaned.split(bracketed, 1)[1]
                location = replace(location, district=wuhan_area_in(bracketed) or _area_after_wuhan(tail))
            return location
    location = _chinese(cleaned, strict=True)
    if location.city is None and location.province is None and cleaned.startswith("中"):
        # Central state groups put their seat after a short group name: 中交佛山…, 中国航发成都….
        group = _chinese(cleaned[2:_GROUP_PREFIX_CHARS], strict=False)
        location = group if group.known else location
    return location


def _area_after_wuhan(text: str) -> str | None:
    # Only a district named in the seat part of the name counts, never one in the brand.
    head = text[:6]
    return wuhan_area_in(head) if head.startswith(("市", "区")) else None


def _normalise_part(value: str | None, index: dict[str, list[str]]) -> str | None:
    if value is None:
        return None
    cleaned = _clean(value)
    return _one(index, cleaned) or cleaned or None


def resolve_location(
    *,
    country: str | None = None,
    province: str | None = None,
    city: str | None = None,
    district: str | None = None,
) -> Location:
    """One consistent location from the parts a profile states (each in any spelling).

    ``city`` may be a whole address ("湖北省武汉市洪山区", "Palo Alto, CA, USA"); it fills the
    parts not stated. A Wuhan ``district`` implies Wuhan, Hubei, China. Parts that contradict
    each other raise `PlaceConflictError` naming both.
    """
    stated = Location(
        country=_normalise_part(country, _COUNTRY_INDEX),
        province=_normalise_part(province, _PROVINCE_INDEX)
        or (_normalise_part(province, _US_STATE_INDEX) if province else None),
        district=district,
    )
    # The stated province and country travel with the city, so "Cambridge" beside MA, USA is
    # read as Cambridge, Massachusetts, not Cambridge, England.
    hints = [part for part in (province, country) if part] if city is not None and "," not in city else []
    parsed = parse_location(", ".join([city, *hints])) if city is not None else Location()
    misread = stated.country is not None and parsed.country not in (None, stated.country)
    if city is not None and hints and misread:
        # A hint read the wrong way ("CA" as California beside country CA, Canada): the city alone.
        parsed = parse_location(city)
    if district is not None:
        _agree("district", WUHAN, "city", parsed.city)
        parsed = _with_city(replace(parsed, district=None), WUHAN)
    _agree("country", stated.country, "city", parsed.country)
    _agree("province", stated.province, "city", parsed.province)
    return Location(
        country=stated.country or parsed.country,
        province=stated.province or parsed.province,
        city=parsed.city,
        district=district or parsed.district,
    )


def _agree(field: str, value: str | None, other_field: str, other: str | None) -> None:
    if value is None or other is None or value == other:
        return
    if value not in CITIES and value not in PROVINCES and value not in COUNTRIES and value not in US_STATES:
        return  # free text on one side: nothing to check it against
    if other not in CITIES and other not in PROVINCES and other not in COUNTRIES and other not in US_STATES:
        return
    raise PlaceConflictError(
        f"{field} {_display(value)!r} contradicts the {other_field}, which is in {_display(other)!r}"
    )


def _display(code: str) -> str:
    zh, en = place_names(code)
    return zh if zh == en else f"{zh} / {en}"


def place_names(code: str) -> tuple[str, str]:
    """(中文, English) names of a city, province, country or Wuhan area code; free text twice."""
    for table in (CITIES, PROVINCES, COUNTRIES):
        if code in table:
            entry = table[code]
            return entry.zh, entry.en
    if code in AREAS:
        return AREAS[code].zh, AREAS[code].en
    if code in US_STATES:
        return US_STATES[code], US_STATES[code]
    return code, code


def point_of(location: Location) -> tuple[float, float] | None:
    """The most precise known point of a location: its Wuhan area, city, province or country."""
    if location.district is not None and location.district in AREAS:
        area = AREAS[location.district]
        return area.lat, area.lon
    for code, table in (
        (location.city, CITIES),
        (location.province, PROVINCES),
        (location.country, COUNTRIES),
    ):
        if code is not None and code in table:
            entry = table[code]
            return entry.lat, entry.lon
    return None


def distance_between(a: Location, b: Location) -> float | None:
    """Great-circle km between two locations' points; None when either has no known point."""
    p, q = point_of(a), point_of(b)
    if p is None or q is None:
        return None
    phi1, phi2 = math.radians(p[0]), math.radians(q[0])
    half = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(q[1] - p[1]) / 2) ** 2
    )
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(half)))
