"""A deterministic, realistic demo of Wuhan's City Partner ecosystem.

`generate_ecosystem` builds startups with their founders, investors, mentors, spaces, practice
bases, R&D posts, students and several thousand past interactions, all as Create-shaped dicts
that reference each other by external id; `load_ecosystem` imports them through the same bulk
import path users have.

The history comes from a hidden generative process: every profile gets a latent taste vector
(and targets a heavy-tailed popularity); who views, contacts and finally invests, admits,
mentors or places whom follows a funnel driven by those tastes plus observable industry, stage
and district fit, with noise and capacity limits. The latent parameters are never written into
a profile or an interaction, so a matcher can only recover them from behaviour;
`hidden_affinities` exposes them for evaluation only.

Everything is drawn from one `random.Random(seed)` and one `numpy.random.default_rng(seed)` in
a fixed order, so a seed always yields the same ecosystem.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session, sessionmaker

from models.enums import (
    CardTier,
    Degree,
    EntityKind,
    InteractionKind,
    InvestorType,
    MemberRole,
    PersonRole,
    PostType,
    SpaceType,
)
from models.kinds import IMPORT_ORDER, KINDS
from models.shipped import shipped_toml
from models.taxonomy import (
    ANYWHERE,
    AREAS,
    INDUSTRIES,
    STAGES,
    distance_km,
    industry_ancestors,
    industry_sector,
    normalize_area,
    normalize_industry,
    normalize_stage,
)
from models.transfer import Progress, import_records

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Record = dict[str, Any]


@dataclass(frozen=True)
class DemoSize:
    """How many profiles of each kind to generate; the defaults are the issue's minimums."""

    startups: int = 5000
    investors: int = 400
    mentors: int = 300
    spaces: int = 150
    practice_bases: int = 100
    posts: int = 300
    students: int = 1500
    interactions_target: int = 8000


LATENT_DIM = 8
ENGLISH_SHARE = 0.15
HISTORY_START = dt.date(2022, 1, 1)
HISTORY_END = dt.date(2026, 10, 31)
WUHAN_TZ = dt.timezone(dt.timedelta(hours=8))
# The history is a snapshot taken at the end of HISTORY_END: funnels still running then stop there.
SNAPSHOT = dt.datetime(HISTORY_END.year, HISTORY_END.month, HISTORY_END.day, 23, 59, tzinfo=WUHAN_TZ)
# Companies founded later than this have had too little time to build any history.
LATEST_FOUNDING = HISTORY_END - dt.timedelta(days=120)
NAME_ATTEMPTS = 20  # draws of a clashing name before it is numbered instead
TEN_THOUSAND = 10_000  # 万: Chinese amounts are quoted in units of 10,000 CNY

# --- phrase banks -----------------------------------------------------------------------

Hub = Literal["optics_valley", "car_valley", "airport", "city", "suburban"]


PHRASES_FILE = "demo_phrases.toml"


def _bank(name: str) -> tuple[str, ...]:
    return tuple(_PHRASES["banks"][name])


@dataclass(frozen=True)
class Theme:
    """A sub-industry with its own vocabulary, so that its profiles read like paraphrases."""

    key: str
    industry_label: str  # resolved through models.taxonomy at run time
    hub: Hub
    weight: float  # share of startups, before normalisation
    zh_field: str
    zh_brand: str  # company-name suffix: 武汉XX{zh_brand}有限公司
    zh_products: tuple[str, ...]
    zh_tech: tuple[str, ...]
    zh_customers: tuple[str, ...]
    zh_results: tuple[str, ...]
    en_field: str
    en_brand: str
    en_products: tuple[str, ...]
    en_tech: tuple[str, ...]
    en_customers: tuple[str, ...]
    skills: tuple[str, ...]
    majors: tuple[str, ...]


def _load_phrases() -> dict[str, Any]:
    """models/data/demo_phrases.toml: the themes' vocabularies and the shared banks."""
    return shipped_toml(PHRASES_FILE)


def _theme(row: dict[str, Any]) -> Theme:
    fields: dict[str, Any] = {name: tuple(v) if isinstance(v, list) else v for name, v in row.items()}
    return Theme(**fields)


_PHRASES: Final = _load_phrases()
THEMES: tuple[Theme, ...] = tuple(_theme(row) for row in _PHRASES["theme"])

# Where each kind of company clusters, by Chinese area name (resolved through the taxonomy).
HUB_AREAS: dict[Hub, tuple[tuple[str, float], ...]] = {
    "optics_valley": (
        ("东湖新技术开发区", 0.55), ("洪山区", 0.16), ("武昌区", 0.07), ("江夏区", 0.05), ("江岸区", 0.04),
        ("江汉区", 0.04), ("武汉经济技术开发区", 0.03), ("汉阳区", 0.02), ("硚口区", 0.02), ("青山区", 0.02),
    ),
    "car_valley": (
        ("武汉经济技术开发区", 0.42), ("武汉临空港经济技术开发区", 0.13), ("蔡甸区", 0.08), ("汉阳区", 0.07),
        ("东湖新技术开发区", 0.08), ("江夏区", 0.06), ("汉南区", 0.05), ("东西湖区", 0.04), ("洪山区", 0.04),
        ("青山区", 0.03),
    ),
    "airport": (
        ("武汉临空港经济技术开发区", 0.35), ("东西湖区", 0.15), ("黄陂区", 0.12),
        ("武汉经济技术开发区", 0.13), ("长江新区", 0.08), ("新洲区", 0.05), ("东湖新技术开发区", 0.08),
        ("洪山区", 0.04),
    ),
    "city": (
        ("江汉区", 0.15), ("江岸区", 0.15), ("武昌区", 0.17), ("洪山区", 0.14), ("东湖新技术开发区", 0.15),
        ("硚口区", 0.07), ("汉阳区", 0.07), ("青山区", 0.04), ("长江新区", 0.06),
    ),
    "suburban": (
        ("江夏区", 0.25), ("黄陂区", 0.2), ("洪山区", 0.2), ("新洲区", 0.1), ("蔡甸区", 0.1),
        ("东湖新技术开发区", 0.15),
    ),
}  # fmt: skip

# (stage, share of startups, funding ask range in 万元): early stages dominate Wuhan's pipeline.
STAGE_PROFILES: tuple[tuple[str, float, tuple[int, int]], ...] = (
    ("创意阶段", 0.05, (10, 50)),
    ("种子轮", 0.20, (50, 300)),
    ("天使轮", 0.27, (100, 800)),
    ("Pre-A", 0.17, (300, 1500)),
    ("A轮", 0.16, (1000, 5000)),
    ("A+轮", 0.06, (2000, 8000)),
    ("B轮", 0.06, (5000, 20000)),
    ("C轮及以后", 0.03, (10000, 50000)),
)

# (university, district, English name, weight)
UNIVERSITIES: tuple[tuple[str, str, str, float], ...] = (
    ("武汉大学", "武昌区", "Wuhan University", 0.14),
    ("华中科技大学", "洪山区", "Huazhong University of Science and Technology", 0.15),
    ("武汉理工大学", "洪山区", "Wuhan University of Technology", 0.11),
    ("华中师范大学", "洪山区", "Central China Normal University", 0.08),
    ("中国地质大学(武汉)", "洪山区", "China University of Geosciences (Wuhan)", 0.08),
    ("华中农业大学", "洪山区", "Huazhong Agricultural University", 0.06),
    ("中南财经政法大学", "洪山区", "Zhongnan University of Economics and Law", 0.06),
    ("武汉科技大学", "青山区", "Wuhan University of Science and Technology", 0.05),
    ("湖北大学", "武昌区", "Hubei University", 0.05),
    ("湖北工业大学", "洪山区", "Hubei University of Technology", 0.05),
    ("武汉工程大学", "东湖新技术开发区", "Wuhan Institute of Technology", 0.04),
    ("江汉大学", "武汉经济技术开发区", "Jianghan University", 0.04),
    ("武汉纺织大学", "江夏区", "Wuhan Textile University", 0.03),
    ("中南民族大学", "洪山区", "South-Central Minzu University", 0.03),
    ("武汉轻工大学", "东西湖区", "Wuhan Polytechnic University", 0.03),
)

