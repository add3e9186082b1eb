"""Ranking metrics against hand-computed cases, their edge cases and a few properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from matcher.evaluation.metrics import (
    MetricRow,
    MetricTable,
    catalogue_coverage,
    exposure_gini,
    ndcg_at_k,
    pairwise_auc,
    recall_at_k,
    recall_curve,
    reciprocal_rank,
    sample_negatives,
    summarize,
)

RANKED = ["a", "b", "c", "d", "e"]
TRUTH = {"b", "d", "z"}  # "z" is relevant but never ranked


def test_recall_hand_computed() -> None:
    # top 1 = {a}: 0 of 3 relevant found
    assert recall_at_k(RANKED, TRUTH, 1) == 0.0
    # top 2 = {a, b}: 1/3
    assert recall_at_k(RANKED, TRUTH, 2) == pytest.approx(1 / 3)
    # top 4 = {a, b, c, d}: 2/3; z is never found, so 2/3 is the ceiling
    assert recall_at_k(RANKED, TRUTH, 4) == pytest.approx(2 / 3)
    assert recall_at_k(RANKED, TRUTH, 5) == pytest.approx(2 / 3)


def test_recall_curve_is_recall_at_every_k_past_the_ranking_too() -> None:
    curve = recall_curve(RANKED, TRUTH, 8)
    assert curve.tolist() == [recall_at_k(RANKED, TRUTH, k) for k in range(1, 9)]
    assert curve[-1] == pytest.approx(2 / 3)  # the ranking ends at 5: the curve stays level after
    assert recall_curve([], TRUTH, 3).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="same id twice"):
        recall_curve(["a", "a"], TRUTH, 3)


def test_ndcg_hand_computed() -> None:
    # k=4: hits at ranks 2 and 4 -> DCG = 1/log2(3) + 1/log2(5) = 0.630930 + 0.430677 = 1.061606
    # IDCG over min(|truth|=3, 4) = 3 ranks: 1 + 1/log2(3) + 1/log2(4) = 1 + 0.630930 + 0.5 = 2.130930
    # NDCG = 1.061606 / 2.130930 = 0.498189
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))
    assert ndcg_at_k(RANKED, TRUTH, 4) == pytest.approx(expected)
    assert ndcg_at_k(RANKED, TRUTH, 4) == pytest.approx(0.498189, abs=1e-6)
    # k=2: hit at rank 2 -> DCG = 0.630930; IDCG over min(3, 2) = 2 ranks: 1 + 0.630930 = 1.630930
    # NDCG = 0.630930 / 1.630930 = 0.386853
    assert ndcg_at_k(RANKED, TRUTH, 2) == pytest.approx(0.386853, abs=1e-6)


def test_ndcg_is_one_for_a_perfect_ranking_even_when_truth_exceeds_k() -> None:
    # truth has 3 ids but k=2: the ideal ranking can only place 2, so 2 hits in 2 ranks is perfect
    assert ndcg_at_k(["b", "d", "a"], TRUTH, 2) == pytest.approx(1.0)


def test_reciprocal_rank_hand_computed() -> None:
    # first relevant id (b) sits at rank 2 -> 1/2
    assert reciprocal_rank(RANKED, TRUTH) == 0.5
    # MRR over two queries: (1/2 + 1/1) / 2 = 0.75
    assert np.mean([reciprocal_rank(RANKED, TRUTH), reciprocal_rank(["d"], TRUTH)]) == 0.75
    assert reciprocal_rank(["a", "c"], TRUTH) == 0.0
    assert reciprocal_rank([], TRUTH) == 0.0


def test_k_larger_than_the_list_uses_what_is_there() -> None:
    # top 100 of a 5-long list is the list: hits b, d -> recall 2/3, same as k=5
    assert recall_at_k(RANKED, TRUTH, 100) == recall_at_k(RANKED, TRUTH, 5)
    assert ndcg_at_k(RANKED, TRUTH, 100) == pytest.approx(ndcg_at_k(RANKED, TRUTH, 5))
    assert recall_at_k([], TRUTH, 10) == 0.0
    assert ndcg_at_k([], TRUTH, 10) == 0.0


@pytest.mark.parametrize("metric", [recall_at_k, ndcg_at_k])
def test_empty_truth_and_bad_input_are_refused(metric: object) -> None:
    assert callable(metric)
    with pytest.raises(ValueError, match="empty"):
        metric(RANKED, set(), 3)
    with pytest.raises(ValueError, match="k must be"):
        metric(RANKED, TRUTH, 0)
    with pytest.raises(ValueError, match="twice"):
        metric(["a", "b", "a"], TRUTH, 3)


def test_reciprocal_rank_refuses_empty_truth() -> None:
    with pytest.raises(ValueError, match="empty"):
        reciprocal_rank(RANKED, [])


def test_catalogue_coverage_hand_computed() -> None:
    lists = [["a", "b", "c"], ["b", "d", "e"]]
    # top 2 of each: {a, b} ∪ {b, d} = {a, b, d} -> 3 of 10
    assert catalogue_coverage(lists, 10, 2) == pytest.approx(0.3)
    # top 3: {a, b, c, d, e} -> 5 of 5
    assert catalogue_coverage(lists, 5, 3) == 1.0
    assert catalogue_coverage([], 5, 3) == 0.0
    with pytest.raises(ValueError, match="catalogue has only"):
        catalogue_coverage(lists, 2, 3)


def test_exposure_gini_hand_computed() -> None:
    catalogue = ["a", "b", "c", "d"]
    lists = [["a", "b"], ["a", "c"], ["a", "x-ignored-beyond-k"]]
    # top 1 of each: a shown 3 times, b, c, d never -> counts sorted [0, 0, 0, 3]
    # G = 2·Σ i·x_i / (n·Σx) - (n+1)/n = 2·(4·3) / (4·3) - 5/4 = 2 - 1.25 = 0.75 = (n-1)/n, the maximum
    assert exposure_gini(lists, catalogue, 1) == pytest.approx(0.75)
    # top 2 with the third list cut to its first item: counts a=3, b=1, c=1, d=0 -> sorted [0, 1, 1, 3]
    # Σ i·x_i = 2·1 + 3·1 + 4·3 = 17; G = 2·17 / (4·5) - 5/4 = 1.7 - 1.25 = 0.45
    lists_2 = [["a", "b"], ["a", "c"], ["a"]]
    assert exposure_gini(lists_2, catalogue, 2) == pytest.approx(0.45)
    # counts [0, 0, 1, 3] from the mean-difference form: Σ|xi-xj| over ordered pairs = 20, 2·n²·mean = 32
    assert exposure_gini([["a"], ["a"], ["a"], ["b"]], catalogue, 1) == pytest.approx(20 / 32)
    # everyone shown once: perfectly equal
    assert exposure_gini([["a", "b"], ["c", "d"]], catalogue, 2) == 0.0
    assert exposure_gini([], catalogue, 2) == 0.0
    with pytest.raises(ValueError, match="not in the catalogue"):
        exposure_gini([["q"]], catalogue, 1)


def test_pairwise_auc_hand_computed_with_ties() -> None:
    # pairs (pos, neg): (3,1) win, (3,2) win, (2,1) win, (2,2) tie = 0.5 -> (3 + 0.5) / 4 = 0.875
    assert pairwise_auc([3.0, 2.0], [1.0, 2.0]) == 0.875
    assert pairwise_auc([1.0], [1.0]) == 0.5
    assert pairwise_auc([0.0, 0.0], [1.0]) == 0.0
    assert pairwise_auc(np.array([5.0]), np.array([1.0, 2.0, 3.0])) == 1.0
    with pytest.raises(ValueError, match="at least one"):
        pairwise_auc([], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        pairwise_auc([float("nan")], [1.0])


def test_sample_negatives_never_returns_a_positive() -> None:
    rng = np.random.default_rng(7)
    candidates = [f"i{n}" for n in range(20)]
    positives = {"i1", "i5", "i9"}
    for _ in range(50):
        negatives = sample_negatives(candidates, positives, rng)
        assert len(negatives) == 3
        assert len(set(negatives)) == 3
        assert not set(negatives) & positives
        assert set(negatives) <= set(candidates)
    # reproducible from the seed
    assert sample_negatives(candidates, positives, np.random.default_rng(1)) == sample_negatives(
        candidates, positives, np.random.default_rng(1)
    )
    assert sample_negatives(candidates, set(), rng) == []
    with pytest.raises(ValueError, match="only 1 non-positive"):
        sample_negatives(["a", "b", "c"], {"a", "b"}, rng)


def test_metric_table_prints_markdown() -> None:
    table = MetricTable(
        k=10,
        rows=(
            MetricRow(method="popularity", queries=2, recall=0.5, ndcg=0.25, mrr=0.5, coverage=0.1, gini=0.9),
            MetricRow(
                method="matcher", queries=2, recall=0.75, ndcg=0.5, mrr=0.625, coverage=0.4, gini=0.3, auc=0.8
            ),
        ),
    )
    assert str(table).splitlines() == [
        "| method | queries | Recall@10 | NDCG@10 | MRR | Coverage@10 | Gini@10 | AUC |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        "| popularity | 2 | 0.5000 | 0.2500 | 0.5000 | 0.1000 | 0.9000 | – |",
        "| matcher | 2 | 0.7500 | 0.5000 | 0.6250 | 0.4000 | 0.3000 | 0.8000 |",
    ]


def test_metric_table_refuses_unknown_fields_duplicates_and_out_of_range() -> None:
    row = MetricRow(method="m", queries=1, recall=1, ndcg=1, mrr=1, coverage=1, gini=0)
    with pytest.raises(ValidationError):
        MetricTable(k=5, rows=(row, row))
    with pytest.raises(ValidationError):
        MetricRow.model_validate({**row.model_dump(), "precision": 0.5})
    with pytest.raises(ValidationError):
        MetricRow.model_validate({**row.model_dump(), "recall": 1.5})


def test_summarize_means_over_queries() -> None:
    rankings = [["a", "b"], ["c", "a"]]
    truths = [{"b"}, {"c", "d"}]
    row = summarize("m", rankings, truths, ["a", "b", "c", "d"], 2, auc=0.6)
    # recall: (1/1 + 1/2) / 2 = 0.75; MRR: (1/2 + 1/1) / 2 = 0.75
    # NDCG: q1 = (1/log2 3) / 1 = 0.630930; q2 = 1 / (1 + 1/log2 3) = 0.613147 -> mean 0.622038
    # coverage: {a, b, c} of 4 = 0.75; exposure a=2, b=1, c=1, d=0 -> sorted [0,1,1,2]:
    # G = 2·(2·1 + 3·1 + 4·2) / (4·4) - 5/4 = 26/16 - 1.25 = 0.375
    assert row.recall == pytest.approx(0.75)
    assert row.mrr == pytest.approx(0.75)
    assert row.ndcg == pytest.approx(0.622038, abs=1e-6)
    assert row.coverage == pytest.approx(0.75)
    assert row.gini == pytest.approx(0.375)
    assert row.auc == 0.6
    assert row.queries == 2
    with pytest.raises(ValueError, match="truth sets"):
        summarize("m", rankings, truths[:1], ["a"], 2)


# --- properties -----------------------------------------------------------------------

ids = st.integers(min_value=0, max_value=30)
ranked_lists = st.lists(ids, unique=True, max_size=25)
truth_sets = st.sets(ids, min_size=1, max_size=10)


@settings(max_examples=60, deadline=None)
@given(ranked=ranked_lists, truth=truth_sets, k=st.integers(min_value=1, max_value=30))
def test_recall_is_monotone_in_k_and_ndcg_in_unit_interval(
    ranked: list[int], truth: set[int], k: int
) -> None:
    assert recall_at_k(ranked, truth, k) <= recall_at_k(ranked, truth, k + 1)
    assert 0.0 <= recall_at_k(ranked, truth, k) <= 1.0
    assert 0.0 <= ndcg_at_k(ranked, truth, k) <= 1.0 + 1e-12
    assert 0.0 <= reciprocal_rank(ranked, truth) <= 1.0


@settings(max_examples=60, deadline=None)
@given(lists=st.lists(ranked_lists, max_size=8), k=st.integers(min_value=1, max_value=10))
def test_gini_and_coverage_in_unit_interval(lists: list[list[int]], k: int) -> None:
    catalogue = list(range(31))
    assert 0.0 <= exposure_gini(lists, catalogue, k) <= 1.0
    assert 0.0 <= catalogue_coverage(lists, len(catalogue), k) <= 1.0


@settings(max_examples=60, deadline=None)
@given(
    positives=st.lists(st.integers(-5, 5), min_size=1, max_size=12),
    negatives=st.lists(st.integers(-5, 5), min_size=1, max_size=12),
)
def test_auc_matches_brute_force_and_is_antisymmetric(positives: list[int], negatives: list[int]) -> None:
    pairs = [(p, n) for p in positives for n in negatives]
    brute = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)
    assert pairwise_auc(positives, negatives) == pytest.approx(brute)
    assert pairwise_auc(positives, negatives) + pairwise_auc(negatives, positives) == pytest.approx(1.0)
