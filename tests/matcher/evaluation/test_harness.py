"""The harness on the tiny hand-made fold gives the numbers worked out by hand."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from api.cli import app
from matcher.directions import direction_for
from matcher.evaluation.harness import (
    CURVE_K,
    GRAPH_FEATURES,
    METHODS,
    PROTOCOLS,
    FoldSession,
    auc_negatives,
    evaluate_folds,
    load_folds,
)
from matcher.evaluation.protocol import spread_sample
from matcher.evaluation.world import MatcherWorld
from matcher.features import FEATURE_NAMES
from matcher.scoring import WeightedScorer, fuse
from models.enums import EntityKind
from models.settings import Settings
from tests import fixtures_evaluation as tiny
from tests.doubles import HashingEncoder


def test_popularity_on_the_tiny_fold_gives_hand_computed_metrics() -> None:
    result = evaluate_folds("tiny", [tiny.fold()], methods=["popularity"])
    rows = {row.method: row for row in result.table.rows}
    overall = rows["popularity"]
    # Popularity ranks A (3 deals), B (2), C (1) for both queries. The AI query's truth {A} is
    # first; the medical query's truth {C} is third.
    assert overall.queries == 2
    assert overall.recall == 1.0
    assert overall.recall_wide == 1.0
    assert overall.mrr == pytest.approx((1 + 1 / 3) / 2)
    assert overall.ndcg == pytest.approx((1 + 1 / 2) / 2)  # 1/log2(4) = 1/2 for rank 3
    assert overall.coverage == 1.0
    assert overall.gini == 0.0  # every investor is in both lists
    # AUC pools every positive against every sampled negative: A (3) beats any negative, C (1)
    # loses to any, ties count a half.
    popularity = {"I-A": 3, "I-B": 2, "I-C": 1}
    negatives = [popularity[n] for q in tiny.queries() for n in auc_negatives(tiny.fold())[q.event_id]]
    pairs = [(p, n) for p in (3, 1) for n in negatives]
    assert overall.auc == pytest.approx(sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / 4)
    # Segments: the AI query is "warm", the medical one "cold".
    assert rows["popularity [warm]"].mrr == 1.0
    assert rows["popularity [cold]"].mrr == pytest.approx(1 / 3)
    assert rows["popularity [cold]"].auc == 0.0  # C is outscored by either possible negative
    curve = result.recall_curve["popularity"]
    assert len(curve) == CURVE_K
    assert curve[:3] == [0.5, 0.5, 1.0]
    assert result.exposure["popularity"] == {"I-A": 2, "I-B": 2, "I-C": 2}
    assert "| popularity | 2 | 1.0000 | 1.0000 |" in result.table.to_markdown()


def test_no_method_offers_an_investor_the_startup_already_has() -> None:
    # The medical query's startup already has A and B (the truth leaves them out): popularity's
    # A, B, C becomes C alone, found first; the matcher offers neither either.
    known = frozenset({"I-A", "I-B"})
    fold = tiny.fold()
    fold = replace(
        fold, queries=[replace(q, known=known) if q.event_id == "q-med" else q for q in fold.queries]
    )
    result = evaluate_folds(
        "tiny", [fold], methods=["popularity", "matcher-default"], encoder=HashingEncoder()
    )
    rows = {row.method: row for row in result.table.rows}
    assert rows["popularity [cold]"].mrr == 1.0
    assert rows["popularity [warm]"].mrr == 1.0  # the other query is untouched
    assert result.exposure["popularity"] == {"I-A": 1, "I-B": 1, "I-C": 2}
    assert result.exposure["matcher-default"].get("I-A", 0) <= 1
    assert result.exposure["matcher-default"].get("I-B", 0) <= 1


def test_a_query_startup_is_live_only_while_it_asks(tmp_path: Path) -> None:
    fold = tiny.fold()
    world = MatcherWorld.build(fold, encoder=HashingEncoder(), directory=tmp_path)
    matcher = world.matcher()
    startups = matcher.catalog_.tables[EntityKind.startup]
    live = int(startups.alive.sum())
    with world.asking(matcher, fold.queries[0]) as row_id:
        assert row_id in startups
        assert int(startups.alive.sum()) == live + 1
        ranked = matcher.recommend(EntityKind.startup, row_id, EntityKind.investor, k=3)
        assert {m.external_id for m in ranked} == fold.candidates
    assert row_id not in startups
    assert int(startups.alive.sum()) == live
    assert matcher.catalog_.history.relation_count((EntityKind.startup, row_id)) == 0


def test_matcher_methods_answer_every_query() -> None:
    fold = tiny.fold()
    result = evaluate_folds(
        "tiny",
        [fold],
        methods=["segment-popularity", "matcher", "matcher-one-sided"],
        encoder=HashingEncoder(),
    )
    rows = {row.method: row for row in result.table.rows}
    for method in ("matcher", "matcher-one-sided"):
        assert rows[method].queries == 2
        assert rows[method].recall_wide == 1.0  # three candidates: all of them are in every top 50
        assert set(result.exposure[method]) <= fold.candidates
    assert rows["segment-popularity"].mrr == 1.0  # the only AI and the only medical investor first


def test_the_served_matcher_keeps_the_default_weights_where_no_ranker_can_be_trained() -> None:
    """Six deals are too few to train on: the service would serve the hand-set weights, and so
    does the evaluation's ``matcher``."""
    result = evaluate_folds(
        "tiny", [tiny.fold()], methods=["matcher", "matcher-default"], encoder=HashingEncoder()
    )
    rows = {row.method: row for row in result.table.rows}
    served, default = rows["matcher"], rows["matcher-default"]
    assert (served.recall, served.ndcg, served.mrr) == (default.recall, default.ndcg, default.mrr)
    assert result.exposure["matcher"] == result.exposure["matcher-default"]