SURNAMES = _bank("surnames")
GIVEN_NAME_CHARS = _bank("given_name_chars")
BRAND_CHARS = _bank("brand_chars")
EN_BRAND_HEADS = _bank("en_brand_heads")
EN_BRAND_TAILS = _bank("en_brand_tails")
ORIGINS_ZH = _bank("origins_zh")
ORIGINS_EN = _bank("origins_en")
GENERIC_RESULTS_ZH = _bank("generic_results_zh")
GENERIC_RESULTS_EN = _bank("generic_results_en")
FUND_USES_ZH = _bank("fund_uses_zh")
MENTOR_EXPERTISE = _bank("mentor_expertise")
SPACE_SERVICES = _bank("space_services")
GENERIC_MAJORS = _bank("generic_majors")
GENERIC_SKILLS = _bank("generic_skills")
FUND_PREFIXES = _bank("fund_prefixes")
GUIDANCE_FUND_THEMES = _bank("guidance_fund_themes")


# --- taxonomy look-ups, resolved once at run time -------------------------------------


@cache
def _industry_of(theme: Theme) -> str:
    return normalize_industry(theme.industry_label)


@cache
def _hub_areas(hub: Hub) -> tuple[tuple[str, ...], tuple[float, ...]]:
    codes = tuple(normalize_area(name) for name, _ in HUB_AREAS[hub])
    return codes, tuple(weight for _, weight in HUB_AREAS[hub])


@cache
def _stage_codes() -> tuple[str, ...]:
    return tuple(normalize_stage(label) for label, _, _ in STAGE_PROFILES)


@cache
def _university_areas() -> tuple[str, ...]:
    return tuple(normalize_area(district) for _, district, _, _ in UNIVERSITIES)


def _zh_area(code: str) -> str:
    return AREAS[code].zh


def _en_area(code: str) -> str:
    return AREAS[code].en


def _zh_stage(code: str) -> str:
    return STAGES[code].zh


# --- small drawing helpers ----------------------------------------------------------


class Draw:
    """The seeded random sources of one generation, with the few helpers every builder uses."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.np = np.random.default_rng(seed)
        self.names: set[str] = set()
        self.series: Counter[str] = Counter()

    def unique_name(self, make: Callable[[], str]) -> str:
        """A name no organisation drawn before has, as a company register would insist: ``make``
        is drawn again, and only after many clashes is the name numbered."""
        name = make()
        for _ in range(NAME_ATTEMPTS):
            if name not in self.names:
                break
            name = make()
        else:
            name = f"{name}（{self.next_in_series(name)}）"
        self.names.add(name)
        return name

    def next_in_series(self, base: str) -> int:
        """1, 2, 3 … for successive funds or branches sharing ``base``."""
        self.series[base] += 1
        return self.series[base]

    def pick(self, options: Sequence[str]) -> str:
        return options[self.rng.randrange(len(options))]

    def some(self, options: Sequence[str], low: int, high: int) -> list[str]:
        return self.rng.sample(list(options), min(len(options), self.rng.randint(low, high)))

    def weighted(self, weights: Sequence[float]) -> int:
        return self.rng.choices(range(len(weights)), weights=weights)[0]

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def english(self) -> bool:
        return self.chance(ENGLISH_SHARE)

    def person_name(self) -> str:
        given_length = 1 if self.chance(0.3) else 2
        return self.pick(SURNAMES) + "".join(self.pick(GIVEN_NAME_CHARS) for _ in range(given_length))

    def brand(self) -> str:
        # Two different characters: "芯芯" reads as a typo.
        return "".join(self.rng.sample(BRAND_CHARS, 2))

    def en_brand(self) -> str:
        return self.pick(EN_BRAND_HEADS) + self.pick(EN_BRAND_TAILS)

    def theme(self) -> Theme:
        return THEMES[self.weighted([theme.weight for theme in THEMES])]

    def area(self, hub: Hub) -> str:
        codes, weights = _hub_areas(hub)
        return codes[self.weighted(weights)]

    def date_between(self, start: dt.date, end: dt.date) -> dt.date:
        return start + dt.timedelta(days=self.rng.randint(0, (end - start).days))

    def wan(self, low: int, high: int) -> int:
        """An amount in CNY between low and high 万, rounded to 10,000."""
        return self.rng.randint(low, high) * TEN_THOUSAND


def _company_name(draw: Draw, theme: Theme, english: bool) -> str:
    if english:
        return draw.unique_name(lambda: f"Wuhan {draw.en_brand()} {theme.en_brand} Co., Ltd.")
    return draw.unique_name(lambda: f"武汉{draw.brand()}{theme.zh_brand}有限公司")


# --- persons ------------------------------------------------------------------------


class PersonBook:
    """Hands out person external ids in creation order and keeps their records."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def add(self, record: Record) -> str:
        external_id = f"P-{len(self.records) + 1:05d}"
        self.records.append({"external_id": external_id, **record})
        return external_id


def _team_person(draw: Draw, theme: Theme, district: str, member_role: MemberRole, lead: bool) -> Record:
    english = draw.english()
    university, _, university_en, _ = UNIVERSITIES[draw.weighted([u[3] for u in UNIVERSITIES])]
    major = draw.pick(theme.majors)
    degree = draw.rng.choices([Degree.bachelor, Degree.master, Degree.phd], weights=[0.4, 0.4, 0.2])[0]
    years = draw.rng.randint(2, 20)
    industry_leader = lead and draw.chance(0.05)
    if english:
        origin = draw.pick(ORIGINS_EN)
        bio = f"Graduate of {university_en}, {years} years in {theme.en_field}, previously at {origin}."
    else:
        bio = (
            f"毕业于{university}{major}专业，曾就职于{draw.pick(ORIGINS_ZH)}，"
            f"拥有{years}年{theme.zh_field}行业经验。"
        )
    if member_role in (MemberRole.founder, MemberRole.cofounder):
        role = PersonRole.industry_leader if industry_leader else PersonRole.founder
    else:
        role = PersonRole.researcher
    tier = (
        CardTier.A if industry_leader else (CardTier.C if years < 8 and draw.chance(0.7) else CardTier.none)
    )
    return {
        "name": draw.person_name(),
        "role": role.value,
        "card_tier": tier.value,
        "bio": bio,
        "skills": draw.some(theme.skills, 2, 4),
        "industries": [_industry_of(theme)],
        "languages": ["zh", "en"] if english or draw.chance(0.3) else ["zh"],
        "university": university,
        "major": major,
        "degree": degree.value,
        "graduation_year": 2026 - years - draw.rng.randint(0, 2),
        "district": district,
    }


def _student(draw: Draw) -> Record:
    theme = draw.theme()
    university_index = draw.weighted([u[3] for u in UNIVERSITIES])
    university, _, university_en, _ = UNIVERSITIES[university_index]
    major = draw.pick(theme.majors)
    degree = draw.rng.choices([Degree.bachelor, Degree.master, Degree.phd], weights=[0.55, 0.35, 0.10])[0]
    skills = [*draw.some(theme.skills, 2, 4), *draw.some(GENERIC_SKILLS, 0, 2)]
    graduation_year = draw.rng.randint(2022, 2028)
    if draw.english():
        interest = draw.pick(theme.en_tech)
        bio = f"{degree.value.title()} student in {theme.en_field} at {university_en}, keen on {interest}."
    else:
        bio = (
            f"{university}{major}专业在读，研究兴趣为{draw.pick(theme.zh_tech)}，"
            f"希望在{theme.zh_field}领域实习或就业。"
        )
    return {
        "name": draw.person_name(),
        "role": PersonRole.student.value,
        "card_tier": CardTier.C.value,
        "bio": bio,
        "skills": skills,
        "industries": [_industry_of(theme)],
        "languages": ["zh", "en"] if draw.chance(0.45) else ["zh"],
        "university": university,
        "major": major,
        "degree": degree.value,
        "graduation_year": graduation_year,
        "district": _university_areas()[university_index],
    }


