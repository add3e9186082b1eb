"""A learned ranker: gradient-boosted trees over the engine's own pair features.

Trained with scikit-learn's `HistGradientBoostingClassifier` (positives are realised
outcomes, negatives eligible candidates that were not chosen), then exported as plain JSON:
the trees' split features, thresholds, children and leaf values. Loading reads numbers only,
never pickled code, and checks the file against the sha256 its manifest records; the trees
are evaluated in numpy, all trees at once, one tree level per step.

The ranker is a :class:`matcher.scoring.Scorer`: both sides get the predicted probability
that the pair becomes a realised outcome, so any fusion of the two returns it unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Final, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from matcher.directions import Direction
from matcher.features import FEATURE_NAMES

MODEL_FILE: Final = "model.json"
MANIFEST_FILE: Final = "manifest.json"
FORMAT: Final = "citypartner-ranker/1"


class TreeArrays(BaseModel):
    """One regression tree as parallel node arrays (node 0 is the root)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feature: list[int]
    threshold: list[float]
    missing_left: list[bool]
    left: list[int]
    right: list[int]
    leaf: list[bool]
    value: list[float]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        n = len(self.feature)
        if n == 0 or any(
            len(column) != n
            for column in (self.threshold, self.missing_left, self.left, self.right, self.leaf, self.value)
        ):
            raise ValueError("tree: every node array must have the same, non-zero length")
        for at in range(n):
            if not self.leaf[at] and not (0 < self.left[at] < n and 0 < self.right[at] < n):
                raise ValueError(f"tree: node {at} points outside the tree")
        return self


class TrainingWindow(BaseModel):
    """Which history the ranker learned from: features from events before ``features_until``,
    outcomes (training queries) from ``queries_from`` to before ``validation_from``, validation
    queries from there to before ``until``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: str
    features_until: dt.date
    queries_from: dt.date
    validation_from: dt.date
    until: dt.date


class RankerModel(BaseModel):
    """Everything needed to score: feature names (column order), trees, and the reference
    point against which a feature's contribution is measured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Annotated[str, Field(pattern=f"^{FORMAT}$")] = FORMAT
    features: tuple[str, ...]
    baseline: float
    reference: tuple[float, ...]
    trees: tuple[TreeArrays, ...]

    @model_validator(mode="after")
    def _known_features(self) -> Self:
        unknown = set(self.features) - set(FEATURE_NAMES)
        if unknown:
            raise ValueError(f"features: the engine computes no {sorted(unknown)}")
        if len(self.reference) != len(self.features):
            raise ValueError("reference: one value per feature expected")
        if any(
            f >= len(self.features)
            for tree in self.trees
            for f, leaf in zip(tree.feature, tree.leaf, strict=True)
            if not leaf
        ):
            raise ValueError("trees: a split uses a feature index outside the feature list")
        return self


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Annotated[str, Field(pattern=f"^{FORMAT}$")] = FORMAT
    sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
    features: tuple[str, ...]
    window: TrainingWindow
    metrics: dict[str, float]
    trainer: str


class LearnedRanker:
    """A :class:`matcher.scoring.Scorer` that scores pairs with exported boosted trees."""

    def __init__(self, model: RankerModel, manifest: Manifest | None = None) -> None:
        self.model = model
        self.manifest = manifest
        self._columns = np.asarray([FEATURE_NAMES.index(name) for name in model.features], dtype=np.int64)
        self._flatten(model.trees)

    def _flatten(self, trees: Sequence[TreeArrays]) -> None:
        """All trees in one set of node arrays, children offset to their tree's slice."""
        offsets = np.cumsum([0] + [len(tree.feature) for tree in trees[:-1]]).astype(np.int64)
        self._roots = offsets
        self._feature = np.concatenate([np.asarray(t.feature, dtype=np.int64) for t in trees])
        self._threshold = np.concatenate([np.asarray(t.threshold, dtype=np.float64) for t in trees])
        self._missing_left = np.concatenate([np.asarray(t.missing_left, dtype=bool) for t in trees])
        self._leaf = np.concatenate([np.asarray(t.leaf, dtype=bool) for t in trees])
        self._value = np.concatenate([np.asarray(t.value, dtype=np.float64) for t in trees])
        self._left = np.concatenate(
            [np.asarray(t.left, dtype=np.int64) + o for t, o in zip(trees, offsets, strict=True)]
        )
        self._right = np.concatenate(
            [np.asarray(t.right, dtype=np.int64) + o for t, o in zip(trees, offsets, strict=True)]
        )
        self._left[self._leaf] = self._right[self._leaf] = np.flatnonzero(self._leaf)  # a leaf stays put

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """Log-odds for rows of ``x`` whose columns are the model's feature list."""
        rows = np.arange(len(x))[:, None]
        node = np.broadcast_to(self._roots, (len(x), len(self._roots))).copy()
        while not self._leaf[node].all():
            values = x[rows, self._feature[node]]
            go_left = np.where(np.isnan(values), self._missing_left[node], values <= self._threshold[node])
            node = np.where(go_left, self._left[node], self._right[node])
        return np.asarray(self.model.baseline + self._value[node].sum(axis=1), dtype=np.float64)

    def probability(self, features: np.ndarray) -> np.ndarray:
        """P(realised outcome) for an engine feature matrix (columns in FEATURE_NAMES order)."""
        if len(features) == 0:
            return np.zeros(0)
        return np.asarray(1.0 / (1.0 + np.exp(-self.decision_function(features[:, self._columns]))))

    def side_scores(self, features: np.ndarray, direction: Direction) -> tuple[np.ndarray, np.ndarray]:
        score = self.probability(features)
        return score, score.copy()

    def contributions(self, features: np.ndarray, direction: Direction) -> tuple[np.ndarray, np.ndarray]:
        """How much each feature raised the score above the same pair with that feature set to
        the training reference; positive parts only, rescaled to sum to the score."""
        parts = np.zeros(features.shape, dtype=np.float64)
        if len(features) == 0:
            return parts, parts.copy()
        score = self.probability(features)
        reference = np.asarray(self.model.reference)
        for at, column in enumerate(self._columns):
            moved = features.copy()
            moved[:, column] = reference[at]
            parts[:, column] = np.clip(score - self.probability(moved), 0.0, None)
        total = parts.sum(axis=1, keepdims=True)
        parts = np.divide(parts * score[:, None], total, out=np.zeros_like(parts), where=total > 0)
        return parts, parts.copy()


