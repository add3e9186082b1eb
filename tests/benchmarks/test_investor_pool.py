"""`benchmarks.investor_pool` places each true investor: in the pool, missed, or not eligible."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.investor_pool import Placed, _ranks, place_truth
from matcher.config import MatcherConfig, RetrievalConfig
from matcher.evaluation.world import RANKING_ONLY, MatcherWorld
from matcher.features import FEATURE_NAMES
from tests.doubles import HashingEncoder
from tests.fixtures_evaluation import fold, queries

# A pool of one candidate's third: no channel brings anyone.
NO_POOL = RANKING_ONLY.model_copy(update={"retrieval": RetrievalConfig(pool_size=1)})


def _placed(tmp_path: Path, config: MatcherConfig = RANKING_ONLY) -> Placed:
    world = MatcherWorld.build(fold(), encoder=HashingEncoder(), directory=tmp_path)
    return place_truth(world, queries(), config=config)


def test_a_pool_holding_every_eligible_investor_misses_none(tmp_path: Path) -> None:
    placed = _placed(tmp_path)
    assert sorted(placed.held) == ["I-A", "I-C"]
    assert placed.missed == []
    assert placed.missed_ranks == []


def test_a_missed_investor_is_ranked_under_every_feature(tmp_path: Path) -> None:
    placed = _placed(tmp_path, config=NO_POOL)
    assert placed.held == []
    assert sorted(placed.missed + placed.barred) == ["I-A", "I-C"]
    assert placed.missed
    for ranks in placed.missed_ranks:
        assert ranks.shape == (len(FEATURE_NAMES),)
        assert ((ranks >= 0) & (ranks < 3)).all()  # among the three investors


def test_ties_share_their_mean_rank() -> None:
    ranks = _ranks(np.asarray([[0.5, 1.0], [0.9, 1.0], [0.5, 0.0]]))
    assert ranks[:, 0].tolist() == [1.5, 0, 1.5]
    assert ranks[:, 1].tolist() == [0.5, 0.5, 2]
