"""Behavioural tests for models.taxonomy, plus checks against the real cyzone/Crunchbase files."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import pickle
import re
from collections.abc import Iterable

import pytest

from models import taxonomy
from models.taxonomy import (
    ANYWHERE,
    AREAS,
    INDUSTRIES,
    STAGES,
    STRATEGIC_DISTANCE,
    UnknownTermError,
    distance_km,
    industry_ancestors,
    industry_sector,
    industry_similarity,
    normalize_area,
    normalize_industry,
    normalize_stage,
    stage_distance,
)

# The top-level tags cyzone itself uses (the roots of its own tag tree, reconstructed from
# the events file); each must be an Industry carrying exactly this Chinese label.
CYZONE_TOP_LEVEL_TAGS = [
    "企业服务",
    "智能制造",
    "文化娱乐",
    "传统行业",
    "医疗健康",
    "人工智能",
    "汽车交通",
    "能源电力",
    "教育培训",
    "生活服务",
    "大数据",
    "金融",
    "物联网",
    "旅游",
    "环保",
    "消费",
    "电子商务",
    "物流仓储",
    "农业",
    "区块链",
    "VR/AR",
    "社区社交",
    "体育",
    "硬件",
    "工具软件",
    "信息通信",
    "新材料",
    "移动互联网",
    "房产",
]


# --------------------------------------------------------------------------- industries


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("information_technology", "information_technology"),
        ("信息技术", "information_technology"),
        ("INFORMATION TECHNOLOGY", "information_technology"),
        ("Information-Technology", "information_technology"),
        ("生命健康", "life_health"),
        ("智能制造", "intelligent_manufacturing"),
        ("企业服务", "enterprise_services"),
        ("enterprise services", "enterprise_services"),
        ("AI", "artificial_intelligence"),
        ("芯片", "integrated_circuits"),
        ("药品生产", "pharmaceuticals"),
        ("医疗器械", "medical_devices"),
        ("biotech", "biotechnology"),
        ("买手（海淘代购）", "cross_border_ecommerce"),
        ("买手(海淘代购)", "cross_border_ecommerce"),  # half-width brackets fold to the same key
        ("  区块链 ", "blockchain"),
        ("vr/ar", "vr_ar"),
        ("工业机器人", "robotics"),
    ],
)
def test_normalize_industry_accepts_codes_labels_and_aliases(value: str, code: str) -> None:
    assert normalize_industry(value) == code


def test_every_industry_is_well_formed_and_round_trips() -> None:
    for code, industry in INDUSTRIES.items():
        assert industry.code == code
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", code)
        assert industry.parent is None or industry.parent in INDUSTRIES
        for spelling in (code, industry.zh, industry.en, industry.en.upper(), *industry.aliases):
            assert normalize_industry(spelling) == code, spelling


def test_plan_sectors_exist() -> None:
    for code, zh in (
        ("information_technology", "信息技术"),
        ("life_health", "生命健康"),
        ("intelligent_manufacturing", "智能制造"),
    ):
        assert INDUSTRIES[code].zh == zh
        assert INDUSTRIES[code].parent is None


@pytest.mark.parametrize("tag", CYZONE_TOP_LEVEL_TAGS)
def test_cyzone_top_level_tags_are_industries_with_their_own_label(tag: str) -> None:
    code = normalize_industry(tag)
    assert INDUSTRIES[code].zh == tag


@pytest.mark.parametrize("bad", ["区块琏", "quantum basket weaving", "", "未透露"])
def test_unknown_industry_raises_naming_the_value(bad: str) -> None:
    with pytest.raises(UnknownTermError) as info:
        normalize_industry(bad)
    assert isinstance(info.value, ValueError)
    assert repr(bad) in str(info.value)
    assert "industry" in str(info.value)


def test_unknown_term_suggests_close_matches_and_pickles() -> None:
    with pytest.raises(UnknownTermError) as info:
        normalize_industry("区块琏")
    assert "区块链" in info.value.suggestions
    assert "区块链" in str(info.value)
    clone = pickle.loads(pickle.dumps(info.value))
    assert (clone.vocabulary, clone.value, str(clone)) == ("industry", "区块琏", str(info.value))


def test_ancestors_and_sector() -> None:
    assert industry_ancestors("instruments_equipment") == (
        "instruments_equipment",
        "intelligent_equipment",
        "intelligent_manufacturing",
    )
    assert industry_ancestors("医疗器械") == ("medical_devices", "healthcare", "life_health")
    assert industry_sector("medical_devices") == "life_health"
    assert industry_sector("life_health") == "life_health"
    for code in INDUSTRIES:
        chain = industry_ancestors(code)
        assert chain[0] == code
        assert INDUSTRIES[chain[-1]].parent is None
        assert len(chain) <= 3


def test_similarity_levels() -> None:
    assert industry_similarity(["medical_devices"], ["medical_devices"]) == 1.0
    assert industry_similarity(["medical_devices", "finance"], ["医疗器械"]) == 1.0
    # siblings under the same industry, and industry vs its own child
    assert industry_similarity(["medical_devices"], ["medical_institutions"]) == 0.5
    assert industry_similarity(["healthcare"], ["medical_devices"]) == 0.5
    # same sector only
    assert industry_similarity(["blockchain"], ["big_data"]) == 0.25
    assert industry_similarity(["biotechnology"], ["medical_devices"]) == 0.25
    # unrelated and empty
    assert industry_similarity(["blockchain"], ["agriculture"]) == 0.0
    assert industry_similarity([], ["blockchain"]) == 0.0
    assert industry_similarity(["blockchain"], []) == 0.0
    assert industry_similarity([], []) == 0.0


def test_similarity_is_symmetric_and_bounded() -> None:
    sample = ["blockchain", "big_data", "healthcare", "medical_devices", "finance", "payments", "agriculture"]
    sets = [list(c) for r in (1, 2) for c in itertools.combinations(sample, r)]
    for a, b in itertools.product(sets, repeat=2):
        score = industry_similarity(a, b)
        assert 0.0 <= score <= 1.0
        assert score == industry_similarity(b, a)


def test_similarity_rejects_unknown_terms() -> None:
    with pytest.raises(UnknownTermError):
        industry_similarity(["no such industry"], ["finance"])


# ------------------------------------------------------------------------------- stages


def test_stage_ladder_order() -> None:
    expected = ["idea", "seed", "angel", "pre_a", "a", "a_plus", "b", "c_plus", "strategic"]
    assert list(STAGES) == expected
    orders = [STAGES[c].order for c in expected]
    assert orders == sorted(orders)
    assert len(set(orders)) == len(orders)
    assert STAGES["seed"].zh == "种子轮"
    assert STAGES["c_plus"].zh == "C轮及以后"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("A轮", "a"),
        ("A", "a"),
        ("Series A", "a"),
        ("series-a", "a"),
        ("Ａ轮", "a"),  # full-width letters fold
        ("Pre-A轮", "pre_a"),
        ("pre-a", "pre_a"),
        ("天使", "angel"),
        ("天使轮", "angel"),
        ("种子轮", "seed"),
        ("A+轮", "a_plus"),
        ("Pre-B", "a_plus"),
        ("B+轮", "b"),
        ("C轮", "c_plus"),
        ("D轮", "c_plus"),
        ("E轮及以后", "c_plus"),
        ("Pre-IPO", "c_plus"),
        ("战略投资", "strategic"),
        ("idea", "idea"),
    ],
)
def test_normalize_stage(value: str, code: str) -> None:
    assert normalize_stage(value) == code


def test_unknown_stage_raises() -> None:
    with pytest.raises(UnknownTermError, match="'Z轮'"):
        normalize_stage("Z轮")
    with pytest.raises(UnknownTermError):
        normalize_stage("IPO")  # a real event, but not a venture stage


def test_stage_distance() -> None:
    assert stage_distance("seed", "seed") == 0
    assert stage_distance("A轮", "series-a") == 0
    assert stage_distance("angel", "b") == 4
    assert stage_distance("b", "angel") == 4
    assert stage_distance("idea", "c_plus") == 7
    assert stage_distance("strategic", "strategic") == 0
    for code in STAGES:
        if code != "strategic":
            assert stage_distance("strategic", code) == STRATEGIC_DISTANCE
            assert stage_distance(code, "strategic") == STRATEGIC_DISTANCE


# -------------------------------------------------------------------------------- areas

DISTRICTS = [
    "江岸区",
    "江汉区",
    "硚口区",
    "汉阳区",
    "武昌区",
    "青山区",
    "洪山区",
    "东西湖区",
    "汉南区",
    "蔡甸区",
    "江夏区",
    "黄陂区",
    "新洲区",
]


def test_all_districts_and_zones_present() -> None:
    districts = {a.zh for a in AREAS.values() if a.kind == "district"}
    assert districts == set(DISTRICTS)
    for area in AREAS.values():
        # Wuhan's bounding box
        assert 29.9 < area.lat < 31.4, area
        assert 113.6 < area.lon < 115.1, area
        if area.kind == "district":
            assert area.district is None
        else:
            assert area.district is None or AREAS[area.district].kind == "district"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("光谷", "east_lake_hightech"),
        ("东湖高新区", "east_lake_hightech"),
        ("Optics Valley", "east_lake_hightech"),
        ("东湖新技术开发区", "east_lake_hightech"),
        ("沌口", "wuhan_econ_tech"),
        ("经开区", "wuhan_econ_tech"),
        ("武汉经济技术开发区", "wuhan_econ_tech"),
        ("临空港", "airport_econ"),
        ("洪山区", "hongshan"),
        ("洪山", "hongshan"),
        ("hongshan district", "hongshan"),
        ("Jiang'an", "jiangan"),
        ("anywhere", ANYWHERE),
        ("不限", ANYWHERE),
        ("全市", ANYWHERE),
    ],
)
def test_normalize_area(value: str, code: str) -> None:
    assert normalize_area(value) == code


def test_unknown_area_raises() -> None:
    with pytest.raises(UnknownTermError, match="'汉口火星区'"):
        normalize_area("汉口火星区")


def test_distances_are_sensible() -> None:
    assert distance_km("光谷", "洪山区") < distance_km("光谷", "黄陂区")
    assert 3 < distance_km("江汉区", "武昌区") < 15
    assert distance_km("wuchang", "武昌区") == 0.0
    assert distance_km(ANYWHERE, "xinzhou") == 0.0
    assert distance_km("新洲区", "不限") == 0.0
    for a, b in itertools.combinations(AREAS, 2):
        d = distance_km(a, b)
        assert d == pytest.approx(distance_km(b, a))
        assert 0.0 <= d < 100.0


# ------------------------------------------------------------------------ the data files

# The vocabularies moved from Python literals in models/taxonomy.py to models/data/*.toml. These
# digests were taken from the objects the literals built, just before the move: each file must
# load to exactly those objects (same rows, order, labels, aliases and look-up keys). A deliberate
# change to a vocabulary changes its digest; put the new one here in the same commit.
DIGESTS_BEFORE_THE_MOVE = {
    # Since the move: "transportation" became an alias of automotive_transport (issue #16).
    "industries": "1646148701158ea19639f5ca6c2aa08c1c027bda6c8fd8343c9a5c420c067a32",
    "stages": "7c1e873ed21838ee5e85b384ff9ad6db6dccb28d09496958ef2bc7e2ae7b8b3f",
    "areas": "16f333a345dcdf829d1c0eba254e979d00afe5f16b5eebf856e9896dac794a1c",
}


def _digest(rows: Iterable[object], vocabulary: taxonomy.VocabularyIndex) -> str:
    value = [
        [dataclasses.asdict(row) for row in rows],  # type: ignore[call-overload]
        [list(vocabulary._index.items()), list(vocabulary._spellings.items())],
    ]
    return hashlib.sha256(json.dumps(value, ensure_ascii=False).encode()).hexdigest()


def test_each_data_file_loads_to_the_objects_it_replaced() -> None:
    loaded = {
        "industries": _digest(INDUSTRIES.values(), taxonomy._INDUSTRY_VOCAB),
        "stages": _digest(STAGES.values(), taxonomy._STAGE_VOCAB),
        "areas": _digest(AREAS.values(), taxonomy._AREA_VOCAB),
    }
    assert loaded == DIGESTS_BEFORE_THE_MOVE
    assert (len(INDUSTRIES), len(STAGES), len(AREAS)) == (106, 9, 17)