# --- training ------------------------------------------------------------------------


def fit_trees(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    feature_names: Sequence[str] = FEATURE_NAMES,
    max_iter: int = 200,
    learning_rate: float = 0.05,
    max_leaf_nodes: int = 15,
    min_samples_leaf: int = 40,
    random_state: int = 0,
) -> RankerModel:
    """Fit boosted trees on rows of ``features`` (columns ``feature_names``) and export them.

    Every feature is 1 = better fit, so the trees are constrained to be monotone increasing in
    each: a learned quirk can never rank a worse fit above a better one, all else equal.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    if features.shape != (len(labels), len(feature_names)):
        raise ValueError(f"features: shape {features.shape} does not match {len(labels)} labels × names")
    if len(set(np.asarray(labels).tolist())) != 2:
        raise ValueError("labels: both positives and negatives are needed")
    model = HistGradientBoostingClassifier(
        max_iter=max_iter,
        learning_rate=learning_rate,
        max_leaf_nodes=max_leaf_nodes,
        min_samples_leaf=min_samples_leaf,
        monotonic_cst=[1] * len(feature_names),
        early_stopping=False,
        random_state=random_state,
    ).fit(features, labels)
    exported = export_trees(model, feature_names, reference=np.median(features, axis=0))
    # Negatives are sampled, so the fitted prior says nothing about real odds; shifting it to
    # even odds keeps scores spread over [0, 1] like the default scorer's, which the engine's
    # diversity step weighs against similarity on that scale. The order is unchanged.
    positives = float(np.mean(labels))
    even = exported.baseline - float(np.log(positives / (1.0 - positives)))
    return exported.model_copy(update={"baseline": even})


def export_trees(model: Any, feature_names: Sequence[str], *, reference: np.ndarray) -> RankerModel:
    """A fitted binary `HistGradientBoostingClassifier` as a :class:`RankerModel`."""
    trees = []
    for (predictor,) in model._predictors:  # binary: one tree per boosting iteration
        nodes = predictor.nodes
        if nodes["is_categorical"].any():
            raise ValueError("categorical splits cannot be exported")
        trees.append(
            TreeArrays(
                feature=nodes["feature_idx"].astype(int).tolist(),
                threshold=nodes["num_threshold"].astype(float).tolist(),
                missing_left=nodes["missing_go_to_left"].astype(bool).tolist(),
                left=nodes["left"].astype(int).tolist(),
                right=nodes["right"].astype(int).tolist(),
                leaf=nodes["is_leaf"].astype(bool).tolist(),
                value=nodes["value"].astype(float).tolist(),
            )
        )
    return RankerModel(
        features=tuple(feature_names),
        baseline=float(np.asarray(model._baseline_prediction).ravel()[0]),
        reference=tuple(float(v) for v in reference),
        trees=tuple(trees),
    )


# --- saving and loading --------------------------------------------------------------


def save_ranker(
    model: RankerModel, directory: Path, *, window: TrainingWindow, metrics: Mapping[str, float]
) -> Manifest:
    """Write ``model.json`` and ``manifest.json`` (with the model file's sha256) into ``directory``."""
    from sklearn import __version__ as sklearn_version

    directory.mkdir(parents=True, exist_ok=True)
    body = model.model_dump_json().encode()
    manifest = Manifest(
        sha256=hashlib.sha256(body).hexdigest(),
        features=model.features,
        window=window,
        metrics=dict(metrics),
        trainer=f"scikit-learn {sklearn_version} HistGradientBoostingClassifier",
    )
    _write_atomically(directory / MODEL_FILE, body)
    _write_atomically(directory / MANIFEST_FILE, manifest.model_dump_json(indent=2).encode())
    return manifest


def load_ranker(directory: Path) -> LearnedRanker:
    """Read a saved ranker; raises ``ValueError`` when the files are missing, altered or malformed."""
    try:
        manifest = Manifest.model_validate_json((directory / MANIFEST_FILE).read_bytes())
        body = (directory / MODEL_FILE).read_bytes()
    except FileNotFoundError as error:
        raise ValueError(
            f"ranker_path: {directory} holds no saved ranker ({error.filename} missing)"
        ) from None
    if hashlib.sha256(body).hexdigest() != manifest.sha256:
        raise ValueError(f"ranker_path: {directory / MODEL_FILE} does not match the sha256 in its manifest")
    model = RankerModel.model_validate(json.loads(body))
    if model.features != manifest.features:
        raise ValueError("ranker_path: the manifest and the model list different features")
    return LearnedRanker(model, manifest)


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)
