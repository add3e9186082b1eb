"""The profile fields a policy's criteria may read, per kind, with their types and labels.

A criterion names one of these fields; the loader refuses any other (see :mod:`models.policies`).
Most are stored columns; a few are derived from the catalogue (``founder``, ``wuhan_deals``),
and :mod:`matcher.policies` computes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from models.enums import CardTier, Degree, EntityKind, Hukou, InvestorType, PersonRole, SpaceType
from models.taxonomy import (
    ANYWHERE,
    AREAS,
    INDUSTRIES,
    STAGES,
    normalize_area,
    normalize_industry,
    normalize_stage,
)


class FieldType(StrEnum):
    number = "number"  # compared with < <= > >= == !=
    year = "year"  # a calendar year; `since = "years"` turns it into years elapsed
    date = "date"  # `since = "years" | "months"` turns it into time elapsed
    flag = "flag"  # true / false
    ordinal = "ordinal"  # a code on a ladder (degree, stage): compared by rung, or `in` a set
    code = "code"  # one code of a closed vocabulary: == != in, not in
    codes = "codes"  # a list of codes (industries): `in` means holds any of them
    place = "place"  # a Wuhan district or zone: `in` counts a zone as its district; "anywhere" = in Wuhan


@dataclass(frozen=True)
class ProfileField:
    name: str
    type: FieldType
    zh: str
    en: str
    unit_zh: str = ""
    unit_en: str = ""
    derived: bool = False
    normalize: Callable[[str], str] | None = None  # code spelling -> stored code (raises ValueError)
    order: Mapping[str, int] | None = None  # for ordinals: code -> rung
    names: Mapping[str, tuple[str, str]] | None = None  # code -> (zh, en) for explanations


def _closed(enum: type[StrEnum]) -> Callable[[str], str]:
    def normalize(value: str) -> str:
        try:
            return enum(value).value
        except ValueError:
            known = ", ".join(member.value for member in enum)
            raise ValueError(f"unknown value '{value}'; one of: {known}") from None

    return normalize


DEGREE_NAMES: Final = MappingProxyType(
    {
        "none": ("无学历", "no degree"),
        "associate": ("大专", "associate degree"),
        "bachelor": ("本科", "bachelor's degree"),
        "master": ("硕士", "master's degree"),
        "phd": ("博士", "PhD"),
        "postdoc": ("博士后", "postdoc"),
    }
)
HUKOU_NAMES: Final = MappingProxyType(
    {
        "wuhan": ("武汉户籍", "Wuhan hukou"),
        "hubei": ("湖北省内（武汉以外）户籍", "Hubei hukou outside Wuhan"),
        "elsewhere": ("外省户籍", "hukou outside Hubei"),
        "overseas": ("境外", "from abroad"),
    }
)
CARD_NAMES: Final = MappingProxyType(
    {"A": ("A卡", "A card"), "B": ("B卡", "B card"), "C": ("C卡", "C card"), "none": ("无卡", "no card")}
)
STAGE_NAMES: Final = MappingProxyType({code: (s.zh, s.en) for code, s in STAGES.items()})
INDUSTRY_NAMES: Final = MappingProxyType({code: (i.zh, i.en) for code, i in INDUSTRIES.items()})
AREA_NAMES: Final = MappingProxyType(
    {**{code: (a.zh, a.en) for code, a in AREAS.items()}, ANYWHERE: ("武汉市", "Wuhan")}
)
# Strategic investment is off the ladder: no "stage >= A" holds for it.
STAGE_ORDER: Final = MappingProxyType({code: s.order for code, s in STAGES.items() if code != "strategic"})
DEGREE_ORDER: Final = MappingProxyType({degree.value: rung for rung, degree in enumerate(Degree)})


def _field(name: str, type_: FieldType, zh: str, en: str, **extra: object) -> ProfileField:
    return ProfileField(name, type_, zh, en, **extra)  # type: ignore[arg-type]


_COMMON: Final = (
    _field("district", FieldType.place, "所在区域", "district", normalize=normalize_area, names=AREA_NAMES),
    _field(
        "industries",
        FieldType.codes,
        "行业",
        "industries",
        normalize=normalize_industry,
        names=INDUSTRY_NAMES,
    ),
)

_PERSON: Final = (
    *_COMMON,
    _field(
        "card_tier",
        FieldType.code,
        "城市合伙人卡",
        "City Partner card",
        normalize=_closed(CardTier),
        names=CARD_NAMES,
    ),
    _field("role", FieldType.code, "身份", "role", normalize=_closed(PersonRole)),
    _field(
        "degree",
        FieldType.ordinal,
        "学历",
        "degree",
        normalize=_closed(Degree),
        order=DEGREE_ORDER,
        names=DEGREE_NAMES,
    ),
    _field("graduation_year", FieldType.year, "毕业年份", "graduation year", unit_zh="年", unit_en="years"),
    _field(
        "birth_year",
        FieldType.year,
        "出生年份（年龄）",
        "birth year (age)",
        unit_zh="岁",
        unit_en="years old",
    ),
    _field("hukou", FieldType.code, "户籍", "hukou", normalize=_closed(Hukou), names=HUKOU_NAMES),
    _field("returnee", FieldType.flag, "回汉人才（楚才回家）", "returnee to Wuhan (楚才回家)"),
    _field("founder", FieldType.flag, "创业团队成员", "on a startup's team", derived=True),
)

_STARTUP: Final = (
    *_COMMON,
    _field(
        "stage",
        FieldType.ordinal,
        "融资阶段",
        "funding stage",
        normalize=normalize_stage,
        order=STAGE_ORDER,
        names=STAGE_NAMES,
    ),
    _field("founded_on", FieldType.date, "成立时间", "founding date", unit_zh="个月", unit_en="months"),
    _field(
        "funding_received_cny",
        FieldType.number,
        "累计获得融资",
        "funding received",
        unit_zh="元",
        unit_en="CNY",
    ),
    _field("funding_ask_cny", FieldType.number, "融资需求", "funding asked", unit_zh="元", unit_en="CNY"),
    _field("headcount", FieldType.number, "员工人数", "headcount", unit_zh="人", unit_en="people"),
)

_INVESTOR: Final = (
    *_COMMON,
    _field("investor_type", FieldType.code, "投资机构类型", "investor type", normalize=_closed(InvestorType)),
    _field(
        "stages",
        FieldType.codes,
        "投资阶段",
        "stages invested in",
        normalize=normalize_stage,
        names=STAGE_NAMES,
    ),
    _field("ticket_max_cny", FieldType.number, "单笔投资上限", "largest ticket", unit_zh="元", unit_en="CNY"),
    _field(
        "wuhan_deals",
        FieldType.number,
        "投资武汉初创企业数",
        "Wuhan startups invested in",
        unit_zh="家",
        unit_en="startups",
        derived=True,
    ),
)

_SPACE: Final = (
    *_COMMON,
    _field("space_type", FieldType.code, "空间类型", "space type", normalize=_closed(SpaceType)),
    _field("seats_total", FieldType.number, "工位总数", "seats", unit_zh="个", unit_en="seats"),
    _field("seats_vacant", FieldType.number, "空余工位", "vacant seats", unit_zh="个", unit_en="seats"),
)

_OTHERS: Final = _COMMON

PROFILE_FIELDS: Final[Mapping[EntityKind, Mapping[str, ProfileField]]] = MappingProxyType(
    {
        kind: MappingProxyType({f.name: f for f in fields})
        for kind, fields in {
            EntityKind.person: _PERSON,
            EntityKind.startup: _STARTUP,
            EntityKind.investor: _INVESTOR,
            EntityKind.space: _SPACE,
            EntityKind.mentor: _OTHERS,
            EntityKind.practice_base: _OTHERS,
            EntityKind.post: _OTHERS,
        }.items()
    }
)
