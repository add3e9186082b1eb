"""Applicant-proposing deferred acceptance with capacities (Gale–Shapley; hospitals/residents).

The result is stable (no applicant and counterpart both prefer each other to what they got)
and the best stable outcome for every applicant, so no applicant gains by misreporting their
list. Proposals are made in rounds, all free applicants at once, as numpy operations: the
outcome of deferred acceptance does not depend on the order of proposals, and a round over
arrays costs what one Python-level proposal would.
"""

from __future__ import annotations

import time

import numpy as np

from matcher.allocation.problem import Assignment, Problem


class DeferredAcceptance:
    """Solver: ``solve(problem)`` returns the applicant-optimal stable assignment.

    Ties in a counterpart's wishes go to the applicant listed earlier; ties in an applicant's
    list are broken by counterpart position. Pinned applicants hold their places outright.
    """

    name = "stable"

    def solve(self, problem: Problem) -> Assignment:
        started = time.perf_counter()
        chosen = _deferred_acceptance(problem)
        return Assignment.from_pairs(
            problem, chosen, solver=self.name, runtime_s=time.perf_counter() - started
        )


def _deferred_acceptance(problem: Problem) -> np.ndarray:
    places = problem.free_places
    priority = problem.priority
    counterpart = problem.counterpart
    next_choice = problem.offsets[:-1].copy()
    end = problem.offsets[1:].copy()
    end[problem.pinned_applicants] = next_choice[problem.pinned_applicants]
    held_by = np.full(problem.n_applicants, -1, dtype=np.int64)  # the pair an applicant holds
    held = np.zeros(0, dtype=np.int64)
    while True:
        proposers = np.flatnonzero((held_by < 0) & (next_choice < end))
        if not len(proposers):
            return np.sort(held)
        proposals = next_choice[proposers]
        next_choice[proposers] += 1
        contested = np.zeros(problem.n_counterparts, dtype=bool)
        contested[counterpart[proposals]] = True
        reopened = contested[counterpart[held]]
        pool = np.concatenate([held[reopened], proposals])
        kept = _best_within_places(pool, counterpart[pool], priority[pool], places)
        held_by[problem.applicant[pool]] = -1
        held_by[problem.applicant[kept]] = kept
        held = np.concatenate([held[~reopened], kept])


def _best_within_places(
    pairs: np.ndarray, counterparts: np.ndarray, priority: np.ndarray, places: np.ndarray
) -> np.ndarray:
    """The pairs each counterpart keeps: its best ``places[c]`` by priority."""
    order = np.lexsort((priority, counterparts))
    grouped = counterparts[order]
    rank_within = np.arange(len(order)) - np.searchsorted(grouped, grouped, side="left")
    kept: np.ndarray = pairs[order][rank_within < places[grouped]]
    return kept
