"""`matcher train` serves a ranker only when it earns it, and learns from what serving shows:
each training round's LightGBM group is the matcher's served candidate pool for that asker."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner, Result

import embeddings.selection
import matcher.evaluation.harness
import matcher.evaluation.training
from api.cli import app
from matcher.evaluation.protocol import Fold
from matcher.evaluation.training import INVESTOR, STARTUP, TrainedRanker, inner_fold, train_ranker
from matcher.evaluation.world import MatcherWorld
from matcher.matcher import Matcher
from matcher.ranker import MANIFEST_FILE, MODEL_FILE, RankerModel, fit_ranker, load_ranker
from tests import fixtures_evaluation as tiny
from tests.doubles import HashingEncoder


def _busier_fold() -> Fold:
    """The tiny fold with a deal a month through 2015, A backing AI and B e-commerce."""
    return tiny.fold(
        extra_deals=[
            (f"T{n}", tiny.AI if n % 2 else tiny.SHOP, "angel", "A" if n % 2 else "B", f"2015-{n:02d}-15")
            for n in range(1, 13)
        ]
    )


def _train(
    monkeypatch: pytest.MonkeyPatch,
    gain: float,
    error: float,
    tmp_path: Path,
    recall: tuple[float, float] = (0.05, 0.01),
) -> Result:
    """`matcher train --protocol tiny` on the busier fold: the real training, its validation
    NDCG@10 gain and standard error then set to ``gain`` and ``error``, its Recall@10 gain and
    standard error to ``recall``."""

    def trained_with(fold: Fold, **kwargs: Any) -> TrainedRanker:
        trained = train_ranker(fold, **{**kwargs, "directory": tmp_path / "scratch"})
        metrics = trained.metrics | {
            "validation_ndcg10_gain": gain,
            "validation_ndcg10_gain_se": error,
            "validation_recall10_gain": recall[0],
            "validation_recall10_gain_se": recall[1],
        }
        return dataclasses.replace(trained, metrics=metrics)

    monkeypatch.setattr(matcher.evaluation.harness, "load_folds", lambda *_, **__: [_busier_fold()])
    monkeypatch.setattr(embeddings.selection, "encoder_for", lambda _: HashingEncoder())
    monkeypatch.setattr(matcher.evaluation.training, "train_ranker", trained_with)
    return CliRunner().invoke(app, ["train", "--protocol", "tiny", "--out", str(tmp_path / "ranker")])


@pytest.mark.parametrize(("gain", "error"), [(0.0, 0.0), (-0.05, 0.01), (0.015, 0.01)])
def test_train_saves_nothing_unless_the_ranker_clearly_beats_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, gain: float, error: float
) -> None:
    """A gain within two standard errors (0.015 ± 0.01 included) is luck: exit 2, say why, and
    leave no model or manifest behind for the service to pick up."""
    result = _train(monkeypatch, gain, error, tmp_path)
    assert result.exit_code == 2, result.output
    assert "not saved" in result.output
    assert "did not order clearly better than the default weights" in result.output
    assert not (tmp_path / "ranker" / MODEL_FILE).exists()
    assert not (tmp_path / "ranker" / MANIFEST_FILE).exists()


@pytest.mark.parametrize("recall", [(0.028, 0.02), (-0.01, 0.005)])
def test_train_saves_nothing_when_the_ranker_finds_no_more_of_the_truth(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, recall: tuple[float, float]
) -> None:
    """A clear NDCG@10 gain is not enough: a Recall@10 gain within two standard errors (创业邦's
    0.028 ± 0.02), or a loss, keeps the default weights, and the refusal names the metric."""
    result = _train(monkeypatch, 0.05, 0.01, tmp_path, recall=recall)
    assert result.exit_code == 2, result.output
    assert "recall10 did not" in result.output
    assert "ndcg10" not in result.output.split("two standard errors")[-1]
    assert not (tmp_path / "ranker" / MODEL_FILE).exists()


def test_train_saves_the_text_model_and_its_manifest_when_the_ranker_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = _train(monkeypatch, 0.05, 0.01, tmp_path)
    assert result.exit_code == 0, result.output
    assert "ranker saved to" in result.output
    assert (tmp_path / "ranker" / MODEL_FILE).read_text().startswith("tree")  # LightGBM's text format
    loaded = load_ranker(tmp_path / "ranker")  # checks the model against the manifest's sha256
    assert loaded.manifest is not None
    assert loaded.manifest.window.protocol == "tiny"
    assert loaded.manifest.metrics["validation_ndcg10_gain"] == 0.05


def _fold_with_a_backer_the_pool_rules_out() -> Fold:
    """The busier fold with B's thesis stating series A only: B's angel deals of 2015 are true
    investors its training rounds' pools leave out (the stage rule), as serving would."""
    fold = _busier_fold()
    investors = [
        {**record, "stages": ["a"]} if record["external_id"] == "I-B" else record
        for record in fold.records["investors"]
    ]
    return dataclasses.replace(fold, records={**fold.records, "investors": investors})


def _rows(features: np.ndarray) -> list[tuple[float, ...]]:
    return sorted(tuple(row) for row in features.tolist())


def test_a_training_rounds_group_is_the_served_candidate_pool(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each training group holds exactly the candidates `Matcher.candidate_pool` returns for the
    round's startup as of the round, labelled by the truth inside it: no true investor the pool
    lacks is added, and a round whose pool holds none of its investors is no group at all."""
    fits: list[tuple[np.ndarray, np.ndarray, list[int]]] = []

    def recording_fit(
        features: np.ndarray, labels: np.ndarray, groups: Sequence[int], **kwargs: Any
    ) -> RankerModel:
        fits.append((features.copy(), labels.copy(), list(groups)))
        return fit_ranker(features, labels, groups, **kwargs)

    served: list[tuple[MatcherWorld, Matcher]] = []
    real_matcher = MatcherWorld.matcher

    def recording_matcher(world: MatcherWorld, *args: Any, **kwargs: Any) -> Matcher:
        built = real_matcher(world, *args, **kwargs)
        served.append((world, built))
        return built

    monkeypatch.setattr(matcher.evaluation.training, "fit_ranker", recording_fit)
    monkeypatch.setattr(MatcherWorld, "matcher", recording_matcher)
    fold = _fold_with_a_backer_the_pool_rules_out()
    train_ranker(fold, encoder=HashingEncoder(), directory=tmp_path)

    [(world, default)] = served
    inner, _ = inner_fold(fold)
    features, labels, groups = fits[0]  # the first grid point learns from the training rounds alone
    expected_groups, expected_rows, expected_labels, outside = [], [], [], 0
    for query in [q for q in inner.queries if q.segment == "train"]:
        truth = {world.candidate_rows[c] for c in query.truth if c in world.candidate_rows}
        with world.asking(default, query) as row_id:
            pool = default.candidate_pool(STARTUP, row_id, INVESTOR)
            scored = default.score(STARTUP, row_id, INVESTOR, pool.tolist())
        outside += len(truth - set(pool.tolist()))
        if not truth & set(pool.tolist()):
            continue
        expected_groups.append(len(pool))
        expected_rows.append(_rows(scored.features))
        expected_labels.append(sum(int(i) in truth for i in scored.ids))
    assert outside, "the data must hold a true investor outside a round's pool, or injection goes unseen"
    assert groups
    assert groups == expected_groups
    start = 0
    for size, rows, positives in zip(groups, expected_rows, expected_labels, strict=True):
        assert _rows(features[start : start + size]) == rows
        assert int(labels[start : start + size].sum()) == positives
        start += size