# --- startups -----------------------------------------------------------------------


def _startup(draw: Draw, index: int, persons: PersonBook) -> Record:
    theme = draw.theme()
    english = draw.english()
    stage_index = draw.weighted([share for _, share, _ in STAGE_PROFILES])
    stage = _stage_codes()[stage_index]
    low, high = STAGE_PROFILES[stage_index][2]
    ask = draw.wan(low, high)
    district = draw.area(theme.hub)
    # Later stages are older companies: roughly a year and a half per rung.
    newest = LATEST_FOUNDING - dt.timedelta(days=400 * max(0, stage_index - 1))
    founded_on = draw.date_between(newest - dt.timedelta(days=900), newest)
    name = _company_name(draw, theme, english)
    industries = [_industry_of(theme)]
    parent = INDUSTRIES[industries[0]].parent
    if parent is not None and draw.chance(0.25):
        industries.append(parent)
    return {
        "external_id": f"S-{index + 1:05d}",
        "name": name,
        "district": district,
        "one_liner": _one_liner(draw, theme, english),
        "description": _startup_description(draw, theme, english, name, district, founded_on, ask),
        "industries": industries,
        "stage": stage,
        "funding_ask_cny": ask,
        "founded_on": founded_on.isoformat(),
        "seeking": _seeking(draw, stage_index),
        "team": _team(draw, theme, district, persons),
    }


def _one_liner(draw: Draw, theme: Theme, english: bool) -> str:
    if english:
        return draw.rng.choice(
            [
                f"{draw.pick(theme.en_products).capitalize()} powered by {draw.pick(theme.en_tech)}",
                f"{draw.pick(theme.en_products).capitalize()} for {draw.pick(theme.en_customers)}",
            ]
        )
    product, tech, customer = (
        draw.pick(theme.zh_products),
        draw.pick(theme.zh_tech),
        draw.pick(theme.zh_customers),
    )
    return draw.rng.choice(
        [f"{tech}驱动的{product}", f"为{customer}提供{product}", f"专注{theme.zh_field}的{product}服务商"]
    )


def _startup_description(
    draw: Draw, theme: Theme, english: bool, name: str, district: str, founded_on: dt.date, ask: int
) -> str:
    patents = draw.rng.randint(1, 30)
    if english:
        return (
            f"{name} is a startup in {_en_area(district)} focused on {theme.en_field}. "
            f"Built on {draw.pick(theme.en_tech)}, it develops {draw.pick(theme.en_products)} "
            f"for {draw.pick(theme.en_customers)}. The team comes from {draw.pick(ORIGINS_EN)}, "
            f"holds {patents} patents and has {draw.pick(GENERIC_RESULTS_EN)}."
        )
    product, tech, customer = (
        draw.pick(theme.zh_products),
        draw.pick(theme.zh_tech),
        draw.pick(theme.zh_customers),
    )
    core = draw.rng.choice(
        [
            f"公司以{tech}为核心，研发{product}，主要服务{customer}。",
            f"团队基于{tech}打造{product}，面向{customer}提供一体化解决方案。",
            f"主营{product}，依托{tech}帮助{customer}降本增效。",
        ]
    )
    result = draw.pick(theme.zh_results) if draw.chance(0.6) else draw.pick(GENERIC_RESULTS_ZH)
    return (
        f"{name}成立于{founded_on.year}年，位于{_zh_area(district)}，专注于{theme.zh_field}领域。{core}"
        f"核心团队来自{draw.pick(ORIGINS_ZH)}，拥有{patents}项专利，目前已{result}。"
        f"本轮计划融资{ask // TEN_THOUSAND}万元，主要用于{draw.pick(FUND_USES_ZH)}。"
    )


def _seeking(draw: Draw, stage_index: int) -> list[str]:
    early = stage_index <= 3
    wishes = {
        "investor": 0.85,
        "space": 0.6 if early else 0.25,
        "mentor": 0.55 if early else 0.3,
        "post": 0.1,
        "practice_base": 0.1,
    }
    return [kind for kind, probability in wishes.items() if draw.chance(probability)]


def _team(draw: Draw, theme: Theme, district: str, persons: PersonBook) -> list[Record]:
    size = draw.rng.choices([1, 2, 3, 4], weights=[0.3, 0.35, 0.22, 0.13])[0]
    roles = [MemberRole.founder, MemberRole.cofounder, MemberRole.cofounder, MemberRole.member][:size]
    if size == 4 and draw.chance(0.4):
        roles[-1] = MemberRole.advisor
    return [
        {
            "person_external_id": persons.add(_team_person(draw, theme, district, role, lead=position == 0)),
            "role": role.value,
        }
        for position, role in enumerate(roles)
    ]


# --- investors ----------------------------------------------------------------------


@dataclass(frozen=True)
class InvestorStyle:
    kind: InvestorType
    share: float
    stages: tuple[str, ...]  # stage labels it may pick from
    ticket_min_wan: tuple[int, int]
    ticket_max_wan: tuple[int, int]
    deals_per_quarter: tuple[int, int]
    themes: tuple[int, int]  # how many themes its thesis covers
    local_share: float  # share that only invests in a few districts


INVESTOR_STYLES: tuple[InvestorStyle, ...] = (
    InvestorStyle(
        InvestorType.angel, share=0.30, stages=("种子轮", "天使轮", "Pre-A"),
        ticket_min_wan=(20, 100), ticket_max_wan=(100, 500), deals_per_quarter=(1, 3), themes=(1, 2),
        local_share=0.3,
    ),
    InvestorStyle(
        InvestorType.vc, share=0.42, stages=("Pre-A", "A轮", "A+轮", "B轮"),
        ticket_min_wan=(300, 2000), ticket_max_wan=(2000, 10000), deals_per_quarter=(2, 6), themes=(1, 3),
        local_share=0.1,
    ),
    InvestorStyle(
        InvestorType.government_fund, share=0.10, stages=("种子轮", "天使轮", "Pre-A", "A轮"),
        ticket_min_wan=(50, 300), ticket_max_wan=(500, 3000), deals_per_quarter=(3, 10), themes=(3, 6),
        local_share=0.5,
    ),
    InvestorStyle(
        InvestorType.corporate_vc, share=0.18, stages=("A轮", "A+轮", "B轮", "C轮及以后", "战略投资"),
        ticket_min_wan=(1000, 5000), ticket_max_wan=(5000, 30000), deals_per_quarter=(1, 3), themes=(1, 2),
        local_share=0.05,
    ),
)  # fmt: skip

GOVERNMENT_STYLE = next(s for s in INVESTOR_STYLES if s.kind is InvestorType.government_fund)
CITY_ANGEL_FUND = "武汉市天使投资引导基金"


