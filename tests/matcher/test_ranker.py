"""The learned ranker: LambdaRank orders by what matters, saves and loads in LightGBM's text
format behind a checked manifest, serves behind the Scorer protocol, and trains on history alone."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import matcher.ranker
from matcher.directions import direction_for
from matcher.evaluation.protocol import Fold
from matcher.evaluation.training import RANKER_FEATURES, inner_fold, train_ranker
from matcher.features import FEATURE_NAMES
from matcher.ranker import (
    COMPILED_FILE,
    COMPILED_KEY_FILE,
    MODEL_FILE,
    LearnedRanker,
    RankerModel,
    RankerParams,
    TrainingWindow,
    average_models,
    fit_ranker,
    load_ranker,
    save_ranker,
)
from matcher.scoring import WeightedScorer
from models.enums import EntityKind
from models.settings import Settings
from tests import fixtures_evaluation as tiny
from tests.conftest import TEST_SECRET
from tests.doubles import HashingEncoder

DIRECTION = direction_for(EntityKind.startup, EntityKind.investor)
WINDOW = TrainingWindow(
    protocol="synthetic",
    features_until=dt.date(2015, 1, 1),
    queries_from=dt.date(2015, 1, 1),
    validation_from=dt.date(2015, 7, 1),
    until=dt.date(2016, 1, 1),
)


def _data(queries: int = 60, per_query: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Queries whose relevant candidates are those with high graph proximity and popularity."""
    rng = np.random.default_rng(seed)
    rows = queries * per_query
    features = rng.random((rows, len(FEATURE_NAMES)))
    graph, popularity = FEATURE_NAMES.index("graph_proximity"), FEATURE_NAMES.index("popularity")
    signal = 2 * features[:, graph] + features[:, popularity] + 0.3 * rng.standard_normal(rows)
    return features, (signal > 2.0).astype(np.int64), [per_query] * queries


SMALL = RankerParams(rounds=30, min_data_in_leaf=10)


def test_lambdarank_orders_by_the_signal_and_explains_with_positive_parts() -> None:
    features, labels, groups = _data()
    ranker = LearnedRanker(fit_ranker(features, labels, groups, params=SMALL))
    probe, probe_labels, _ = _data(seed=1)
    forward, backward = ranker.side_scores(probe, DIRECTION)
    np.testing.assert_array_equal(forward, backward)  # any fusion of equal sides returns them
    assert np.all((forward > 0) & (forward < 1))
    assert forward[probe_labels == 1].mean() > forward[probe_labels == 0].mean() + 0.05
    graph = FEATURE_NAMES.index("graph_proximity")
    better = probe.copy()
    better[:, graph] = np.minimum(1.0, better[:, graph] + 0.3)
    assert np.all(ranker.relevance(better) >= ranker.relevance(probe) - 1e-12)  # monotone
    parts, _ = ranker.contributions(probe[:20], DIRECTION)
    assert np.all(parts >= 0)
    summed = parts.sum(axis=1)
    np.testing.assert_allclose(summed[summed > 0], forward[:20][summed > 0])
    assert parts[:, graph].sum() > 0


def test_other_directions_keep_their_weights() -> None:
    """It learned founders' choices of investors: an investor's deal flow, a mentor's or a
    space's list is scored with that direction's weights, as before any training."""
    features, labels, groups = _data()
    ranker = LearnedRanker(fit_ranker(features, labels, groups, params=SMALL))
    probe, _, _ = _data(seed=2)
    for asker, candidate in (
        (EntityKind.investor, EntityKind.startup),
        (EntityKind.startup, EntityKind.mentor),
    ):
        direction = direction_for(asker, candidate)
        for got, expected in zip(
            (*ranker.side_scores(probe, direction), *ranker.contributions(probe, direction)),
            (
                *WeightedScorer().side_scores(probe, direction),
                *WeightedScorer().contributions(probe, direction),
            ),
            strict=True,
        ):
            np.testing.assert_array_equal(got, expected)
    assert not np.allclose(
        ranker.side_scores(probe, DIRECTION)[0], WeightedScorer().side_scores(probe, DIRECTION)[0]
    )