def test_the_served_matcher_on_the_default_weights_is_not_asked_again(tmp_path: Path) -> None:
    """Where `matcher` serves the default weights it is `matcher-default`: a fold answers the
    queries once for both."""
    session = FoldSession(tiny.fold(), 0, Settings(), HashingEncoder(), tmp_path, show_progress=False)
    default = session.answer("matcher-default", deal_flow=False)
    served = session.answer("matcher", deal_flow=False)
    one_sided = session.answer("matcher-one-sided", deal_flow=False)
    assert served.answers is default.answers
    assert one_sided.answers is not default.answers


def test_unknown_methods_and_protocols_are_named() -> None:
    with pytest.raises(ValueError, match="methods: unknown"):
        evaluate_folds("tiny", [tiny.fold()], methods=["oracle"])
    with pytest.raises(ValueError, match="protocol: unknown 'nope'"):
        load_folds("nope")
    assert "cyzone-early" in PROTOCOLS
    assert {"matcher", "matcher+ranker", "lightfm", "random"} <= set(METHODS)


def test_a_missing_dataset_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_folds("cyzone-early", settings=Settings(shared_data_dir=f"{tmp_path}/absent"))


def test_spread_sample_keeps_both_ends_in_order() -> None:
    assert spread_sample(list(range(10)), 3) == [0, 4, 9]  # rounded steps of 4.5
    assert spread_sample(list(range(3)), 5) == [0, 1, 2]
    assert spread_sample(list(range(3)), None) == [0, 1, 2]
    with pytest.raises(ValueError, match="at least 1"):
        spread_sample([1], 0)


def test_ablation_scorer_drops_features_and_rescales_each_side() -> None:
    direction = direction_for(EntityKind.startup, EntityKind.investor)
    features = np.ones((1, len(FEATURE_NAMES)))
    forward, backward = WeightedScorer(without=GRAPH_FEATURES).contributions(features, direction)
    for side in (forward, backward):
        assert side.sum() == pytest.approx(1.0)
        for name in GRAPH_FEATURES:
            assert side[0, FEATURE_NAMES.index(name)] == 0.0
    with pytest.raises(ValueError, match="unknown features"):
        WeightedScorer(without=frozenset({"luck"}))
    np.testing.assert_array_equal(fuse(np.array([0.9]), np.array([0.1]), "asker"), [0.9])


def test_cli_names_a_bad_protocol_or_method() -> None:
    runner = CliRunner()
    unknown_method = runner.invoke(
        app, ["evaluate", "--protocol", "cyzone-early", "--methods", "popularity,oracle"]
    )
    assert unknown_method.exit_code == 2
    assert "--methods: unknown oracle" in unknown_method.output
    unknown_protocol = runner.invoke(app, ["train", "--protocol", "nope", "--out", "unused"])
    assert unknown_protocol.exit_code == 2
    assert "protocol: unknown 'nope'" in unknown_protocol.output


def test_the_wuhan_queries_are_reported_as_a_place_segment() -> None:
    fold = tiny.fold()
    ai_query, medical_query = fold.queries
    in_wuhan = replace(ai_query, startup={**ai_query.startup, "city": "wuhan"})
    result = evaluate_folds(
        "tiny", [replace(fold, queries=[in_wuhan, medical_query])], methods=["popularity"]
    )
    rows = {row.method: row for row in result.table.rows}
    assert rows["popularity [place=wuhan]"].queries == 1
    assert rows["popularity [place=wuhan]"].mrr == 1.0  # the AI query, A first
    assert rows["popularity [place=elsewhere]"].mrr == pytest.approx(1 / 3)
    # No query in Wuhan: no place rows (everything would be "elsewhere").
    plain = evaluate_folds("tiny", [fold], methods=["popularity"])
    assert not any("place=" in row.method for row in plain.table.rows)