def _investor(draw: Draw, index: int, persons: PersonBook) -> Record:
    # The first investor is always the city's own angel guidance fund, a citywide government fund.
    city_fund = index == 0
    style = (
        GOVERNMENT_STYLE if city_fund else INVESTOR_STYLES[draw.weighted([s.share for s in INVESTOR_STYLES])]
    )
    english = not city_fund and draw.english()
    themes = _distinct_themes(draw, *style.themes)
    industries = list(dict.fromkeys(_industry_of(theme) for theme in themes))
    if style.kind is InvestorType.government_fund:
        # Guidance funds announce whole sectors (信息技术, 生命健康 ...) as their mandate.
        industries = list(dict.fromkeys([*industries, *(industry_sector(code) for code in industries)]))
    stage_labels = draw.some(style.stages, 2, len(style.stages))
    stages = sorted({normalize_stage(label) for label in stage_labels}, key=lambda code: STAGES[code].order)
    ticket_min = draw.wan(*style.ticket_min_wan)
    ticket_max = max(ticket_min, draw.wan(*style.ticket_max_wan))
    home = draw.area(themes[0].hub)
    districts = [ANYWHERE]
    if not city_fund and draw.chance(style.local_share):
        districts = list(dict.fromkeys([home, *(draw.area(theme.hub) for theme in themes)]))
    partner_name = draw.person_name()
    partner = persons.add(_investor_partner(draw, partner_name, industries, home))
    name = (
        CITY_ANGEL_FUND if city_fund else _investor_name(draw, style.kind, partner_name, districts, english)
    )
    return {
        "external_id": f"I-{index + 1:04d}",
        "name": name,
        "district": home,
        "investor_type": style.kind.value,
        "thesis": _thesis(draw, themes, stages, ticket_min, ticket_max, districts, english),
        "industries": industries,
        "stages": stages,
        "ticket_min_cny": ticket_min,
        "ticket_max_cny": ticket_max,
        "districts": districts,
        "deals_per_quarter": draw.rng.randint(*style.deals_per_quarter),
        "partner_external_id": partner,
    }


def _distinct_themes(draw: Draw, low: int, high: int) -> list[Theme]:
    """Between ``low`` and ``high`` themes of one industry family (sector), so that a thesis or a
    mentor's focus never pairs, say, biotech with esports; fewer if the family has fewer."""
    count = draw.rng.randint(low, high)
    first = draw.theme()
    family = industry_sector(_industry_of(first))
    related = [t for t in THEMES if t != first and industry_sector(_industry_of(t)) == family]
    return [first, *draw.rng.sample(related, min(len(related), count - 1))]


def _investor_partner(draw: Draw, name: str, industries: list[str], district: str) -> Record:
    years = draw.rng.randint(5, 25)
    return {
        "name": name,
        "role": PersonRole.investor_partner.value,
        "card_tier": CardTier.B.value,
        "bio": f"从事股权投资{years}年，关注硬科技与产业升级。"
        if not draw.english()
        else f"{years} years in venture investing.",
        "industries": industries,
        "languages": ["zh", "en"] if draw.chance(0.5) else ["zh"],
        "degree": draw.rng.choice([Degree.master, Degree.phd, Degree.bachelor]).value,
        "district": district,
    }


def _investor_name(
    draw: Draw, kind: InvestorType, partner_name: str, districts: list[str], english: bool
) -> str:
    if kind is InvestorType.angel:
        return f"{partner_name} (angel investor)" if english else f"{partner_name}（天使投资人）"
    if kind is InvestorType.government_fund:
        region = "武汉" if districts == [ANYWHERE] else _zh_area(districts[0])
        base = f"{region}{draw.pick(GUIDANCE_FUND_THEMES)}投资基金"
        return draw.unique_name(lambda: f"{base}{draw.next_in_series(base)}期")
    if kind is InvestorType.corporate_vc:
        if english:
            return draw.unique_name(lambda: f"{draw.en_brand()} Group Corporate Ventures")
        return draw.unique_name(lambda: f"{draw.brand()}集团产业投资部")
    if english:
        return draw.unique_name(
            lambda: f"{draw.en_brand()} {draw.rng.choice(['Capital', 'Ventures', 'Partners'])}"
        )
    return draw.unique_name(
        lambda: f"{draw.pick(FUND_PREFIXES)}{draw.brand()}{draw.rng.choice(['创业投资基金', '资本', '创投'])}"
    )


def _thesis(
    draw: Draw,
    themes: list[Theme],
    stages: list[str],
    ticket_min: int,
    ticket_max: int,
    districts: list[str],
    english: bool,
) -> str:
    if english:
        fields = ", ".join(theme.en_field for theme in themes)
        where = (
            "across Wuhan" if districts == [ANYWHERE] else "in " + ", ".join(_en_area(d) for d in districts)
        )
        return (
            f"We back {fields} teams at the {', '.join(STAGES[s].en for s in stages)} stage {where}, "
            f"especially {draw.pick(themes[0].en_products)} built on {draw.pick(themes[0].en_tech)}. "
            f"Typical cheque: {ticket_min // TEN_THOUSAND}-{ticket_max // TEN_THOUSAND} × 10k CNY."
        )
    fields = "、".join(theme.zh_field for theme in themes)
    where = "不限区域" if districts == [ANYWHERE] else "重点关注" + "、".join(_zh_area(d) for d in districts)
    return (
        f"聚焦{fields}赛道，投资阶段为{'、'.join(_zh_stage(s) for s in stages)}，{where}。"
        f"尤其看好基于{draw.pick(themes[0].zh_tech)}的{draw.pick(themes[0].zh_products)}项目，"
        f"单笔投资{ticket_min // TEN_THOUSAND}万至{ticket_max // TEN_THOUSAND}万元，"
        "可提供产业资源与后续融资对接。"
    )


# --- mentors, spaces, practice bases, posts -----------------------------------------


def _mentor(draw: Draw, index: int, persons: PersonBook) -> Record:
    themes = _distinct_themes(draw, 1, 2)
    english = draw.english()
    name = draw.person_name()
    district = draw.area(themes[0].hub)
    expertise = [*draw.some(MENTOR_EXPERTISE, 2, 4), draw.pick(themes[0].zh_tech)]
    industries = [_industry_of(theme) for theme in themes]
    leader = draw.chance(0.6)
    person = persons.add(
        {
            "name": name,
            "role": (PersonRole.industry_leader if leader else PersonRole.researcher).value,
            "card_tier": (CardTier.A if leader else CardTier.none).value,
            "industries": list(dict.fromkeys(industries)),
            "district": district,
            "degree": draw.rng.choice([Degree.master, Degree.phd]).value,
        }
    )
    years = draw.rng.randint(8, 30)
    if english:
        topic = draw.pick(themes[0].en_tech)
        bio = f"{years} years in {themes[0].en_field}; advises founders on {topic} and fundraising."
    else:
        bio = (
            f"{years}年{themes[0].zh_field}从业经验，曾任{draw.pick(ORIGINS_ZH)}技术负责人，"
            f"擅长{'、'.join(expertise[:3])}，可为创业团队提供{draw.pick(themes[0].zh_products)}方向的指导。"
        )
    return {
        "external_id": f"M-{index + 1:04d}",
        "name": name,
        "district": district,
        "person_external_id": person,
        "bio": bio,
        "expertise": expertise,
        "industries": list(dict.fromkeys(industries)),
        "languages": ["zh", "en"] if english or draw.chance(0.25) else ["zh"],
        "max_mentees": draw.rng.randint(2, 10),
        "current_mentees": 0,  # set from the generated history
    }


SPACE_SHAPES: dict[SpaceType, tuple[float, tuple[int, int], tuple[int, int]]] = {
    # type: (share, seats range, monthly fee range per seat in CNY)
    SpaceType.incubator: (0.35, (30, 300), (500, 2000)),
    SpaceType.maker_space: (0.35, (20, 120), (200, 800)),
    SpaceType.accelerator: (0.12, (15, 60), (0, 1500)),
    SpaceType.university_base: (0.18, (20, 100), (0, 500)),
}