def test_groups_must_cover_the_rows() -> None:
    features, labels, groups = _data()
    with pytest.raises(ValueError, match="groups"):
        fit_ranker(features, labels, groups[:-1], params=SMALL)


def test_save_and_load_round_trip_with_a_checked_manifest(tmp_path: Path) -> None:
    features, labels, groups = _data()
    model = fit_ranker(features, labels, groups, params=SMALL)
    manifest = save_ranker(model, tmp_path / "ranker", window=WINDOW, metrics={"validation_ndcg10": 0.4})
    assert (tmp_path / "ranker" / MODEL_FILE).read_text().startswith("tree")  # LightGBM's text format
    loaded = load_ranker(tmp_path / "ranker")
    assert loaded.is_compiled
    np.testing.assert_allclose(
        loaded.raw_scores(features), LearnedRanker(model).raw_scores(features), atol=1e-9
    )
    assert loaded.manifest is not None
    assert loaded.manifest.window == WINDOW
    assert manifest.features == FEATURE_NAMES
    assert "lambdarank" in manifest.trainer
    stored = json.loads((tmp_path / "ranker" / "manifest.json").read_text())
    assert stored["metrics"] == {"validation_ndcg10": 0.4}


def test_an_altered_or_missing_model_is_refused(tmp_path: Path) -> None:
    features, labels, groups = _data()
    save_ranker(fit_ranker(features, labels, groups, params=SMALL), tmp_path, window=WINDOW, metrics={})
    text = (tmp_path / MODEL_FILE).read_text()
    (tmp_path / MODEL_FILE).write_text(text.replace("leaf_value=", "leaf_value=1", 1))
    with pytest.raises(ValueError, match="does not match the sha256"):
        load_ranker(tmp_path)
    with pytest.raises(ValueError, match="holds no saved ranker"):
        load_ranker(tmp_path / "elsewhere")


def test_a_model_naming_an_unknown_feature_is_refused() -> None:
    features, labels, groups = _data()
    model = fit_ranker(features, labels, groups, params=SMALL)
    with pytest.raises(ValueError, match="telepathy"):
        RankerModel(features=("telepathy", *model.features[1:]), text=model.text)


def test_an_averaged_model_scores_and_explains_as_the_mean_of_its_members(tmp_path: Path) -> None:
    features, labels, groups = _data()
    members = [
        fit_ranker(features, labels, groups, params=RankerParams(rounds=rounds, num_leaves=leaves, seed=seed))
        for rounds, leaves, seed in ((20, 7, 0), (40, 15, 1), (30, 7, 2))
    ]
    save_ranker(average_models(members), tmp_path, window=WINDOW, metrics={})
    averaged, rankers = load_ranker(tmp_path), [LearnedRanker(m) for m in members]
    probe, _, _ = _data(seed=1)
    expected = np.mean([r.raw_scores(probe) for r in rankers], axis=0)
    np.testing.assert_allclose(averaged.raw_scores(probe), expected, atol=1e-12)
    assert not np.allclose(expected, rankers[0].raw_scores(probe))  # the members differ
    parts = [r.contributions(probe[:5], DIRECTION)[0] for r in (averaged, *rankers)]
    raw_parts = [_path_parts(r, probe[:5]) for r in (averaged, *rankers)]  # before clipping, rescaling
    np.testing.assert_allclose(raw_parts[0], np.mean(raw_parts[1:], axis=0), atol=1e-12)
    np.testing.assert_allclose(parts[0].sum(axis=1), averaged.relevance(probe[:5]), atol=1e-9)


def _path_parts(ranker: LearnedRanker, rows: np.ndarray) -> np.ndarray:
    leaves = np.asarray(ranker._booster.predict(rows, pred_leaf=True), dtype=np.int64)
    return ranker._paths.explain(leaves)[0]


