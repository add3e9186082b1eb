"""Chinese-only profiles get sensible matches through the default (Chinese-capable) encoder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from embeddings.selection import encoder_for
from matcher.matcher import Matcher
from models.enums import EntityKind
from models.settings import Settings
from tests.doubles import RANKING_ONLY
from tests.factories import catalog_of

ALL_FIELDS = ["智能制造", "生命健康", "信息技术", "消费生活"]


def _investor(external_id: str, name: str, thesis: str) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "name": name,
        "investor_type": "vc",
        "thesis": thesis,
        "industries": ALL_FIELDS,
        "stages": ["种子轮", "天使轮", "A轮"],
    }


PROFILES: dict[str, list[dict[str, Any]]] = {
    "startups": [
        {
            "external_id": "S-vision",
            "name": "武汉慧眼科技有限公司",
            "one_liner": "基于深度学习的工业视觉缺陷检测",
            "description": "为汽车零部件工厂提供产线质检相机与检测算法，替代人工目检。",
            "industries": ["智能制造"],
            "stage": "天使轮",
            "district": "光谷",
        },
        {
            "external_id": "S-drug",
            "name": "武汉康源生物医药有限公司",
            "one_liner": "小分子创新药研发",
            "description": "针对肝癌的靶向药物，已完成临床前研究，正在申报临床试验。",
            "industries": ["生命健康"],
            "stage": "天使轮",
            "district": "光谷",
        },
    ],
    "investors": [
        _investor("I-vision", "智造早期基金", "专注机器视觉、工业质检、智能工厂和工业自动化的早期项目。"),
        _investor("I-drug", "生物医药创投", "关注创新药、靶向治疗、临床试验和医疗器械。"),
        _investor("I-retail", "新消费资本", "投资餐饮连锁、消费品牌和新零售门店。"),
    ],
}


@pytest.fixture(scope="module")
def matcher(tmp_path_factory: pytest.TempPathFactory) -> Matcher:
    folder: Path = tmp_path_factory.mktemp("chinese")
    settings = Settings(data_dir=folder, environment="test")
    catalog = catalog_of(folder, PROFILES)
    return Matcher(encoder=encoder_for(settings), config=RANKING_ONLY).fit(catalog)


def _ranked(matcher: Matcher, startup_external_id: str) -> list[str]:
    table = matcher.catalog_.tables[EntityKind.startup]
    startup = next(r["id"] for r in table.records if r["external_id"] == startup_external_id)
    return [m.external_id for m in matcher.recommend(EntityKind.startup, startup, EntityKind.investor, k=3)]


@pytest.mark.parametrize(("startup", "expected"), [("S-vision", "I-vision"), ("S-drug", "I-drug")])
def test_the_investor_whose_chinese_thesis_fits_comes_first(
    matcher: Matcher, startup: str, expected: str
) -> None:
    ranked = _ranked(matcher, startup)
    assert ranked[0] == expected, ranked
    assert ranked[-1] != expected


def test_semantic_similarity_reads_chinese(matcher: Matcher) -> None:
    table = matcher.catalog_.tables[EntityKind.startup]
    startup = next(r["id"] for r in table.records if r["external_id"] == "S-vision")
    matches = {
        m.external_id: m for m in matcher.recommend(EntityKind.startup, startup, EntityKind.investor, k=3)
    }
    semantic = {key: match.features["semantic"] for key, match in matches.items()}
    assert semantic["I-vision"] > semantic["I-drug"]
    assert semantic["I-vision"] > semantic["I-retail"]