def _space(draw: Draw, index: int) -> Record:
    kinds = list(SPACE_SHAPES)
    space_type = kinds[draw.weighted([SPACE_SHAPES[k][0] for k in kinds])]
    _, seats_range, fee_range = SPACE_SHAPES[space_type]
    themes = _distinct_themes(draw, 1, 2)
    generalist = space_type is SpaceType.maker_space and draw.chance(0.3)
    english = draw.english()
    if space_type is SpaceType.university_base:
        university_index = draw.weighted([u[3] for u in UNIVERSITIES])
        district = _university_areas()[university_index]
        university = UNIVERSITIES[university_index][0]
        name = draw.unique_name(lambda: f"{university}{draw.rng.choice(['大学生创业孵化基地', '科技园'])}")
    else:
        district = draw.area(themes[0].hub)
        suffix = {
            SpaceType.incubator: "孵化器",
            SpaceType.maker_space: "众创空间",
            SpaceType.accelerator: "加速器",
        }
        field_name = "" if generalist else themes[0].zh_field
        name = draw.unique_name(lambda: f"{_zh_area(district)}{draw.brand()}{field_name}{suffix[space_type]}")
    seats = draw.rng.randint(*seats_range)
    fee = draw.rng.randint(*fee_range) // 50 * 50
    return {
        "external_id": f"SP-{index + 1:04d}",
        "name": name,
        "space_type": space_type.value,
        "district": district,
        "description": _space_description(draw, themes, space_type, generalist, english),
        "industries": [] if generalist else list(dict.fromkeys(_industry_of(t) for t in themes)),
        "seats_total": seats,
        "seats_vacant": seats,  # set from the generated history
        "services": draw.some(SPACE_SERVICES, 3, 7),
        "monthly_fee_cny": fee,
        "monthly_subsidy_cny": fee * draw.rng.choice([0, 25, 50, 100]) // 100,
        "admission_criteria": _admission_criteria(draw, themes[0], generalist, english),
    }


def _space_description(
    draw: Draw, themes: list[Theme], kind: SpaceType, generalist: bool, english: bool
) -> str:
    focus_en = "all technology fields" if generalist else " and ".join(t.en_field for t in themes)
    focus_zh = "各类科技创业项目" if generalist else "、".join(t.zh_field for t in themes)
    if english:
        return (
            f"A {kind.value.replace('_', ' ')} serving {focus_en} startups, offering desks, labs, "
            f"investor introductions and mentoring on {draw.pick(themes[0].en_tech)}."
        )
    return (
        f"面向{focus_zh}的{draw.rng.choice(['专业化', '市级', '国家级'])}创业载体，"
        f"提供办公工位、{'和'.join(draw.some(SPACE_SERVICES, 2, 2))}等服务，"
        f"已累计孵化企业{draw.rng.randint(10, 300)}家，重点支持{draw.pick(themes[0].zh_products)}等方向。"
    )


def _admission_criteria(draw: Draw, theme: Theme, generalist: bool, english: bool) -> str:
    years, team = draw.rng.randint(2, 5), draw.rng.randint(2, 5)
    if english:
        scope = "any technology field" if generalist else theme.en_field
        return f"Technology startups under {years} years old in {scope}, with a team of at least {team}."
    scope = "科技创新领域" if generalist else f"{theme.zh_field}相关领域"
    return (
        f"入驻企业须为成立不满{years}年、从事{scope}的初创企业，"
        f"核心团队不少于{team}人，拥有自主知识产权者优先。"
    )


def _practice_base(draw: Draw, index: int) -> Record:
    theme = draw.theme()
    english = draw.english()
    enterprise = _company_name(draw, theme, english=False)
    year = draw.rng.randint(2022, 2026)
    window = draw.rng.choice([((7, 1), (8, 31)), ((3, 1), (6, 30)), ((9, 1), (12, 31)), ((1, 1), (12, 31))])
    slots = draw.rng.randint(5, 40)
    majors = [*draw.some(theme.majors, 2, 3), *draw.some(GENERIC_MAJORS, 0, 1)]
    if english:
        description = (
            f"Internship base of a {theme.en_field} company: students join projects on "
            f"{draw.pick(theme.en_products)} with a dedicated supervisor."
        )
    else:
        description = (
            f"{enterprise}设立的大学生实习实践基地，实习生将参与{draw.pick(theme.zh_products)}相关项目，"
            f"在{draw.pick(theme.zh_tech)}方向由企业导师一对一指导，表现优秀者可获得留用机会。"
        )
    return {
        "external_id": f"PB-{index + 1:04d}",
        "name": f"{enterprise}大学生实习实践基地",
        "enterprise_name": enterprise,
        "district": draw.area(theme.hub),
        "description": description,
        "industries": [_industry_of(theme)],
        "majors_wanted": majors,
        "slots_total": slots,
        "slots_free": slots,  # set from the generated history
        "period_start": dt.date(year, *window[0]).isoformat(),
        "period_end": dt.date(year, *window[1]).isoformat(),
    }


POST_SHAPES: dict[PostType, tuple[float, tuple[Degree, ...], str]] = {
    # type: (share, minimum degrees it may ask for, title pattern)
    PostType.enterprise_rd: (0.65, (Degree.bachelor, Degree.master), "{field}研发工程师"),
    PostType.postdoc_station: (0.20, (Degree.phd,), "博士后科研工作站{field}方向博士后"),
    PostType.academician_workstation: (0.15, (Degree.master, Degree.phd), "院士专家工作站{field}研究员"),
}


def _post(draw: Draw, index: int) -> Record:
    kinds = list(POST_SHAPES)
    post_type = kinds[draw.weighted([POST_SHAPES[k][0] for k in kinds])]
    _, degrees, title = POST_SHAPES[post_type]
    theme = draw.theme()
    english = draw.english()
    enterprise = _company_name(draw, theme, english=False)
    min_degree = draw.rng.choice(degrees)
    skills = draw.some(theme.skills, 2, 4)
    if english:
        description = (
            f"Join our {theme.en_field} R&D team to build {draw.pick(theme.en_products)} using "
            f"{draw.pick(theme.en_tech)}. Requires a {min_degree.value} degree or above."
        )
    else:
        description = (
            f"岗位职责：负责{draw.pick(theme.zh_products)}的{draw.pick(theme.zh_tech)}研发与工程化。"
            f"任职要求：{draw.pick(theme.majors)}等相关专业，熟悉{'、'.join(skills)}。"
        )
    return {
        "external_id": f"RD-{index + 1:04d}",
        "name": title.format(field=theme.zh_field),
        "post_type": post_type.value,
        "enterprise_name": enterprise,
        "district": draw.area(theme.hub),
        "description": description,
        "skills": skills,
        "industry": _industry_of(theme),
        "headcount": draw.rng.randint(1, 8),
        "min_degree": min_degree.value,
    }


# --- the world: profiles plus their hidden tastes ------------------------------------


@dataclass
class Pool:
    """The profiles of one kind with the hidden parameters that drive their behaviour."""

    kind: EntityKind
    records: list[Record]
    latent: FloatArray  # taste vector per profile: never rendered anywhere
    popularity: FloatArray  # log-popularity as a target (heavy-tailed), never rendered
    activity: FloatArray  # relative rate of starting funnels as an actor, never rendered
    # Capacity already used outside the platform (offline tenants, interns, mentees).
    offline_load: list[int] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return [record["external_id"] for record in self.records]


@dataclass
class World:
    persons: PersonBook
    pools: dict[str, Pool]


def _pool(draw: Draw, kind: EntityKind, records: list[Record]) -> Pool:
    count = len(records)
    return Pool(
        kind=kind,
        records=records,
        latent=draw.np.standard_normal((count, LATENT_DIM)),
        popularity=draw.np.normal(0.0, 1.0, count),  # log-normal popularity once exponentiated
        activity=draw.np.lognormal(0.0, 0.8, count),
    )


