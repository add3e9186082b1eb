"""The evaluation's fast paths answer as the matcher's own methods do, asked one at a time.

An evaluation asks each query for its top 100 and for the scores of its truth and sampled
negatives, and a ranker's training asks for the pool and its features: each query enters the
matcher once and its answers share their work (`Matcher.asked`), and the ranking writes no
reasons. These tests ask the same of the straightforward path — `recommend`, `score` and
`candidate_pool`, each with the query entered afresh — on the demo ecosystem's fold.
"""

from __future__ import annotations

import numpy as np
import pytest

from matcher.config import MatcherConfig, RetrievalConfig
from matcher.evaluation.deal_flow import active_investors
from matcher.evaluation.demo_protocol import demo_folds
from matcher.evaluation.harness import CURVE_K, auc_negatives
from matcher.evaluation.world import INVESTOR, RANKING_ONLY, STARTUP, MatcherRecommender, MatcherWorld
from models.demo import DemoSize
from tests.doubles import HashingEncoder

# A pool smaller than the eligible investors, so that every channel retrieves.
SMALL_POOL = RANKING_ONLY.model_copy(update={"retrieval": RetrievalConfig(pool_size=60)})
SIZE = DemoSize(
    startups=600,
    investors=150,
    mentors=5,
    spaces=5,
    practice_bases=5,
    posts=5,
    students=10,
    interactions_target=3000,
)
# Fewer than the period's startups: the deal flow's channels retrieve a part of them.
TINY_POOL = RANKING_ONLY.model_copy(update={"retrieval": RetrievalConfig(pool_size=9)})
CONFIGS = {"ranking only": RANKING_ONLY, "small pool": SMALL_POOL, "serving re-rank": MatcherConfig()}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> MatcherWorld:
    (fold,) = demo_folds(None, sample=30, size=SIZE)
    return MatcherWorld.build(fold, encoder=HashingEncoder(), directory=tmp_path_factory.mktemp("demo"))


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_ranking_and_scores_at_once_are_recommend_and_score(
    world: MatcherWorld, config: MatcherConfig
) -> None:
    fast = MatcherRecommender(world, config=config).fit(world.fold)
    # Its own matcher, so that the serving re-rank's exposure counts grow alike on both paths.
    plain = world.matcher(config=config)
    negatives = auc_negatives(world.fold)
    longest = 0
    for query in world.fold.queries:
        candidates = sorted(query.truth) + negatives[query.event_id]
        ranking, scores = fast.rank_and_score(query, CURVE_K, candidates)
        with world.asking(plain, query) as row_id:
            shown = plain.recommend(STARTUP, row_id, INVESTOR, k=CURVE_K)
        rows = [world.candidate_rows[c] for c in candidates]
        with world.asking(plain, query) as row_id:
            scored = plain.score(STARTUP, row_id, INVESTOR, rows)
        assert ranking == [m.external_id for m in shown if m.external_id in world.fold.candidates]
        longest = max(longest, len(ranking))
        assert scored.ids.tolist() == rows
        np.testing.assert_array_equal(scores, scored.mutual)
    assert longest > 10


def test_a_pool_and_its_features_at_once_are_candidate_pool_and_score(world: MatcherWorld) -> None:
    matcher = world.matcher(config=SMALL_POOL)
    pooled = 0
    for query in world.fold.queries:
        with world.asking(matcher, query) as row_id:
            asked = matcher.asked(STARTUP, row_id, INVESTOR)
            pool = asked.pool()
            fast = asked.score(pool.tolist())
        with world.asking(matcher, query) as row_id:
            plain_pool = matcher.candidate_pool(STARTUP, row_id, INVESTOR)
        with world.asking(matcher, query) as row_id:
            plain = matcher.score(STARTUP, row_id, INVESTOR, plain_pool.tolist())
        pooled += 0 < len(pool) < len(world.candidate_rows)
        np.testing.assert_array_equal(pool, plain_pool)
        np.testing.assert_array_equal(fast.features, plain.features)
        np.testing.assert_array_equal(fast.mutual, plain.mutual)
    assert pooled > len(world.fold.queries) // 2


def test_a_profile_gone_inactive_has_no_pool_nor_ranking_and_no_scores(world: MatcherWorld) -> None:
    matcher = world.matcher()
    with world.asking(matcher, world.fold.queries[0]) as row_id:
        pass
    asked = matcher.asked(STARTUP, row_id, INVESTOR)
    assert asked.pool().tolist() == asked.ranking(10).tolist() == []
    assert matcher.recommend(STARTUP, row_id, INVESTOR) == []
    with pytest.raises(LookupError, match="inactive"):
        asked.score(list(world.candidate_rows.values()))


@pytest.mark.parametrize("config", [RANKING_ONLY, TINY_POOL], ids=["ranking only", "tiny pool"])
def test_a_deal_flow_page_is_every_startup_scored_kept_to_its_served_pool(
    world: MatcherWorld, config: MatcherConfig
) -> None:
    """What the deal flow's page (`<protocol>-deal-flow`) differs in from ordering every period
    startup by its pair score: it lists only the eligible ones the investor's channels retrieve
    among them (the page `recommend` would serve), in the same order."""
    recommender = MatcherRecommender(world, config=config).fit(world.fold)
    queries = list(world.fold.queries)
    investors = active_investors(world.fold)
    everyone = list(range(len(queries)))
    pages, scores = recommender.deal_flow(queries, investors, [everyone] * len(investors), CURVE_K)
    matcher = recommender.matcher_
    ids = np.asarray([int(world.query_records[str(q.startup["external_id"])]["id"]) for q in queries])
    for record in world.query_records.values():
        matcher.upsert_profile(STARTUP, record)
    live = np.isin(matcher.catalog_.tables[STARTUP].ids, ids)
    left_out = 0
    for investor, page, found in zip(investors, pages, scores, strict=True):
        asked = matcher.asked(INVESTOR, world.candidate_rows[investor], STARTUP, within=live)
        np.testing.assert_array_equal(found, asked.score(ids.tolist()).mutual)
        pool = frozenset(asked.pool().tolist())
        every_startup = np.lexsort((ids, -found)).tolist()  # ties: the lower id, as the page
        assert page == [row for row in every_startup if ids[row] in pool][:CURVE_K]
        left_out += len(page) < len(queries)
    assert left_out > len(investors) // 2
