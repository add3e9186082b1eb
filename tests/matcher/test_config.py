"""MatcherConfig: one object, refusing unknown keys, from Python or a TOML file, passed down."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from matcher.config import MatcherConfig, RerankConfig, RetrievalConfig, SideWeights
from matcher.directions import DIRECTIONS
from matcher.features import FEATURE_NAMES
from matcher.scoring import WeightedScorer
from models.settings import Settings

CHANGED = MatcherConfig(
    retrieval=RetrievalConfig(pool_size=50, lexical_retrieval_shares=(1.0,), graph_walk="two_hop"),
    rerank=RerankConfig(relevance_weight=1.0, exposure_cap=None),
    fusion="geometric",
    weights={"startup→mentor": SideWeights(asker={"semantic": 1.0}, candidate={"industry": 1.0})},
)


@pytest.mark.parametrize("config", [MatcherConfig(), CHANGED])
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


def test_the_weighted_scorer_takes_a_configs_weights() -> None:
    direction = next(d for d in DIRECTIONS.values() if d.name == "startup→mentor")
    features = np.zeros((1, len(FEATURE_NAMES)))
    features[0, FEATURE_NAMES.index("semantic")] = 0.7
    features[0, FEATURE_NAMES.index("industry")] = 0.4
    asker, candidate = WeightedScorer(weights=CHANGED.side_weights()).side_scores(features, direction)
    assert (float(asker[0]), float(candidate[0])) == pytest.approx((0.7, 0.4))
    default_asker, _ = WeightedScorer().side_scores(features, direction)
    assert float(default_asker[0]) != pytest.approx(0.7)


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