def _build_world(draw: Draw, size: DemoSize) -> World:
    persons = PersonBook()
    startups = [_startup(draw, i, persons) for i in range(size.startups)]
    students = [persons.add(_student(draw)) for _ in range(size.students)]
    investors = [_investor(draw, i, persons) for i in range(size.investors)]
    mentors = [_mentor(draw, i, persons) for i in range(size.mentors)]
    spaces = [_space(draw, i) for i in range(size.spaces)]
    bases = [_practice_base(draw, i) for i in range(size.practice_bases)]
    posts = [_post(draw, i) for i in range(size.posts)]
    student_ids = set(students)
    student_records = [r for r in persons.records if r["external_id"] in student_ids]
    pools = {
        "startups": _pool(draw, EntityKind.startup, startups),
        "students": _pool(draw, EntityKind.person, student_records),
        "investors": _pool(draw, EntityKind.investor, investors),
        "mentors": _pool(draw, EntityKind.mentor, mentors),
        "spaces": _pool(draw, EntityKind.space, spaces),
        "practice-bases": _pool(draw, EntityKind.practice_base, bases),
        "posts": _pool(draw, EntityKind.post, posts),
    }
    _draw_offline_load(draw, pools)
    return World(persons, pools)


def _draw_offline_load(draw: Draw, pools: dict[str, Pool]) -> None:
    """Part of each capacity is taken by people who never used the platform."""
    for slug, pool in pools.items():
        capacity_field = CAPACITY_FIELDS.get(slug)
        pool.offline_load = [
            int(record[capacity_field] * draw.rng.uniform(0.1, 0.6)) if capacity_field else 0
            for record in pool.records
        ]


# Which Create field bounds how many realised outcomes a target can have.
CAPACITY_FIELDS: dict[str, str] = {
    "investors": "deals_per_quarter",
    "mentors": "max_mentees",
    "spaces": "seats_total",
    "practice-bases": "slots_total",
    "posts": "headcount",
}


# --- affinities ---------------------------------------------------------------------


@dataclass(frozen=True)
class Funnel:
    """One path from first look to realised outcome between an actor pool and a target pool."""

    name: str
    actors: str
    targets: str
    share: float  # of interactions_target
    steps: tuple[tuple[InteractionKind, bool], ...]  # (kind, done by the target) after viewing
    outcome: InteractionKind
    seeking: str | None = None  # startups enter only while seeking this
    target_filter: Callable[[Record], bool] | None = None
    industry_weight: float = 1.5
    stage_weight: float = 0.0
    place_weight: float = 0.5
    popularity_weight: float = 0.5
    once_per_actor: bool = False  # a startup sits in one space at a time


def _is_university_base(record: Record) -> bool:
    return bool(record["space_type"] == SpaceType.university_base.value)


FUNNELS: tuple[Funnel, ...] = (
    Funnel(
        "financing", "startups", "investors", 0.42,
        ((InteractionKind.contacted, False), (InteractionKind.meeting, True)), InteractionKind.invested,
        seeking="investor", industry_weight=1.6, stage_weight=1.2, place_weight=0.6,
    ),
    Funnel(
        "incubation", "startups", "spaces", 0.16, ((InteractionKind.applied, False),),
        InteractionKind.admitted, seeking="space", industry_weight=0.8, place_weight=1.2, once_per_actor=True,
    ),
    Funnel(
        "mentoring", "startups", "mentors", 0.12,
        ((InteractionKind.contacted, False), (InteractionKind.meeting, True)), InteractionKind.mentored,
        seeking="mentor", place_weight=0.3,
    ),
    Funnel(
        "student_mentoring", "students", "mentors", 0.03, ((InteractionKind.contacted, False),),
        InteractionKind.mentored, place_weight=0.3,
    ),
    Funnel(
        "campus_incubation", "students", "spaces", 0.03, ((InteractionKind.applied, False),),
        InteractionKind.admitted, target_filter=_is_university_base, industry_weight=0.5, place_weight=1.5,
        once_per_actor=True,
    ),
    Funnel(
        "internship", "students", "practice-bases", 0.12, ((InteractionKind.applied, False),),
        InteractionKind.placed, industry_weight=1.3, place_weight=1.0, popularity_weight=0.4,
    ),
    Funnel(
        "rd_talent", "students", "posts", 0.12,
        ((InteractionKind.applied, False), (InteractionKind.meeting, True)), InteractionKind.placed,
        popularity_weight=0.3,
    ),
)  # fmt: skip


def _industry_sets(pool: Pool) -> list[list[str]]:
    return [
        record["industries"] if "industries" in record else [record["industry"]] for record in pool.records
    ]


def _multi_hot(sets: list[list[str]], vocabulary: dict[str, int]) -> FloatArray:
    matrix = np.zeros((len(sets), len(vocabulary)))
    for row, codes in enumerate(sets):
        for code in codes:
            matrix[row, vocabulary[code]] = 1.0
    return matrix


def _industry_fit(actor_sets: list[list[str]], target_sets: list[list[str]]) -> FloatArray:
    """1 when one side's industry contains the other's (same code, or sector vs its
    sub-industry), 0.35 when only the sector is shared, 0.5 for a generalist target, else 0."""
    expand = [[a for code in codes for a in industry_ancestors(code)] for codes in actor_sets]
    expand_targets = [[a for code in codes for a in industry_ancestors(code)] for codes in target_sets]
    codes = sorted({c for sets in (expand, expand_targets) for codes_ in sets for c in codes_})
    vocabulary = {code: i for i, code in enumerate(codes)}
    covered = (_multi_hot(expand, vocabulary) @ _multi_hot(target_sets, vocabulary).T > 0) | (
        _multi_hot(actor_sets, vocabulary) @ _multi_hot(expand_targets, vocabulary).T > 0
    )
    sectors = sorted({industry_sector(c) for c in codes})
    sector_vocabulary = {code: i for i, code in enumerate(sectors)}
    actor_sectors = [[industry_sector(c) for c in s] for s in actor_sets]
    target_sectors = [[industry_sector(c) for c in s] for s in target_sets]
    same_sector = (
        _multi_hot(actor_sectors, sector_vocabulary) @ _multi_hot(target_sectors, sector_vocabulary).T > 0
    )
    generalist = np.array([not codes_ for codes_ in target_sets])[None, :]
    return np.where(covered, 1.0, np.where(same_sector, 0.35, np.where(generalist, 0.5, 0.0)))


def _stage_fit(startups: Pool, investors: Pool) -> FloatArray:
    stages = {code: i for i, code in enumerate(STAGES)}
    startup_stage = _multi_hot([[r["stage"]] for r in startups.records], stages)
    investor_stages = _multi_hot([r["stages"] for r in investors.records], stages)
    return np.asarray(startup_stage @ investor_stages.T > 0, dtype=np.float64)


@cache
def _area_proximity() -> tuple[dict[str, int], FloatArray]:
    codes = list(AREAS)
    kilometres = np.array([[distance_km(a, b) for b in codes] for a in codes])
    return {code: i for i, code in enumerate(codes)}, np.exp(-kilometres / 15.0)


def _place_fit(actors: Pool, targets: Pool) -> FloatArray:
    if targets.kind is EntityKind.investor:
        return np.array(
            [
                [
                    1.0 if ANYWHERE in t["districts"] or a["district"] in t["districts"] else 0.0
                    for t in targets.records
                ]
                for a in actors.records
            ]
        )
    index, proximity = _area_proximity()
    actor_rows = [index[r["district"]] for r in actors.records]
    target_columns = [index[r["district"]] for r in targets.records]
    return np.asarray(proximity[np.ix_(actor_rows, target_columns)], dtype=np.float64)


