"""Scoring: each side's fit from its own point of view, fused into one mutual score."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol

import numpy as np

from matcher.directions import Direction
from matcher.features import FEATURE_NAMES

# "asker" is the one-sided ablation: the asking side's score alone, the candidate's view ignored.
Fusion = Literal["harmonic", "geometric", "min", "mean", "asker"]
_EPS = 1e-9


def fuse(asker: np.ndarray, candidate: np.ndarray, method: Fusion = "harmonic") -> np.ndarray:
    """One mutual score from both sides; harmonic by default, so a one-sided fit scores low."""
    if method == "harmonic":
        fused = 2 * asker * candidate / np.maximum(asker + candidate, _EPS)
    elif method == "geometric":
        fused = np.sqrt(np.clip(asker, 0, None) * np.clip(candidate, 0, None))
    elif method == "min":
        fused = np.minimum(asker, candidate)
    elif method == "mean":
        fused = (asker + candidate) / 2
    elif method == "asker":
        fused = asker
    else:
        raise ValueError(f"fusion: unknown method '{method}'; use harmonic, geometric, min, mean or asker")
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


def _without(weights: Mapping[str, float], dropped: frozenset[str], side: str) -> np.ndarray:
    """The side's weights with ``dropped`` features removed and the rest rescaled to sum to 1."""
    vector = weight_vector(weights)
    vector[[FEATURE_NAMES.index(name) for name in dropped]] = 0.0
    total = vector.sum()
    if total <= 0:
        raise ValueError(f"without: dropping {sorted(dropped)} leaves the {side} side with no weight")
    return np.asarray(vector / total, dtype=np.float64)


class WeightedScorer:
    """The transparent default: each side is a weighted mean of features, weights per direction.

    Parameters
    ----------
    weights : mapping of direction name to (asker, candidate) weights, optional
        Weights replacing those of the direction scored (by default each direction's own:
        :data:`matcher.directions.DIRECTIONS`, or a :class:`Matcher`'s, which carry its
        ``MatcherConfig.weights``), each side a mapping of feature to weight summing to 1.
    without : frozenset of str
        Features to ignore (an ablation): their weight is removed and each side's remaining
        weights are rescaled, so scores stay weighted means.
    """

    def __init__(
        self,
        *,
        weights: Mapping[str, tuple[Mapping[str, float], Mapping[str, float]]] | None = None,
        without: frozenset[str] = frozenset(),
    ) -> None:
        unknown = set(without) - set(FEATURE_NAMES)
        if unknown:
            raise ValueError(f"without: unknown features {sorted(unknown)}")
        self.weights = dict(weights or {})
        self.without = frozenset(without)
        # direction name -> (the direction, its two weight vectors): a direction rebuilt with other
        # weights (another configuration) is a new object, so its vectors are worked out anew
        self._weights: dict[str, tuple[Direction, np.ndarray, np.ndarray]] = {}

    def side_scores(self, features: np.ndarray, direction: Direction) -> tuple[np.ndarray, np.ndarray]:
        asker, candidate = self.contributions(features, direction)
        return asker.sum(axis=1), candidate.sum(axis=1)

    def contributions(self, features: np.ndarray, direction: Direction) -> tuple[np.ndarray, np.ndarray]:
        asker, candidate = self._side_weights(direction)
        return features * asker, features * candidate

    def _side_weights(self, direction: Direction) -> tuple[np.ndarray, np.ndarray]:
        cached = self._weights.get(direction.name)
        if cached is None or cached[0] is not direction:
            asker, candidate = self.weights.get(
                direction.name, (direction.asker_weights, direction.candidate_weights)
            )
            cached = (
                direction,
                _without(asker, self.without, "asking"),
                _without(candidate, self.without, "candidate's"),
            )
            self._weights[direction.name] = cached
        return cached[1], cached[2]
