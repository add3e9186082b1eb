"""An allocation problem as arrays: who may go where, how much each side wants it, and capacities.

Applicants and counterparts are positions ``0..n-1`` and ``0..m-1``. Every acceptable pair is
one entry of parallel arrays, grouped by applicant and ordered by the applicant's preference,
so an applicant's list is a slice ``offsets[a]:offsets[a + 1]`` (compressed sparse rows). This
keeps 200,000 applicants × 20 choices in a few arrays instead of millions of Python objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Problem:
    """Acceptable pairs, both sides' preferences over them, and capacities.

    One entry per acceptable pair in the arrays ``applicant`` … ``score``, grouped by applicant,
    best choice first (:meth:`build` sorts them so).

    Parameters
    ----------
    n_applicants : int
        Applicants, numbered 0 … n_applicants - 1.
    capacities : ndarray of int
        Places each counterpart offers (counterparts numbered by position).
    applicant : ndarray of int
        Each pair's applicant.
    counterpart : ndarray of int
        Each pair's counterpart.
    applicant_rank : ndarray
        The pair's place in the applicant's list (0 = first; equal values are ties).
    counterpart_score : ndarray of float
        How much the counterpart wants the applicant (higher first; equal values are ties,
        broken in favour of the applicant listed earlier).
    score : ndarray of float
        The pair's mutual score, which the optimal solver maximises in total.
    pinned : tuple of (applicant, counterpart)
        Pairs an operator fixed, whether or not they are acceptable pairs.
    """

    n_applicants: int
    capacities: np.ndarray
    applicant: np.ndarray
    counterpart: np.ndarray
    applicant_rank: np.ndarray
    counterpart_score: np.ndarray
    score: np.ndarray
    pinned: tuple[tuple[int, int], ...] = ()
    offsets: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n_pairs = len(self.applicant)
        for name in ("counterpart", "applicant_rank", "counterpart_score", "score"):
            if len(getattr(self, name)) != n_pairs:
                raise ValueError(f"{name}: {len(getattr(self, name))} values for {n_pairs} pairs")
        if np.any(self.capacities < 0):
            raise ValueError("capacities: must not be negative")
        if n_pairs and (self.applicant.min() < 0 or self.applicant.max() >= self.n_applicants):
            raise ValueError("applicant: position outside 0..n_applicants-1")
        if n_pairs and (self.counterpart.min() < 0 or self.counterpart.max() >= self.n_counterparts):
            raise ValueError("counterpart: position outside 0..len(capacities)-1")
        keys = self.applicant.astype(np.int64) * max(self.n_counterparts, 1) + self.counterpart
        if len(np.unique(keys)) != n_pairs:
            raise ValueError("pairs: the same (applicant, counterpart) pair is listed twice")
        if np.any(np.diff(self.applicant) < 0) or np.any(
            (np.diff(self.applicant) == 0) & (np.diff(self.applicant_rank) < 0)
        ):
            raise ValueError("pairs: must be grouped by applicant, best choice first (use Problem.build)")
        self._check_pins()
        counts = np.bincount(self.applicant, minlength=self.n_applicants)
        object.__setattr__(self, "offsets", np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))

    def _check_pins(self) -> None:
        applicants = [a for a, _ in self.pinned]
        if len(set(applicants)) != len(applicants):
            raise ValueError("pinned: an applicant is pinned twice")
        for a, c in self.pinned:
            if not (0 <= a < self.n_applicants and 0 <= c < self.n_counterparts):
                raise ValueError(f"pinned: ({a}, {c}) is outside the problem")
        pins = np.bincount([c for _, c in self.pinned], minlength=self.n_counterparts)
        over = np.flatnonzero(pins > self.capacities)
        if len(over):
            raise ValueError(f"pinned: counterpart {int(over[0])} has more pins than places")

    @classmethod
    def build(
        cls,
        *,
        n_applicants: int,
        capacities: Sequence[int] | np.ndarray,
        applicant: Sequence[int] | np.ndarray,
        counterpart: Sequence[int] | np.ndarray,
        applicant_rank: Sequence[float] | np.ndarray,
        counterpart_score: Sequence[float] | np.ndarray,
        score: Sequence[float] | np.ndarray | None = None,
        pinned: Sequence[tuple[int, int]] = (),
        forbidden: Sequence[tuple[int, int]] = (),
    ) -> Problem:
        """Pairs in any order; forbidden pairs dropped; ``score`` defaults to 1 for every pair."""
        applicants = np.asarray(applicant, dtype=np.int64)
        counterparts = np.asarray(counterpart, dtype=np.int64)
        ranks = np.asarray(applicant_rank, dtype=np.int64)
        wants = np.asarray(counterpart_score, dtype=np.float64)
        scores = np.ones(len(applicants)) if score is None else np.asarray(score, dtype=np.float64)
        keep = np.ones(len(applicants), dtype=bool)
        if forbidden:
            banned = {(int(a), int(c)) for a, c in forbidden}
            keep = np.asarray(
                [(int(a), int(c)) not in banned for a, c in zip(applicants, counterparts, strict=True)]
            )
        order = np.lexsort((counterparts[keep], ranks[keep], applicants[keep]))
        return cls(
            n_applicants=n_applicants,
            capacities=np.asarray(capacities, dtype=np.int64),
            applicant=applicants[keep][order],
            counterpart=counterparts[keep][order],
            applicant_rank=ranks[keep][order],
            counterpart_score=wants[keep][order],
            score=scores[keep][order],
            pinned=tuple((int(a), int(c)) for a, c in pinned),
        )

    @property
    def n_counterparts(self) -> int:
        return len(self.capacities)

    @property
    def n_pairs(self) -> int:
        return len(self.applicant)

    @cached_property
    def pinned_applicants(self) -> np.ndarray:
        mask = np.zeros(self.n_applicants, dtype=bool)
        mask[[a for a, _ in self.pinned]] = True
        return mask

    @cached_property
    def free_places(self) -> np.ndarray:
        """Places left for the solver once the pinned pairs have theirs."""
        pins = np.bincount([c for _, c in self.pinned], minlength=self.n_counterparts)
        return self.capacities - pins

    @cached_property
    def open_pairs(self) -> np.ndarray:
        """Indices of the pairs a solver may choose: those of applicants not pinned."""
        return np.flatnonzero(~self.pinned_applicants[self.applicant])

    @cached_property
    def priority(self) -> np.ndarray:
        """Each pair's place in one strict order of all pairs by the counterpart's wish
        (higher score first, ties to the earlier applicant): comparable within a counterpart."""
        order = np.lexsort((self.applicant, -self.counterpart_score))
        priority = np.empty(self.n_pairs, dtype=np.int64)
        priority[order] = np.arange(self.n_pairs)
        return priority

    def with_cap(self, cap: int | None) -> Problem:
        """The same problem with no counterpart given more than ``cap`` places (pins still fit)."""
        if cap is None:
            return self
        if cap < 0:
            raise ValueError("assignment_cap: must not be negative")
        pins = self.capacities - self.free_places
        capped = np.maximum(np.minimum(self.capacities, cap), pins)
        return Problem(
            n_applicants=self.n_applicants,
            capacities=capped,
            applicant=self.applicant,
            counterpart=self.counterpart,
            applicant_rank=self.applicant_rank,
            counterpart_score=self.counterpart_score,
            score=self.score,
            pinned=self.pinned,
        )


@dataclass(frozen=True)
class Assignment:
    """A solver's answer.

    Parameters
    ----------
    counterpart_of : ndarray of int
        Each applicant's counterpart, -1 for none.
    pair_of : ndarray of int
        The pair each applicant's match came from, -1 for none (or for a pin outside the
        acceptable pairs).
    solver : str
        The solver's name.
    runtime_s : float
        Its time in seconds.
    """

    counterpart_of: np.ndarray
    pair_of: np.ndarray
    solver: str
    runtime_s: float

    @classmethod
    def from_pairs(cls, problem: Problem, chosen: np.ndarray, *, solver: str, runtime_s: float) -> Assignment:
        """The chosen pair indices, plus every pin."""
        counterpart_of = np.full(problem.n_applicants, -1, dtype=np.int64)
        pair_of = np.full(problem.n_applicants, -1, dtype=np.int64)
        counterpart_of[problem.applicant[chosen]] = problem.counterpart[chosen]
        pair_of[problem.applicant[chosen]] = chosen
        for a, c in problem.pinned:
            counterpart_of[a] = c
            start, end = problem.offsets[a], problem.offsets[a + 1]
            listed = np.flatnonzero(problem.counterpart[start:end] == c)
            pair_of[a] = start + int(listed[0]) if len(listed) else -1
        return cls(counterpart_of, pair_of, solver, runtime_s)

    def assigned_counts(self, n_counterparts: int) -> np.ndarray:
        matched = self.counterpart_of[self.counterpart_of >= 0]
        return np.bincount(matched, minlength=n_counterparts)
