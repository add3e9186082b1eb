"""The candidate features `benchmarks.ranker_refit` tries, read from the deals before the cut."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from benchmarks.ranker_refit import CANDIDATE_FEATURES, DealProfiles, Pools, fused
from matcher.evaluation.baselines import FoldHistory, Investment

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
