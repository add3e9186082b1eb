"""The learned ranker: exported trees score exactly as scikit-learn's, save and load safely,
serve behind the Scorer protocol, and train on history alone."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from matcher.directions import direction_for
from matcher.evaluation.protocol import Fold
from matcher.evaluation.training import inner_fold, train_ranker
from matcher.features import FEATURE_NAMES
from matcher.ranker import (
    MODEL_FILE,
    LearnedRanker,
    RankerModel,
    TrainingWindow,
    export_trees,
    fit_trees,
    load_ranker,
    save_ranker,
)
from models.enums import EntityKind
from tests import fixtures_evaluation as tiny
from tests.doubles import HashingEncoder

DIRECTION = direction_for(EntityKind.startup, EntityKind.investor)
WINDOW = TrainingWindow(
    protocol="synthetic",
    features_until=dt.date(2015, 1, 1),
    queries_from=dt.date(2015, 1, 1),
    validation_from=dt.date(2015, 7, 1),
    until=dt.date(2016, 1, 1),
)


def _data(rows: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.random((rows, len(FEATURE_NAMES)))
    graph, popularity = FEATURE_NAMES.index("graph_proximity"), FEATURE_NAMES.index("popularity")
    signal = 2 * features[:, graph] + features[:, popularity] + 0.3 * rng.standard_normal(rows)
    return features, (signal > 1.6).astype(np.int64)


def test_exported_trees_score_exactly_as_scikit_learn() -> None:
    features, labels = _data()
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(features, labels)
    exported = LearnedRanker(export_trees(model, FEATURE_NAMES, reference=np.zeros(len(FEATURE_NAMES))))
    probe = np.random.default_rng(1).random((200, len(FEATURE_NAMES)))
    np.testing.assert_allclose(exported.decision_function(probe), model.decision_function(probe), atol=1e-9)


def test_fitted_ranker_is_a_monotone_scorer_with_even_odds() -> None:
    features, labels = _data()
    ranker = LearnedRanker(fit_trees(features, labels, max_iter=20))
    forward, backward = ranker.side_scores(features, DIRECTION)
    np.testing.assert_array_equal(forward, backward)  # any fusion of equal sides returns them
    assert forward[labels == 1].mean() > 0.5 > forward[labels == 0].mean()
    graph = FEATURE_NAMES.index("graph_proximity")
    better = features.copy()
    better[:, graph] = np.minimum(1.0, better[:, graph] + 0.3)
    assert np.all(ranker.probability(better) >= ranker.probability(features) - 1e-12)
    parts, _ = ranker.contributions(features[:20], DIRECTION)
    assert np.all(parts >= 0)
    np.testing.assert_allclose(parts.sum(axis=1)[parts.sum(axis=1) > 0], forward[:20][parts.sum(axis=1) > 0])


def test_save_and_load_round_trip_with_a_checked_manifest(tmp_path: Path) -> None:
    features, labels = _data()
    model = fit_trees(features, labels, max_iter=20)
    manifest = save_ranker(model, tmp_path / "ranker", window=WINDOW, metrics={"validation_auc": 0.9})
    loaded = load_ranker(tmp_path / "ranker")
    np.testing.assert_allclose(loaded.probability(features), LearnedRanker(model).probability(features))
    assert loaded.manifest is not None
    assert loaded.manifest.window == WINDOW
    assert manifest.features == FEATURE_NAMES
    stored = json.loads((tmp_path / "ranker" / "manifest.json").read_text())
    assert stored["metrics"] == {"validation_auc": 0.9}


def test_an_altered_or_missing_model_is_refused(tmp_path: Path) -> None:
    features, labels = _data()
    save_ranker(fit_trees(features, labels, max_iter=20), tmp_path, window=WINDOW, metrics={})
    body = json.loads((tmp_path / MODEL_FILE).read_text())
    body["baseline"] += 1.0
    (tmp_path / MODEL_FILE).write_text(json.dumps(body))
    with pytest.raises(ValueError, match="does not match the sha256"):
        load_ranker(tmp_path)
    with pytest.raises(ValueError, match="holds no saved ranker"):
        load_ranker(tmp_path / "elsewhere")


def test_a_model_naming_an_unknown_feature_is_refused() -> None:
    features, labels = _data()
    body = fit_trees(features, labels, max_iter=20).model_dump()
    body["features"] = ("telepathy", *body["features"][1:])
    with pytest.raises(ValueError, match="telepathy"):
        RankerModel.model_validate(body)


def _busier_fold() -> Fold:
    """The tiny fold with a deal a month through 2015, A backing AI and B e-commerce."""
    return tiny.fold(
        extra_deals=[
            (f"T{n}", tiny.AI if n % 2 else tiny.SHOP, "angel", "A" if n % 2 else "B", f"2015-{n:02d}-15")
            for n in range(1, 13)
        ]
    )


def test_inner_fold_learns_from_before_the_cut_and_asks_after_it() -> None:
    fold = _busier_fold()
    inner, window = inner_fold(fold, features_share=0.5, validation_share=0.8)
    assert window.features_until <= window.validation_from <= window.until == tiny.HISTORY_END
    days = [dt.date.fromisoformat(r["occurred_at"][:10]) for r in inner.records["interactions"]]
    assert days
    assert all(day < window.features_until for day in days)
    assert inner.queries
    assert all(window.features_until <= q.occurred_on < tiny.HISTORY_END for q in inner.queries)
    assert {q.segment for q in inner.queries} <= {"train", "validation"}
    assert all(q.truth <= inner.candidates for q in inner.queries)


def test_train_ranker_on_history_only(tmp_path: Path) -> None:
    fold = _busier_fold()
    trained = train_ranker(
        fold, encoder=HashingEncoder(), directory=tmp_path, hard_negatives=2, random_negatives=2
    )
    assert trained.window.until == tiny.HISTORY_END
    assert trained.metrics["train_examples"] > 0
    assert trained.model.features == FEATURE_NAMES
