"""MatcherConfig: one object, refusing unknown keys, from Python or a TOML file, passed down."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from embeddings.index import IndexConfig
from embeddings.lexical import LexicalVectorizer
from matcher.catalog import Catalog
from matcher.channels import Channels
from matcher.config import (
    ExplainConfig,
    MatcherConfig,
    RefreshConfig,
    RerankConfig,
    RetrievalConfig,
    SideWeights,
)
from matcher.directions import DIRECTIONS
from matcher.features import FEATURE_NAMES
from matcher.matcher import Matcher
from matcher.scoring import WeightedScorer
from models.enums import EntityKind
from models.settings import Settings
from tests.doubles import HashingEncoder

CHANGED = MatcherConfig(
    retrieval=RetrievalConfig(pool_size=50, lexical_retrieval_shares=(1.0,), graph_walk="two_hop"),
    rerank=RerankConfig(relevance_weight=1.0, exposure_cap=None),
    refresh=RefreshConfig(refit_min_new_texts=5, collaborative_rebuild_min_new=0),
    explain=ExplainConfig(max_reasons=1, relation_path_hops=2),
    fusion="geometric",
    weights={"startup→mentor": SideWeights(asker={"semantic": 1.0}, candidate={"industry": 1.0})},
)


@pytest.mark.parametrize(
    "config",
    [
        MatcherConfig(),
        CHANGED,
        MatcherConfig(retrieval=RetrievalConfig(index=IndexConfig(exact_scan_factor=0.0, scan_threads=1))),
    ],
)
def test_round_trips_through_json_and_python(config: MatcherConfig) -> None:
    assert MatcherConfig.model_validate_json(config.model_dump_json()) == config
    assert MatcherConfig.model_validate(config.model_dump()) == config


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"pool": 3}, "pool"),
        ({"retrieval": {"pool_sise": 3}}, "retrieval.pool_sise"),
        ({"retrieval": {"lexical_retrieval_shares": [0.2, 0.1]}}, "retrieval.lexical_retrieval_shares"),
        ({"rerank": {"relevance_weight": 1.5}}, "rerank.relevance_weight"),
        ({"fusion": "max"}, "fusion"),
        ({"explain": {"max_reason": 2}}, "explain.max_reason"),
        ({"refresh": {"refit_growth": -1}}, "refresh.refit_growth"),
        ({"retrieval": {"dense_sum_fraction": 0}}, "retrieval.dense_sum_fraction"),
        ({"retrieval": {"index": {"scan_thread": 2}}}, "retrieval.index.scan_thread"),
        ({"weights": {"startup→nobody": {"asker": {}, "candidate": {}}}}, "weights"),
        (
            {"weights": {"startup→mentor": {"asker": {"semantic": 0.5}, "candidate": {"industry": 1}}}},
            "weights",
        ),
        ({"weights": {"startup→mentor": {"asker": {"charm": 1}, "candidate": {"industry": 1}}}}, "weights"),
    ],
)
def test_a_bad_key_or_value_is_refused_naming_it(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as error:
        MatcherConfig.model_validate(data)
    assert field.split(".")[-1] in str(error.value)


def test_read_from_the_toml_file_the_settings_name(tmp_path: Path) -> None:
    path = tmp_path / "matcher.toml"
    path.write_text(
        '[retrieval]\npool_size = 50\nlexical_retrieval_shares = [1.0]\ngraph_walk = "two_hop"\n'
        "[rerank]\nrelevance_weight = 1.0\n\nexposure_cap = false\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationError, match="exposure_cap"):
        MatcherConfig.from_settings(Settings(matcher_config=path))
    path.write_text(path.read_text(encoding="utf-8").replace("exposure_cap = false\n", ""), encoding="utf-8")
    config = MatcherConfig.from_settings(Settings(matcher_config=path))
    assert config.retrieval == CHANGED.retrieval
    assert config.rerank == RerankConfig(relevance_weight=1.0)
    assert MatcherConfig.from_settings(Settings()) == MatcherConfig()


def test_a_configs_weights_rebuild_its_directions_and_the_default_scorer_scores_with_them() -> None:
    directions = CHANGED.directions()
    mentor = directions[(EntityKind.startup, EntityKind.mentor)]
    assert (dict(mentor.asker_weights), dict(mentor.candidate_weights)) == (
        {"semantic": 1.0},
        {"industry": 1.0},
    )
    assert mentor.rules == DIRECTIONS[(EntityKind.startup, EntityKind.mentor)].rules
    assert all(d is DIRECTIONS[key] for key, d in directions.items() if d.name != "startup→mentor")
    features = np.zeros((1, len(FEATURE_NAMES)))
    features[0, FEATURE_NAMES.index("semantic")] = 0.7
    features[0, FEATURE_NAMES.index("industry")] = 0.4
    scorer = WeightedScorer()
    asker, candidate = scorer.side_scores(features, mentor)
    assert (float(asker[0]), float(candidate[0])) == pytest.approx((0.7, 0.4))
    default_asker, _ = scorer.side_scores(features, DIRECTIONS[(EntityKind.startup, EntityKind.mentor)])
    assert float(default_asker[0]) != pytest.approx(0.7)


def test_weights_a_direction_refuses_are_refused_by_the_config() -> None:
    with pytest.raises(ValidationError, match="candidate's view of the asker cannot use"):
        MatcherConfig(
            weights={"startup→mentor": SideWeights(asker={"semantic": 1}, candidate={"capacity": 1})}
        )


STARTUP = {"external_id": "S-1", "name": "光谷视觉", "one_liner": "工业视觉 缺陷检测", "stage": "天使轮"}
# One mentor shares the startup's words, the other its district: the weights decide which leads.
MENTORS = [
    {"external_id": "M-text", "name": "王工", "bio": "工业视觉 缺陷检测 专家", "district": "蔡甸区"},
    {"external_id": "M-near", "name": "李工", "bio": "餐饮 连锁 品牌", "district": "洪山区"},
]


def _startup_and_mentors() -> Catalog:
    industry = {"industries": ["智能制造"]}
    return Catalog.from_records(
        {
            "startups": [STARTUP | industry | {"district": "洪山区"}],
            "mentors": [m | industry for m in MENTORS],
        }
    )


def _ranked(config: MatcherConfig | None, catalog: Catalog) -> list[str]:
    matcher = Matcher(encoder=HashingEncoder(), config=config).fit(catalog)
    matches = matcher.recommend(EntityKind.startup, catalog.row_id("startup", "S-1"), EntityKind.mentor, k=5)
    return [match.external_id for match in matches]


def test_a_weight_set_in_the_config_changes_the_ranking() -> None:
    catalog = _startup_and_mentors()
    by_text = MatcherConfig(
        weights={"startup→mentor": SideWeights(asker={"semantic": 1.0}, candidate={"semantic": 1.0})}
    )
    by_place = MatcherConfig(
        weights={"startup→mentor": SideWeights(asker={"proximity": 1.0}, candidate={"proximity": 1.0})}
    )
    assert _ranked(by_text, catalog) == ["M-text", "M-near"]
    assert _ranked(by_place, catalog) == ["M-near", "M-text"]


def test_the_public_api_names_every_export_and_the_config_among_them() -> None:
    import matcher

    assert "MatcherConfig" in matcher.__all__
    assert {name: getattr(matcher, name).__name__ for name in ("Matcher", "MatcherConfig", "Catalog")} == {
        "Matcher": "Matcher",
        "MatcherConfig": "MatcherConfig",
        "Catalog": "Catalog",
    }
    for name in matcher.__all__:
        assert getattr(matcher, name) is not None, name


def test_the_explain_section_bounds_the_reasons_given() -> None:
    catalog = _startup_and_mentors()
    for config, most in ((MatcherConfig(), 3), (MatcherConfig(explain=ExplainConfig(max_reasons=1)), 1)):
        matcher = Matcher(encoder=HashingEncoder(), config=config).fit(catalog)
        matches = matcher.recommend(
            EntityKind.startup, catalog.row_id("startup", "S-1"), EntityKind.mentor, k=5
        )
        assert max(len(match.reasons) for match in matches) == most


def test_the_index_section_reaches_every_vector_index_built_or_loaded(tmp_path: Path) -> None:
    catalog = _startup_and_mentors()
    index = IndexConfig(beam_per_result=2.0, parallel_scan_min=10)
    config = MatcherConfig(retrieval=RetrievalConfig(index=index))
    built = Matcher(encoder=HashingEncoder(), config=config, index_dir=tmp_path).fit(catalog)
    built.save()
    loaded = Matcher(encoder=HashingEncoder(), config=config, index_dir=tmp_path).fit(catalog)
    for matcher in (built, loaded):
        assert {kind: c.index.config for kind, c in matcher.channels_.kinds.items()} == dict.fromkeys(
            matcher.channels_.kinds, index
        )


def test_the_refresh_section_says_when_the_vocabulary_is_stale() -> None:
    channels = Channels(HashingEncoder(), LexicalVectorizer(), {})
    channels.texts_since_fit = 10
    assert not channels.vocabulary_is_stale(RefreshConfig())
    assert channels.vocabulary_is_stale(RefreshConfig(refit_min_new_texts=5))