def test_only_models_of_the_same_features_are_averaged() -> None:
    features, labels, groups = _data()
    model = fit_ranker(features, labels, groups, params=SMALL)
    other = fit_ranker(features[:, :-1], labels, groups, feature_names=FEATURE_NAMES[:-1], params=SMALL)
    with pytest.raises(ValueError, match="same features"):
        average_models([model, other])
    with pytest.raises(ValueError, match="at least one"):
        average_models([])


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
    trained = train_ranker(fold, encoder=HashingEncoder(), directory=tmp_path)
    assert trained.window.until == tiny.HISTORY_END
    assert trained.metrics["train_examples"] > 0
    assert trained.model.features == RANKER_FEATURES
    assert set(trained.metrics) >= {"validation_ndcg10_default", "validation_ndcg10_ranker"}


def test_the_service_falls_back_to_the_default_weights_until_a_ranker_is_trained(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, environment="test", secret_key=TEST_SECRET)
    assert settings.serving_ranker_dir is None  # a cold start: the hand-set weights
    features, labels, groups = _data()
    save_ranker(
        fit_ranker(features, labels, groups, params=SMALL),
        settings.trained_ranker_dir,
        window=WINDOW,
        metrics={},
    )
    assert settings.serving_ranker_dir == settings.trained_ranker_dir
    elsewhere = Settings(
        data_dir=tmp_path, environment="test", secret_key=TEST_SECRET, ranker_path=tmp_path / "x"
    )
    assert elsewhere.serving_ranker_dir == tmp_path / "x"


def test_path_parts_and_the_expected_value_sum_to_lightgbms_raw_score() -> None:
    """The reasons' parts: along each row's path, each split's feature gets the child's expected
    value minus the parent's; with the trees' expected value (TreeSHAP's bias) they are the score."""
    features, labels, groups = _data()
    ranker = LearnedRanker(
        fit_ranker(features, labels, groups, params=RankerParams(rounds=40, num_leaves=15))
    )
    probe, _, _ = _data(seed=3)
    walked = np.asarray(ranker._booster.predict(probe, num_threads=1))
    leaves = np.asarray(ranker._booster.predict(probe, pred_leaf=True), dtype=np.int64)
    parts, raw = ranker._paths.explain(leaves)
    np.testing.assert_allclose(raw, walked, atol=1e-12)
    np.testing.assert_allclose(parts.sum(axis=1) + ranker._paths.expected_value, walked, atol=1e-12)
    shap = np.asarray(ranker._booster.predict(probe, pred_contrib=True))
    np.testing.assert_allclose(shap[:, -1], ranker._paths.expected_value, atol=1e-12)
    # Features no tree splits on get no part; the signal's features get most of it.
    split_on = {
        node["split_feature"]
        for tree in ranker._booster.dump_model()["tree_info"]
        for node in _internal_nodes(tree["tree_structure"])
    }
    unused = sorted(set(range(len(FEATURE_NAMES))) - split_on)
    assert unused
    assert not np.any(parts[:, unused])
    signal = [FEATURE_NAMES.index("graph_proximity"), FEATURE_NAMES.index("popularity")]
    assert np.abs(parts[:, signal]).sum() > 0.5 * np.abs(parts).sum()


def test_the_compiled_trees_score_as_lightgbm_does_at_every_threshold(tmp_path: Path) -> None:
    features, labels, groups = _data()
    model = fit_ranker(
        features, labels, groups, params=RankerParams(rounds=40, num_leaves=15, min_data_in_leaf=10)
    )
    save_ranker(model, tmp_path, window=WINDOW, metrics={})
    compiled, walked = load_ranker(tmp_path), LearnedRanker(model)
    assert compiled.is_compiled
    assert not walked.is_compiled
    thresholds = [
        (int(node["split_feature"]), float(node["threshold"]))
        for tree in walked._booster.dump_model()["tree_info"]
        for node in _internal_nodes(tree["tree_structure"])
    ]
    probe, _, _ = _data(seed=4)
    at_thresholds = probe[: len(thresholds)].copy()
    for row, (feature, threshold) in enumerate(thresholds):  # the edge between two branches
        at_thresholds[row % len(at_thresholds), feature] = threshold
    for rows in (probe, at_thresholds, np.nextafter(at_thresholds, 2.0)):
        np.testing.assert_allclose(compiled.raw_scores(rows), walked.raw_scores(rows), rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        compiled.contributions(probe, DIRECTION)[0], walked.contributions(probe, DIRECTION)[0], atol=1e-9
    )


