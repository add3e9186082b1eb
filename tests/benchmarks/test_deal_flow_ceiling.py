"""A random order's expected NDCG@10 in `benchmarks.deal_flow_ceiling`, against every order counted."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from benchmarks.deal_flow_ceiling import K, _random_ndcg


def _mean_over_every_placement(ranked: int, backed: int) -> float:
    """NDCG@K averaged over every set of places the backed startups can take."""
    ideal = sum(1.0 / np.log2(i + 2) for i in range(min(K, backed)))
    found = [
        sum(1.0 / np.log2(place + 2) for place in places if place < K) / ideal
        for places in itertools.combinations(range(ranked), backed)
    ]
    return float(np.mean(found))


@pytest.mark.parametrize(("ranked", "backed"), [(3, 1), (10, 2), (12, 1), (14, 3), (16, 12)])
def test_the_expected_ndcg_is_the_mean_over_every_order(ranked: int, backed: int) -> None:
    assert _random_ndcg(ranked, backed) == pytest.approx(_mean_over_every_placement(ranked, backed))


def test_every_order_is_perfect_when_all_ranked_startups_were_backed() -> None:
    assert _random_ndcg(7, 7) == pytest.approx(1.0)