def _affinity(funnel: Funnel, actors: Pool, targets: Pool) -> tuple[FloatArray, FloatArray]:
    """Standardised affinity of every actor for every target, and the industry fit alone."""
    fit = _industry_fit(_industry_sets(actors), _industry_sets(targets))
    raw = actors.latent @ targets.latent.T / math.sqrt(LATENT_DIM)
    raw = raw + funnel.industry_weight * fit + funnel.place_weight * _place_fit(actors, targets)
    raw = raw + funnel.popularity_weight * targets.popularity[None, :]
    if funnel.stage_weight:
        raw = raw + funnel.stage_weight * _stage_fit(actors, targets)
    standardised = (raw - raw.mean()) / (raw.std() or 1.0)
    if funnel.target_filter is not None:
        allowed = np.array([funnel.target_filter(r) for r in targets.records])
        standardised = np.where(allowed[None, :], standardised, -np.inf)
    return standardised, fit


@dataclass(frozen=True)
class HiddenAffinity:
    """Ground truth for evaluation: how much each actor likes each target (standardised)."""

    actor_kind: EntityKind
    target_kind: EntityKind
    actor_ids: list[str]
    target_ids: list[str]
    affinity: FloatArray


def hidden_affinities(seed: int, size: DemoSize = DemoSize()) -> dict[str, HiddenAffinity]:
    """FOR EVALUATION ONLY: the latent affinities that generated the demo history.

    Keyed by funnel name (financing, incubation, mentoring, ...). The matching engine must
    never read these; they exist so that a benchmark can score recommendations against the
    preferences that actually produced the data.
    """
    world = _build_world(Draw(seed), size)
    result: dict[str, HiddenAffinity] = {}
    for funnel in FUNNELS:
        actors, targets = world.pools[funnel.actors], world.pools[funnel.targets]
        affinity, _ = _affinity(funnel, actors, targets)
        result[funnel.name] = HiddenAffinity(actors.kind, targets.kind, actors.ids, targets.ids, affinity)
    return result


# --- the history ------------------------------------------------------------------------

# Choice temperature: lower means actors go more consistently for their best-liked targets.
CHOICE_TEMPERATURE = 0.5
# How far up the standardised affinity an actor must be to take each further funnel step.
STEP_THRESHOLDS = (0.9, 1.4)
OUTCOME_THRESHOLD = 1.6
DEGREE_RANK = {degree.value: rank for rank, degree in enumerate(Degree)}


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


@dataclass
class History:
    """Interactions produced so far, and how much of each capacity they used."""

    events: list[tuple[dt.datetime, int, Record]] = field(default_factory=list)
    used: Counter[tuple[str, ...]] = field(default_factory=Counter)
    settled_actors: set[tuple[str, str]] = field(default_factory=set)

    def emit(self, when: dt.datetime, record: Record) -> None:
        # The running sequence number keeps same-minute events in generation order.
        self.events.append((when, len(self.events), record))


@dataclass(frozen=True)
class Encounter:
    """One actor meeting one target in a funnel, with what drives the outcome."""

    funnel: Funnel
    actor: Record
    target: Record
    actor_kind: EntityKind
    target_kind: EntityKind
    affinity: float
    industry_fit: float
    spare_capacity: int


def _event(
    encounter: Encounter, kind: InteractionKind, when: dt.datetime, by_target: bool, note: str = ""
) -> Record:
    actor, target = encounter.actor, encounter.target
    actor_kind, target_kind = encounter.actor_kind, encounter.target_kind
    if by_target:
        actor, target, actor_kind, target_kind = target, actor, target_kind, actor_kind
    return {
        "actor_kind": actor_kind.value,
        "actor_external_id": actor["external_id"],
        "target_kind": target_kind.value,
        "target_external_id": target["external_id"],
        "kind": kind.value,
        "occurred_at": when.isoformat(),
        "note": note,
    }


def _funnel_start(draw: Draw, actor: Record) -> dt.datetime:
    earliest = max(HISTORY_START, dt.date.fromisoformat(actor.get("founded_on", HISTORY_START.isoformat())))
    day = draw.date_between(earliest, HISTORY_END)
    return dt.datetime(
        day.year, day.month, day.day, draw.rng.randint(8, 20), draw.rng.randint(0, 59), tzinfo=WUHAN_TZ
    )


def _later(draw: Draw, when: dt.datetime, low: int, high: int) -> dt.datetime:
    return when + dt.timedelta(days=draw.rng.randint(low, high), minutes=draw.rng.randint(0, 600))


def _capacity_key(encounter: Encounter, when: dt.datetime) -> tuple[str, ...]:
    target_id = encounter.target["external_id"]
    if encounter.target_kind is EntityKind.investor:
        # An investor's capacity is per quarter: deals_per_quarter.
        return (target_id, f"{when.year}Q{(when.month - 1) // 3 + 1}")
    return (target_id,)


def _play(draw: Draw, encounter: Encounter, history: History) -> int:
    """Run one encounter through its funnel; returns how many interactions it produced."""
    funnel = encounter.funnel
    before = len(history.events)
    when = _funnel_start(draw, encounter.actor)
    # Investors browse startups as much as startups browse investors.
    viewer_is_target = funnel.targets == "investors" and draw.chance(0.5)
    history.emit(when, _event(encounter, InteractionKind.viewed, when, viewer_is_target))
    if draw.chance(0.3):
        saved_at = _later(draw, when, 0, 7)
        if saved_at <= SNAPSHOT:
            history.emit(saved_at, _event(encounter, InteractionKind.saved, saved_at, viewer_is_target))
    for (kind, by_target), threshold in zip(funnel.steps, STEP_THRESHOLDS, strict=False):
        when = _later(draw, when, 1, 30)
        if when > SNAPSHOT or not draw.chance(_sigmoid(2.0 * (encounter.affinity - threshold))):
            return len(history.events) - before
        history.emit(when, _event(encounter, kind, when, by_target, _step_note(draw, kind)))
    when = _later(draw, when, 7, 50)
    if when <= SNAPSHOT:
        _decide(draw, encounter, when, history)
    return len(history.events) - before


def _decide(draw: Draw, encounter: Encounter, when: dt.datetime, history: History) -> None:
    funnel = encounter.funnel
    settled_key = (funnel.targets, encounter.actor["external_id"])
    if funnel.once_per_actor and settled_key in history.settled_actors:
        history.emit(when, _event(encounter, InteractionKind.withdrawn, when, False, _withdrawn_note(draw)))
        return
    # Outcomes outside the target's stated industries happen, but rarely.
    fit_factor = 1.0 if encounter.industry_fit >= 1.0 else 0.3 if encounter.industry_fit > 0 else 0.1
    wants = draw.chance(_sigmoid(2.5 * (encounter.affinity - OUTCOME_THRESHOLD)) * fit_factor)
    eligible = (
        DEGREE_RANK[encounter.actor.get("degree", "none")]
        >= DEGREE_RANK[encounter.target.get("min_degree", "none")]
    )
    key = _capacity_key(encounter, when)
    if wants and eligible and history.used[key] < encounter.spare_capacity:
        history.used[key] += 1
        if funnel.once_per_actor:
            history.settled_actors.add(settled_key)
        history.emit(when, _success(draw, encounter, when))
        return
    if wants and eligible:
        history.emit(when, _event(encounter, InteractionKind.declined, when, True, _full_note(draw)))
    elif draw.chance(0.2):
        history.emit(when, _event(encounter, InteractionKind.withdrawn, when, False, _withdrawn_note(draw)))
    else:
        note = _decline_note(draw, encounter, eligible)
        history.emit(when, _event(encounter, InteractionKind.declined, when, True, note))


