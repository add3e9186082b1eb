"""Diversity and exposure: so one list is not ten near-copies, and the most popular
counterparts are not in every list."""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def mmr_order(scores: np.ndarray, vectors: np.ndarray, k: int, *, relevance_weight: float = 0.8) -> list[int]:
    """Maximal marginal relevance: greedily pick the best score minus similarity to picks so far.

    ``relevance_weight`` = 1 keeps the plain score order. Ties resolve to the lower index,
    which callers make the stable tie order.
    """
    if k <= 0:
        return []
    return list(itertools.islice(mmr_picks(scores, vectors, relevance_weight=relevance_weight), k))


def mmr_picks(scores: np.ndarray, vectors: np.ndarray, *, relevance_weight: float = 0.8) -> Iterator[int]:
    """:func:`mmr_order` of every index, each pick computed only when asked for: greedy picks
    never change once made, so a caller needing the first few pays for those alone."""
    count = len(scores)
    if count == 0:
        return
    if relevance_weight >= 1.0 or vectors.size == 0:
        yield from np.lexsort((np.arange(count), -scores)).tolist()
        return
    relevance = relevance_weight * scores
    penalty = 1.0 - relevance_weight
    # A pick's redundancy becomes infinite: its value is then -inf, which takes it out of the
    # running in the same product that scores the others.
    redundancy = np.zeros(count)
    for _ in range(count):
        best = int(np.argmax(relevance - penalty * redundancy))  # the first of equals: the stable order
        yield best
        similarity = vectors @ vectors[best]
        np.maximum(redundancy, similarity, out=redundancy)
        redundancy[best] = np.inf


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

    def held_back(self) -> list[Hashable]:
        """The counterparts over the cap now."""
        if self.cap is None or len(self._lists) < self.warmup:
            return []
        shown = len(self._lists)
        return [candidate for candidate, count in self._counts.items() if count / shown > self.cap]

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

    def first(self, items: Iterable[T], key: Callable[[T], Hashable], k: int) -> list[T]:
        """``demote(items, keys)[:k]``, reading ``items`` only until ``k`` are not over the cap."""
        shown: list[T] = []
        held: list[T] = []
        for item in items:
            (held if self.over_cap(key(item)) else shown).append(item)
            if len(shown) == k:
                return shown
        return (shown + held)[:k]

    def forget(self, candidate: Hashable) -> None:
        self._counts.pop(candidate, None)
        self._lists = deque(tuple(c for c in shown if c != candidate) for shown in self._lists)
