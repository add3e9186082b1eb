"""Scoring: each side's fit from its own point of view, fused into one mutual score."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol

import numpy as np

from matcher.directions import Direction
from matcher.features import FEATURE_NAMES

Fusion = Literal["harmonic", "geometric", "min", "mean"]
_EPS = 1e-9


def fuse(forward: np.ndarray, backward: np.ndarray, method: Fusion = "harmonic") -> np.ndarray:
    """One mutual score from both sides; harmonic by default, so a one-sided fit scores low."""
    if method == "harmonic":
        fused = 2 * forward * backward / np.maximum(forward + backward, _EPS)
    elif method == "geometric":
        fused = np.sqrt(np.clip(forward, 0, None) * np.clip(backward, 0, None))
    elif method == "min":
        fused = np.minimum(forward, backward)
    elif method == "mean":
        fused = (forward + backward) / 2
    else:
        raise ValueError(f"fusion: unknown method '{method}'; use harmonic, geometric, min or mean")
    return np.asarray(fused, dtype=np.float64)


class Scorer(Protocol):
    """Turns a feature matrix into each side's score; the default and the learned ranker both are one."""

    def side_scores(self, features: np.ndarray, direction: Direction) -> tuple[np.ndarray, np.ndarray]: ...

    def contributions(self, features: np.ndarray, direction: Direction) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature parts of each side's score, same shape as ``features``."""
        ...


def weight_vector(weights: Mapping[str, float], names: tuple[str, ...] = FEATURE_NAMES) -> np.ndarray:
    unknown = set(weights) - set(names)
    if unknown:
        raise ValueError(f"weights: unknown features {sorted(unknown)}")
    return np.asarray([weights.get(name, 0.0) for name in names], dtype=np.float64)


class WeightedScorer:
    """The transparent default: each side is a weighted mean of features, weights per direction."""

    def side_scores(self, features: np.ndarray, direction: Direction) -> tuple[np.ndarray, np.ndarray]:
        forward, backward = self.contributions(features, direction)
        return forward.sum(axis=1), backward.sum(axis=1)

    def contributions(self, features: np.ndarray, direction: Direction) -> tuple[np.ndarray, np.ndarray]:
        return features * weight_vector(direction.forward), features * weight_vector(direction.backward)