def _success(draw: Draw, encounter: Encounter, when: dt.datetime) -> Record:
    record = _event(encounter, encounter.funnel.outcome, when, True)
    if encounter.funnel.outcome is InteractionKind.invested:
        investor, startup = encounter.target, encounter.actor
        share_of_ask = int(startup["funding_ask_cny"] * draw.rng.uniform(0.2, 0.8))
        amount = min(max(share_of_ask, investor["ticket_min_cny"]), investor["ticket_max_cny"])
        record["amount_cny"] = amount // TEN_THOUSAND * TEN_THOUSAND
        record["note"] = f"{_zh_stage(startup['stage'])}投资"
    return record


# Notes only ever state observable reasons, never the hidden tastes behind a decision.
def _step_note(draw: Draw, kind: InteractionKind) -> str:
    notes = {
        InteractionKind.contacted: ("通过平台发送合作意向", "Sent an introduction via the platform"),
        InteractionKind.meeting: ("线下面谈交流", "Met in person"),
        InteractionKind.applied: ("在线提交申请材料", "Applied online"),
    }
    zh, en = notes.get(kind, ("", ""))
    return en if draw.english() else zh


def _full_note(draw: Draw) -> str:
    return "Capacity is full for now" if draw.english() else "本期名额已满"


def _withdrawn_note(draw: Draw) -> str:
    return "Chose another option" if draw.english() else "已选择其他机构"


def _decline_note(draw: Draw, encounter: Encounter, eligible: bool) -> str:
    if not eligible:
        return "学历要求不符"
    if encounter.industry_fit == 0.0:
        return "Outside our focus" if draw.english() else "方向与关注领域不符"
    return "Not a fit at this time" if draw.english() else "综合评估后暂不推进"


def _spare_capacity(slug: str, pool: Pool, index: int) -> int:
    """What the platform may still fill: the stated capacity less the offline load."""
    return int(pool.records[index][CAPACITY_FIELDS[slug]]) - pool.offline_load[index]


def _actor_weights(funnel: Funnel, actors: Pool) -> FloatArray:
    if funnel.seeking is None:
        return actors.activity
    # Startups not looking for this kind of help still browse now and then.
    seeking = np.array([1.0 if funnel.seeking in r["seeking"] else 0.05 for r in actors.records])
    return np.asarray(actors.activity * seeking, dtype=np.float64)


def _run_funnel(draw: Draw, world: World, funnel: Funnel, budget: int, history: History) -> None:
    actors, targets = world.pools[funnel.actors], world.pools[funnel.targets]
    if not actors.records or not targets.records:
        return
    affinity, fit = _affinity(funnel, actors, targets)
    if not np.isfinite(affinity).any():
        return
    cumulative = np.cumsum(_actor_weights(funnel, actors))
    met: set[tuple[int, int]] = set()
    produced, attempts = 0, 0
    # Capacity and repeated pairs can make the budget unreachable for tiny sizes; stop then.
    while produced < budget and attempts < 10 * budget:
        attempts += 1
        actor = int(np.searchsorted(cumulative, draw.np.random() * cumulative[-1], side="right"))
        noisy = affinity[actor] / CHOICE_TEMPERATURE + draw.np.gumbel(size=len(targets.records))
        target = int(np.argmax(noisy))
        if (actor, target) in met:
            continue
        met.add((actor, target))
        encounter = Encounter(
            funnel,
            actors.records[actor],
            targets.records[target],
            actors.kind,
            targets.kind,
            float(affinity[actor, target]),
            float(fit[actor, target]),
            _spare_capacity(funnel.targets, targets, target),
        )
        produced += _play(draw, encounter, history)


def _settle_capacities(world: World, history: History) -> None:
    """Write the load the history implies into the profiles (vacant seats, current mentees ...)."""
    for slug, pool in world.pools.items():
        for record, offline in zip(pool.records, pool.offline_load, strict=True):
            taken = offline + history.used[(record["external_id"],)]
            if slug == "spaces":
                record["seats_vacant"] = record["seats_total"] - taken
            elif slug == "practice-bases":
                record["slots_free"] = record["slots_total"] - taken
            elif slug == "mentors":
                record["current_mentees"] = taken


def _interactions(history: History) -> list[Record]:
    ordered = sorted(history.events, key=lambda event: (event[0], event[1]))
    return [
        {"external_id": f"X-{number:06d}", **record} for number, (_, _, record) in enumerate(ordered, start=1)
    ]


# --- public entry points ----------------------------------------------------------------


def generate_ecosystem(seed: int, size: DemoSize = DemoSize()) -> dict[str, list[dict[str, Any]]]:
    """The demo ecosystem for ``seed``: kind slug -> Create-shaped, JSON-friendly dicts.

    The same seed always gives the same output; every dict has a deterministic external_id
    and refers to others by external id, so the result imports in `IMPORT_ORDER`.
    """
    draw = Draw(seed)
    world = _build_world(draw, size)
    history = History()
    for funnel in FUNNELS:
        _run_funnel(draw, world, funnel, round(funnel.share * size.interactions_target), history)
    _settle_capacities(world, history)
    pools = world.pools
    _add_policy_fields(seed, world.persons.records, pools["startups"].records)
    return {
        "persons": world.persons.records,
        "startups": pools["startups"].records,
        "investors": pools["investors"].records,
        "mentors": pools["mentors"].records,
        "spaces": pools["spaces"].records,
        "practice-bases": pools["practice-bases"].records,
        "posts": pools["posts"].records,
        "interactions": _interactions(history),
    }


# Typical age at graduation by degree, for a birth year consistent with the graduation year.
GRADUATION_AGE = {"bachelor": 22, "master": 25, "phd": 28}
HUKOU_SHARES = {"wuhan": 0.45, "hubei": 0.25, "elsewhere": 0.25, "overseas": 0.05}
RETURNEE_SHARE = 0.12


def _add_policy_fields(seed: int, persons: list[Record], startups: list[Record]) -> None:
    """The fields the plan's policies read (age, hukou, returnee, headcount, funding received).

    Drawn from a random source of their own per profile, so adding them moved no other draw:
    every ecosystem generated before is unchanged but for these fields.
    """
    stage_rung = {code: rung for rung, code in enumerate(_stage_codes())}
    for person in persons:
        rng = random.Random(f"{seed}:policy:{person['external_id']}")
        graduated = person.get("graduation_year")
        if graduated is not None:
            age = GRADUATION_AGE.get(person.get("degree", ""), 22) + rng.randint(0, 2)
            person["birth_year"] = graduated - age
        person["hukou"] = rng.choices(list(HUKOU_SHARES), weights=list(HUKOU_SHARES.values()))[0]
        person["returnee"] = person["hukou"] != "overseas" and rng.random() < RETURNEE_SHARE
    for startup in startups:
        rng = random.Random(f"{seed}:policy:{startup['external_id']}")
        rung = stage_rung.get(startup["stage"], 0)
        startup["headcount"] = len(startup.get("team", [])) + rng.randint(0, 6 * (rung + 1))
        # Roughly one round's ask per rung already climbed, rounded to ten thousand yuan.
        raised = (startup.get("funding_ask_cny") or 0) * rung * rng.uniform(0.5, 1.2)
        startup["funding_received_cny"] = int(round(raised, -4)) if rung else 0


def _silent(items: Iterable[Any], _total: int, _label: str) -> Iterable[Any]:
    return items


def load_ecosystem(
    factory: sessionmaker[Session],
    ecosystem: Mapping[str, Sequence[dict[str, Any]]],
    *,
    secret: str,
    progress: Progress = _silent,
) -> dict[str, int]:
    """Import every kind in `IMPORT_ORDER` through the user-facing bulk import; returns rows per kind."""
    counts: dict[str, int] = {}
    for slug in IMPORT_ORDER:
        report = import_records(
            factory, KINDS[slug], list(ecosystem.get(slug, [])), secret=secret, progress=progress
        )
        counts[slug] = report.created + report.updated
    return counts
