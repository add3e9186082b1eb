"""The candidate features `benchmarks.ranker_refit` tries, read from the deals before the cut."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from benchmarks.ranker_refit import (
    CANDIDATE_FEATURES,
    DealProfiles,
    Pools,
    Split,
    fused,
    gains,
    per_round,
    seed_set,
)
from matcher.evaluation.baselines import FoldHistory, Investment
from matcher.evaluation.training import PARAMETER_GRID

NOW = dt.date(2015, 7, 1)
STARTUPS = {
    "pay": {"industries": ["fintech"], "stage": "seed"},
    "bank": {"industries": ["finance"], "stage": "series_a"},
    "cloud": {"industries": ["saas"], "stage": "seed"},
}


def _profiles(*deals: tuple[str, str, int]) -> DealProfiles:
    investments = tuple(
        Investment(investor, startup, NOW - dt.timedelta(days=age)) for investor, startup, age in deals
    )
    return DealProfiles(FoldHistory(investments, STARTUPS, ("a", "b"), NOW))


def _column(profiles: DealProfiles, name: str, query: dict[str, object]) -> list[float]:
    column: list[float] = profiles.columns(["a", "b", "nobody"], query)[
        :, CANDIDATE_FEATURES.index(name)
    ].tolist()
    return column


def test_industry_recency_is_the_last_deal_in_the_querys_industries_or_their_children() -> None:
    profiles = _profiles(("a", "pay", 730), ("a", "cloud", 10), ("b", "bank", 365))
    recency = _column(profiles, "industry_recency", {"industries": ["finance"], "stage": "seed"})
    assert recency == pytest.approx([math.exp(-2.0), math.exp(-1.0), 0.0])


def test_recent_stage_share_leans_on_last_years_deals() -> None:
    profiles = _profiles(("a", "bank", 900), ("a", "bank", 800), ("a", "pay", 30), ("a", "cloud", 20))
    share = _column(profiles, "recent_stage_share", {"industries": ["saas"], "stage": "seed"})
    # two recent seed deals of two, pulled by two deals' weight towards half of all its deals
    assert share == pytest.approx([(2 + 2 * 0.5) / 4, 0.0, 0.0])


def test_a_fusion_at_no_weight_keeps_the_served_order() -> None:
    served = np.asarray([0.3, 0.9, 0.1, 0.5, 0.2])
    pools = Pools(np.random.default_rng(0).random((5, 40)), np.zeros(5), np.asarray([2, 3]), np.zeros(2))
    assert np.argsort(-fused(served, pools, "segment_popularity", 0.0)[:2]).tolist() == [1, 0]
    assert np.argsort(-fused(served, pools, "segment_popularity", 0.0)[2:]).tolist() == [1, 2, 0]


def test_seed_set_zero_is_the_served_grid_and_the_next_draws_it_with_new_seeds() -> None:
    assert seed_set(0) == PARAMETER_GRID
    again = seed_set(1)
    assert [p.seed for p in again] == [p.seed + 2 for p in PARAMETER_GRID]
    assert {(p.rounds, p.num_leaves) for p in again} == {(p.rounds, p.num_leaves) for p in PARAMETER_GRID}


def test_a_variants_gain_is_kept_for_each_seed_sets_refit() -> None:
    labels = np.asarray([0, 1, 0, 1, 0])
    pools = Pools(np.zeros((5, 1)), labels, np.asarray([2, 3]), np.zeros(2, dtype=bool))
    split = Split("tiny", pools, pools)
    # seed set 0 puts each round's truth last, seed set 1 first
    served = [np.asarray([0.9, 0.1, 0.9, 0.1, 0.5]), np.asarray([0.1, 0.9, 0.1, 0.9, 0.5])]
    truth_first = labels.astype(float)
    perfect = gains(split, lambda _split, _offset, _served: truth_first, served)
    assert perfect.shape == (2, 2, 2)  # seed sets, rounds, metrics
    for offset, scores in enumerate(served):
        assert perfect[offset] == pytest.approx(per_round(truth_first, pools) - per_round(scores, pools))
    assert perfect[0, :, 1].min() > 0
    assert perfect[1, :, 1] == pytest.approx(0.0)
    assert gains(split, lambda _split, offset, _served: served[offset], served) == pytest.approx(0.0)
