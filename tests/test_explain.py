"""Reasons name the relations a person can check: similar peers, shared partners, paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from matcher.engine import Match, Matcher
from models.enums import EntityKind
from tests.doubles import HashingEncoder
from tests.factories import catalog_of


def _startup(external_id: str, name: str, one_liner: str) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "name": name,
        "one_liner": one_liner,
        "industries": ["智能制造"],
        "stage": "天使轮",
        "district": "光谷",
    }


def _investor(external_id: str, name: str) -> dict[str, Any]:
    return {"external_id": external_id, "name": name, "investor_type": "vc", "thesis": "智能制造 工业视觉"}


def _invested(investor: str, startup: str) -> dict[str, Any]:
    return {
        "actor_kind": "investor",
        "actor_external_id": investor,
        "target_kind": "startup",
        "target_external_id": startup,
        "kind": "invested",
        "occurred_at": "2025-06-01T00:00:00+08:00",
    }


PROFILES = {
    "startups": [
        _startup("S-query", "慧眼视觉", "工业视觉 缺陷检测 汽车零部件"),
        _startup("S-peer", "明察视觉", "工业视觉 缺陷检测 汽车零部件 质检"),
        _startup("S-shared", "智造云", "工业互联网 设备运维"),
    ],
    "investors": [_investor("I-lead", "光谷视觉基金"), _investor("I-co", "长江智造资本")],
    "interactions": [
        _invested("I-lead", "S-peer"),
        _invested("I-lead", "S-shared"),
        _invested("I-co", "S-shared"),
    ],
}


@pytest.fixture(scope="module")
def matcher(tmp_path_factory: pytest.TempPathFactory) -> Matcher:
    folder: Path = tmp_path_factory.mktemp("explain")
    return Matcher(encoder=HashingEncoder(), exposure_cap=None).fit(catalog_of(folder, PROFILES))


def _id(matcher: Matcher, kind: EntityKind, external_id: str) -> int:
    return int(
        next(r["id"] for r in matcher.catalog_.tables[kind].records if r["external_id"] == external_id)
    )


def _match(matches: list[Match], external_id: str) -> Match:
    return next(m for m in matches if m.external_id == external_id)


def test_investors_of_a_similar_startup_are_explained_by_it(matcher: Matcher) -> None:
    query = _id(matcher, EntityKind.startup, "S-query")
    lead = _match(matcher.recommend(EntityKind.startup, query, EntityKind.investor), "I-lead")
    assert lead.features["graph_proximity"] > 0
    assert "合作过与您相似的「明察视觉」" in [r.zh for r in lead.reasons]


def test_deal_flow_is_explained_by_co_investors_and_relation_paths(matcher: Matcher) -> None:
    query = _id(matcher, EntityKind.investor, "I-co")
    peer = _match(matcher.recommend(EntityKind.investor, query, EntityKind.startup), "S-peer")
    sentences = [r.zh for r in peer.reasons]
    assert peer.features["graph_proximity"] > 0
    assert peer.features["graph_overlap"] > 0
    assert any("「光谷视觉基金」" in s for s in sentences), sentences
    english = " ".join(r.en for r in peer.reasons)
    assert "光谷视觉基金" in english
