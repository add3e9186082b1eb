"""One contract for every baseline, known rankings on the tiny fold, and no test-period leak."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from matcher.evaluation.baselines import (
    BASELINES,
    FoldHistory,
    ImplicitALSRecommender,
    PopularityRecommender,
    RandomRecommender,
    Recommender,
    SegmentPopularityRecommender,
)
from matcher.evaluation.protocol import Query
from matcher.evaluation.split import TemporalLeakError
from tests import fixtures_evaluation as tiny


@pytest.fixture(params=sorted(BASELINES))
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fitted(name: str) -> Recommender:
    recommender = BASELINES[name]()
    assert recommender.fit(tiny.fold()) is recommender  # fit returns self
    return recommender


# --- the contract, for every baseline ------------------------------------------------


def test_rank_returns_distinct_candidates_best_first_at_most_k(fitted: Recommender) -> None:
    for query in tiny.queries():
        ranked = fitted.rank(query, 2)
        assert len(ranked) == 2
        assert len(set(ranked)) == 2
        assert set(ranked) <= tiny.fold().candidates
        assert sorted(fitted.rank(query, 10)) == ["I-A", "I-B", "I-C"]  # never more than exist
        scores = fitted.scores(query, fitted.rank(query, 3))
        assert np.all(np.diff(scores) <= 0)  # the ranking follows the scores


def test_scores_follow_the_candidates_given(fitted: Recommender) -> None:
    query = tiny.queries()[0]
    forward = fitted.scores(query, ["I-A", "I-B", "I-C"])
    backward = fitted.scores(query, ["I-C", "I-B", "I-A"])
    assert forward.shape == (3,)
    np.testing.assert_allclose(forward, backward[::-1])


def test_a_fresh_fit_gives_the_same_answers(name: str, fitted: Recommender) -> None:
    again = BASELINES[name]().fit(tiny.fold())
    for query in tiny.queries():
        assert again.rank(query, 3) == fitted.rank(query, 3)


def test_fit_reads_no_query_and_refuses_a_test_period_event(name: str, fitted: Recommender) -> None:
    fold = tiny.fold()
    # Other queries (a test period with other truths) change nothing learned from history.
    other = dataclasses.replace(
        fold, queries=[dataclasses.replace(q, truth=frozenset({"I-B"})) for q in fold.queries]
    )
    refit = BASELINES[name]().fit(other)
    for query in fold.queries:
        np.testing.assert_allclose(
            refit.scores(query, ["I-A", "I-B", "I-C"]), fitted.scores(query, ["I-A", "I-B", "I-C"])
        )
    # An interaction dated on history_end belongs to the test period: fitting on it is refused.
    leaking = tiny.fold(extra_deals=[("S9", tiny.MED, "angel", "C", "2016-01-01")])
    with pytest.raises(TemporalLeakError, match="on or after history_end 2016-01-01"):
        BASELINES[name]().fit(leaking)


# --- known answers on the tiny fold ---------------------------------------------------


def test_popularity_counts_history_deals() -> None:
    popularity = PopularityRecommender().fit(tiny.fold())
    query = tiny.queries()[1]
    assert popularity.rank(query, 3) == ["I-A", "I-B", "I-C"]
    np.testing.assert_allclose(popularity.scores(query, ["I-A", "I-B", "I-C"]), [3, 2, 1])


def test_recency_weighting_prefers_recent_deals() -> None:
    recent = PopularityRecommender(recency_weighted=True).fit(tiny.fold())
    # B's two deals are mid-2015; two of A's three are years old.
    assert recent.rank(tiny.queries()[1], 3) == ["I-B", "I-A", "I-C"]
    expected_b = np.exp(-214 / 365) + np.exp(-184 / 365)  # 214 and 184 days before 2016-01-01
    assert recent.scores(tiny.queries()[1], ["I-B"])[0] == pytest.approx(expected_b)


def test_segment_popularity_prefers_the_query_industry() -> None:
    segment = SegmentPopularityRecommender().fit(tiny.fold())
    ai, med = tiny.queries()
    assert segment.rank(ai, 1) == ["I-A"]
    assert segment.rank(med, 1) == ["I-C"]  # the least popular overall, the only medical investor


def test_random_is_seeded_per_query_not_per_call_order() -> None:
    first = RandomRecommender(seed=3).fit(tiny.fold())
    second = RandomRecommender(seed=3).fit(tiny.fold())
    ai, med = tiny.queries()
    in_order = [first.rank(ai, 3), first.rank(med, 3)]
    reversed_order = [second.rank(med, 3), second.rank(ai, 3)]
    assert in_order == reversed_order[::-1]


def test_history_is_read_from_records_only() -> None:
    history = FoldHistory.from_fold(tiny.fold())
    assert len(history.investments) == len(tiny.DEALS)
    assert history.now == tiny.HISTORY_END
    assert all(i.occurred_on < tiny.HISTORY_END for i in history.investments)


def test_queries_are_not_part_of_history() -> None:
    query: Query = tiny.queries()[0]
    assert str(query.startup["external_id"]) not in FoldHistory.from_fold(tiny.fold()).startups


def test_implicit_als_folds_in_the_backers_a_warm_startup_already_has() -> None:
    als = ImplicitALSRecommender().fit(tiny.fold())
    cold = tiny.queries()[0]
    warm = dataclasses.replace(cold, event_id="q-ai-warm", known=frozenset({"I-B"}))
    row = als._query_row(warm)
    assert row.indices.tolist() == [als._position["I-B"]]  # its backers alone, not its peers' deals
    assert not np.array_equal(
        als.scores(warm, ["I-A", "I-B", "I-C"]), als.scores(cold, ["I-A", "I-B", "I-C"])
    )


MANY_INDUSTRIES = [
    "artificial_intelligence",
    "ecommerce",
    "healthcare",
    "robotics",
    "fintech",
    "biotechnology",
]
ROOT = Path(__file__).resolve().parents[3]


def print_every_baselines_scores() -> None:
    """Run in a subprocess: each baseline's scores for a startup of six industries, as hex."""
    deals = [
        (f"M{i}", industry, "angel", "ABC"[i % 3], f"20{10 + i % 6}-0{1 + i % 9}-1{i % 10}")
        for i, industry in enumerate(MANY_INDUSTRIES * 4)
    ]
    fold = tiny.fold(extra_deals=deals)
    query = tiny.queries()[0]
    query = dataclasses.replace(query, startup={**query.startup, "industries": MANY_INDUSTRIES})
    for name in sorted(BASELINES):
        print(name, BASELINES[name]().fit(fold).scores(query, ["I-A", "I-B", "I-C"]).tobytes().hex())


def test_scores_are_the_same_under_every_hash_seed() -> None:
    # Ties are broken by order, so a score's last bit must not move with Python's string hashing
    # (a set's iteration order): otherwise a method's Coverage and Gini change from run to run.
    script = f"from {__name__} import print_every_baselines_scores; print_every_baselines_scores()"
    answers = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(1, 6)
    }
    assert len(answers) == 1, answers
