"""Diversity and exposure: so one list is not ten near-copies, and the most popular
counterparts are not in every list."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Hashable
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def mmr_order(scores: np.ndarray, vectors: np.ndarray, k: int, *, relevance_weight: float = 0.8) -> list[int]:
    """Maximal marginal relevance: greedily pick the best score minus similarity to picks so far.

    ``relevance_weight`` = 1 keeps the plain score order. Ties resolve to the lower index,
    which callers make the stable tie order.
    """
    count = len(scores)
    if count == 0 or k <= 0:
        return []
    if relevance_weight >= 1.0 or vectors.size == 0:
        return list(np.lexsort((np.arange(count), -scores))[:k])
    chosen: list[int] = []
    redundancy = np.zeros(count)
    available = np.ones(count, dtype=bool)
    for _ in range(min(k, count)):
        value = relevance_weight * scores - (1.0 - relevance_weight) * redundancy
        value[~available] = -np.inf
        best = int(np.argmax(value))  # argmax takes the first of equals: the stable order
        chosen.append(best)
        available[best] = False
        redundancy = np.maximum(redundancy, vectors @ vectors[best])
    return chosen


class ExposureTracker:
    """Counts how often each counterpart appeared in the recent lists of one direction.

    A counterpart already in more than ``cap`` of the last ``window`` lists is demoted to the
    end of the list (still shown when nothing else is eligible), so popularity cannot crowd
    every list.
    """

    def __init__(self, *, cap: float | None = 0.2, window: int = 500, warmup: int = 20) -> None:
        if cap is not None and not 0 < cap <= 1:
            raise ValueError("exposure_cap: must be in (0, 1] or None")
        self.cap = cap
        self.window = window
        self.warmup = warmup
        self._lists: deque[tuple[Hashable, ...]] = deque()
        self._counts: Counter[Hashable] = Counter()

    def over_cap(self, candidate: Hashable) -> bool:
        if self.cap is None or len(self._lists) < self.warmup:
            return False
        return self._counts[candidate] / len(self._lists) > self.cap

    def record(self, shown: tuple[Hashable, ...]) -> None:
        if self.cap is None:
            return
        self._lists.append(shown)
        self._counts.update(shown)
        if len(self._lists) > self.window:
            self._counts.subtract(self._lists.popleft())

    def demote(self, items: list[T], keys: list[Hashable]) -> list[T]:
        """``items`` (keyed by ``keys``, same order) with over-exposed ones moved behind the rest."""
        over = [self.over_cap(key) for key in keys]
        return [i for i, o in zip(items, over, strict=True) if not o] + [
            i for i, o in zip(items, over, strict=True) if o
        ]

    def forget(self, candidate: Hashable) -> None:
        self._counts.pop(candidate, None)
        self._lists = deque(tuple(c for c in shown if c != candidate) for shown in self._lists)