def _internal_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    if "leaf_value" in node:
        return []
    return [node, *_internal_nodes(node["left_child"]), *_internal_nodes(node["right_child"])]


def test_the_compiled_cache_is_used_only_when_it_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    features, labels, groups = _data()
    save_ranker(fit_ranker(features, labels, groups, params=SMALL), tmp_path / "a", window=WINDOW, metrics={})
    other = fit_ranker(features, labels, groups, params=RankerParams(rounds=10, min_data_in_leaf=10, seed=1))
    save_ranker(other, tmp_path / "b", window=WINDOW, metrics={})
    compiles: list[bool] = []  # per compiled load, whether the object was compiled (not read)

    def recording(model_file: Path, compiled_file: Path) -> Any:
        compiles.append(not compiled_file.exists())
        return compile_or_load(model_file, compiled_file)

    compile_or_load = matcher.ranker._lleaves_model
    monkeypatch.setattr(matcher.ranker, "_lleaves_model", recording)
    folder = tmp_path / "a"
    key = json.loads((folder / COMPILED_KEY_FILE).read_text())
    assert key["model_sha256"] == json.loads((folder / "manifest.json").read_text())["sha256"]
    expected = LearnedRanker(load_ranker(folder).model).raw_scores(features)

    def load_and_check() -> None:
        loaded = load_ranker(folder)
        assert loaded.is_compiled
        np.testing.assert_allclose(loaded.raw_scores(features), expected, atol=1e-9)
        assert (
            json.loads((folder / COMPILED_KEY_FILE).read_text())["object_sha256"]
            == hashlib.sha256((folder / COMPILED_FILE).read_bytes()).hexdigest()
        )

    compiles.clear()
    load_and_check()
    assert compiles == [False]  # saving compiled it: loading reads it
    body = bytearray((folder / COMPILED_FILE).read_bytes())
    body[len(body) // 2] ^= 0xFF
    (folder / COMPILED_FILE).write_bytes(bytes(body))  # never handed to lleaves: its sha256 differs
    compiles.clear()
    load_and_check()
    assert compiles == [True]
    (folder / COMPILED_KEY_FILE).write_text(json.dumps({**key, "cpu": "another machine"}))
    compiles.clear()
    load_and_check()
    assert compiles == [True]
    # Another model's object under a key naming this model: read, scores differ, compiled again.
    (folder / COMPILED_FILE).write_bytes((tmp_path / "b" / COMPILED_FILE).read_bytes())
    forged = {
        **json.loads((tmp_path / "b" / COMPILED_KEY_FILE).read_text()),
        "model_sha256": key["model_sha256"],
    }
    (folder / COMPILED_KEY_FILE).write_text(json.dumps(forged))
    compiles.clear()
    load_and_check()
    assert compiles == [False, True]


def test_without_lleaves_lightgbm_walks_the_trees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    features, labels, groups = _data()
    model = fit_ranker(features, labels, groups, params=SMALL)
    monkeypatch.setitem(sys.modules, "llvmlite", None)  # importing it raises ImportError
    save_ranker(model, tmp_path, window=WINDOW, metrics={})
    loaded = load_ranker(tmp_path)
    assert not loaded.is_compiled
    assert not (tmp_path / COMPILED_FILE).exists()
    np.testing.assert_array_equal(loaded.raw_scores(features), LearnedRanker(model).raw_scores(features))
