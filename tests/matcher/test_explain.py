"""Reasons name the relations a person can check: similar peers, shared partners, paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from matcher.explain import EXPLAINERS, ExplainContext
from matcher.graph import Node
from matcher.keywords import is_telling
from matcher.matcher import Match, Matcher
from models.enums import EntityKind, InteractionKind
from tests.doubles import NO_EXPOSURE_CAP, HashingEncoder
from tests.factories import catalog_of, invested


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


PROFILES = {
    "startups": [
        _startup("S-query", "慧眼视觉", "工业视觉 缺陷检测 汽车零部件"),
        _startup("S-peer", "明察视觉", "工业视觉 缺陷检测 汽车零部件 质检"),
        _startup("S-shared", "智造云", "工业互联网 设备运维"),
    ],
    "investors": [_investor("I-lead", "光谷视觉基金"), _investor("I-co", "长江智造资本")],
    "interactions": [
        invested("I-lead", "S-peer"),
        invested("I-lead", "S-shared"),
        invested("I-co", "S-shared"),
    ],
}


@pytest.fixture(scope="module")
def matcher(tmp_path_factory: pytest.TempPathFactory) -> Matcher:
    folder: Path = tmp_path_factory.mktemp("explain")
    return Matcher(encoder=HashingEncoder(), config=NO_EXPOSURE_CAP).fit(catalog_of(folder, PROFILES))


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


@pytest.mark.parametrize("word", ["企业", "服务", "参与", "项目", "方向", "累计", "25", "2024年", "3.5万"])
def test_generic_words_and_numbers_are_no_keyword(word: str) -> None:
    assert not is_telling(word)


@pytest.mark.parametrize("word", ["机器人", "智能制造", "Robotics", "medical_devices"])
def test_industry_terms_are_no_keyword_as_the_industry_reason_names_them(word: str) -> None:
    assert not is_telling(word)


@pytest.mark.parametrize("word", ["缺陷检测", "测序", "5G", "焊接"])
def test_telling_words_remain_keywords(word: str) -> None:
    assert is_telling(word)


def _robotics_world(folder: Path) -> Matcher:
    """A robotics startup whose text is close to a diagnostics company's, both backed by one VC."""
    generic = "累计服务25家企业 参与项目方向 "
    profiles = {
        "startups": [
            _startup("S-robot", "灵巧机器人", generic + "协作机械臂 缺陷检测 视觉引导")
            | {"industries": ["机器人"]},
            _startup("S-diag", "精准诊断", generic + "协作机械臂 缺陷检测 视觉引导 体外诊断")
            | {"industries": ["医疗器械"]},
        ],
        "investors": [
            {"external_id": "I-vc", "name": "光谷创投", "investor_type": "vc", "thesis": generic + "缺陷检测"}
        ],
        "interactions": [invested("I-vc", "S-diag")],
    }
    return Matcher(encoder=HashingEncoder(), config=NO_EXPOSURE_CAP).fit(catalog_of(folder, profiles))


def test_shared_keywords_leave_out_generic_words_numbers_and_industry_labels(tmp_path: Path) -> None:
    matcher = _robotics_world(tmp_path)
    query = _id(matcher, EntityKind.investor, "I-vc")
    robot = _match(matcher.recommend(EntityKind.investor, query, EntityKind.startup), "S-robot")
    position = matcher.catalog_.tables[EntityKind.startup].position(robot.id)
    lexical = matcher.channels_.kinds[EntityKind.investor].lexical_row(
        matcher.catalog_.tables[EntityKind.investor].position(query)
    )
    shared = matcher.channels_.shared_keywords(
        lexical, EntityKind.startup, position, limit=10, min_weight=matcher.config_.explain.min_keyword_weight
    )
    assert sorted(shared) == ["检测", "缺陷"]


def test_a_similar_peer_shares_the_askers_industry(tmp_path: Path) -> None:
    matcher = _robotics_world(tmp_path)
    query = _id(matcher, EntityKind.startup, "S-robot")
    vc = _match(matcher.recommend(EntityKind.startup, query, EntityKind.investor), "I-vc")
    assert vc.features["graph_proximity"] > 0, "the diagnostics company is the robotics startup's text peer"
    assert not any("精准诊断" in r.zh or "精准诊断" in r.en for r in vc.reasons), vc.reasons


def _filler(start: int) -> str:
    return " ".join(f"词{chr(start + n)}{chr(start + 0x80 + n)}" for n in range(120))


def test_a_shared_word_weighing_little_in_the_pair_is_no_keyword(tmp_path: Path) -> None:
    """One mention of 焊接 in each of two long texts about other things is no reason to match on it."""
    profiles = {
        "startups": [
            _startup(f"S-{n}", f"企业{n}", "焊接") | {"description": _filler(0x4E00 + 0x200 * (n % 2))}
            for n in range(4)
        ]
        + [_startup(f"S-short-{n}", f"焊接{n}", "焊接") for n in range(2)],
        "investors": [_investor("I-any", "光谷基金")],
    }
    matcher = Matcher(encoder=HashingEncoder(), config=NO_EXPOSURE_CAP).fit(catalog_of(tmp_path, profiles))
    channel = matcher.channels_.kinds[EntityKind.startup]
    query = channel.lexical_row(0)
    assert query.multiply(channel.lexical_row(1)).nnz > 0
    assert (
        matcher.channels_.shared_keywords(
            query, EntityKind.startup, 1, min_weight=matcher.config_.explain.min_keyword_weight
        )
        == []
    )
    short = channel.lexical_row(4)
    assert matcher.channels_.shared_keywords(
        short, EntityKind.startup, 5, min_weight=matcher.config_.explain.min_keyword_weight
    ) == ["焊接"]


def _popularity_reason(matcher: Matcher, node: tuple[EntityKind, int]) -> tuple[str, str] | None:
    context = ExplainContext(
        asker_kind=EntityKind.investor,
        query={},
        candidate_node=node,
        candidate={},
        keywords=list,
        history=matcher.catalog_.history,
        records=lambda _: None,
        peers=(),
        peers_are_similar=False,
        path=list,
    )
    reason = EXPLAINERS["popularity"](context)
    return None if reason is None else (reason.zh, reason.en)


def test_a_candidates_relations_are_named_by_whom_and_counted_in_agreement(matcher: Matcher) -> None:
    backed_twice = (EntityKind.startup, _id(matcher, EntityKind.startup, "S-shared"))
    backed_once = (EntityKind.startup, _id(matcher, EntityKind.startup, "S-peer"))
    unbacked = (EntityKind.startup, _id(matcher, EntityKind.startup, "S-query"))
    assert _popularity_reason(matcher, backed_twice) == ("已获2家机构投资", "backed by 2 investors")
    assert _popularity_reason(matcher, backed_once) == ("已获1家机构投资", "backed by 1 investor")
    assert _popularity_reason(matcher, unbacked) is None


def _syndicate_world(folder: Path) -> Matcher:
    """A startup backed by 光谷视觉基金, who co-invested with 长江智造资本 in two other startups."""
    profiles = {
        "startups": [
            _startup("S-query", "慧眼视觉", "工业视觉 缺陷检测 汽车零部件"),
            _startup("S-one", "智造云", "工业互联网 设备运维"),
            _startup("S-two", "精工检测", "无损检测 工业视觉"),
            _startup("S-solo", "微光传感", "红外传感 工业视觉"),
        ],
        "investors": [
            _investor("I-lead", "光谷视觉基金"),
            _investor("I-co", "长江智造资本"),
            _investor("I-solo", "东湖天使"),
        ],
        "interactions": [
            invested("I-lead", "S-query"),
            invested("I-solo", "S-solo"),
            *(invested(i, s) for i in ("I-lead", "I-co") for s in ("S-one", "S-two")),
        ],
    }
    return Matcher(encoder=HashingEncoder(), config=NO_EXPOSURE_CAP).fit(catalog_of(folder, profiles))


def _overlap_context(matcher: Matcher, asker: Node, candidate: Node) -> ExplainContext:
    return ExplainContext(
        asker_kind=asker[0],
        query=matcher.catalog_.tables[asker[0]].record(asker[1]),
        candidate_node=candidate,
        candidate=matcher.catalog_.tables[candidate[0]].record(candidate[1]),
        keywords=list,
        history=matcher.catalog_.history,
        records=lambda node: matcher.catalog_.tables[node[0]].record(node[1]),
        peers=(),
        peers_are_similar=False,
        path=lambda: [(asker, InteractionKind.invested, candidate)],
        asker_node=asker,
    )


def test_a_startups_backer_names_the_investors_it_co_invested_with(tmp_path: Path) -> None:
    matcher = _syndicate_world(tmp_path)
    query = (EntityKind.startup, _id(matcher, EntityKind.startup, "S-query"))
    co = (EntityKind.investor, _id(matcher, EntityKind.investor, "I-co"))
    assert _match(matcher.recommend(*query, EntityKind.investor), "I-co").features["graph_overlap"] > 0
    reason = EXPLAINERS["graph_overlap"](_overlap_context(matcher, query, co))
    assert reason is not None
    assert reason.zh == "与您的投资方「光谷视觉基金」共同投资过2家企业"
    assert reason.en == "co-invested in 2 companies with your backer “光谷视觉基金”"


def test_an_investor_sharing_no_company_with_the_backers_is_explained_by_the_path(tmp_path: Path) -> None:
    matcher = _syndicate_world(tmp_path)
    query = (EntityKind.startup, _id(matcher, EntityKind.startup, "S-query"))
    solo = (EntityKind.investor, _id(matcher, EntityKind.investor, "I-solo"))
    reason = EXPLAINERS["graph_overlap"](_overlap_context(matcher, query, solo))
    assert reason is not None
    assert reason.zh == "关系链：您—投资—对方", reason
