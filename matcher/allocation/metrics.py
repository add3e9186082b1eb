"""How good an assignment is, and why each applicant left without a match was left."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from matcher.allocation.problem import Assignment, Problem
from matcher.evaluation.metrics import _gini


class Unmatched(StrEnum):
    no_eligible_option = "no_eligible_option"  # nothing on the applicant's list
    lost_to_higher_ranked = "lost_to_higher_ranked"  # every option filled with applicants it wants more
    capacity = "capacity"  # options without places, or whose places went elsewhere for the total


@dataclass(frozen=True)
class AllocationMetrics:
    """How good an allocation is, for both sides and for the programme.

    Parameters
    ----------
    fill_rate : float or None
        Places taken over places offered, over all counterparts; None when none is offered.
    fill_rate_by_counterpart : list of float or None
        Each counterpart's fill rate; None where it offers no place.
    share_matched : float
        Share of all applicants given a counterpart.
    share_matched_with_options : float
        Share matched among the applicants with at least one acceptable pair.
    mean_applicant_rank : float or None
        Mean place of each matched applicant's counterpart in its list (1 = first choice).
    mean_counterpart_rank : float or None
        Mean place of each matched applicant in its counterpart's order (1 = most wanted).
    blocking_pairs : int
        Pairs who both prefer each other to what they were given (0 = stable).
    assignment_gini : float
        Gini coefficient of assignments across counterparts (0 = spread evenly).
    runtime_s : float
        The solver's time in seconds.
    """

    fill_rate: float | None  # places taken / places offered, over all counterparts
    fill_rate_by_counterpart: list[float | None]  # None where a counterpart offers no place
    share_matched: float  # of all applicants
    share_matched_with_options: float  # of applicants with at least one acceptable pair
    mean_applicant_rank: float | None  # 1 = everyone got their first choice
    mean_counterpart_rank: float | None  # 1 = every counterpart got the applicants it wanted most
    blocking_pairs: int
    assignment_gini: float  # of assignments across counterparts; 0 = spread evenly
    runtime_s: float

    def summary(self) -> dict[str, float | int | None]:
        """Everything but the per-counterpart list, for reports and logs."""
        return {
            "fill_rate": self.fill_rate,
            "share_matched": self.share_matched,
            "share_matched_with_options": self.share_matched_with_options,
            "mean_applicant_rank": self.mean_applicant_rank,
            "mean_counterpart_rank": self.mean_counterpart_rank,
            "blocking_pairs": self.blocking_pairs,
            "assignment_gini": self.assignment_gini,
            "runtime_s": self.runtime_s,
        }


def counterpart_ranks(problem: Problem) -> np.ndarray:
    """Each pair's rank in its counterpart's order of acceptable applicants (1 = first; ties share)."""
    order = np.lexsort((-problem.counterpart_score, problem.counterpart))
    grouped, wants = problem.counterpart[order], problem.counterpart_score[order]
    starts = np.searchsorted(grouped, grouped, side="left")
    first_equal = np.ones(len(order), dtype=bool)
    first_equal[1:] = (grouped[1:] != grouped[:-1]) | (wants[1:] != wants[:-1])
    ranks_sorted = np.maximum.accumulate(np.where(first_equal, np.arange(len(order)), 0)) - starts + 1
    ranks: np.ndarray = np.empty(len(order), dtype=np.int64)
    ranks[order] = ranks_sorted
    return ranks


def applicant_ranks(problem: Problem) -> np.ndarray:
    """Each pair's place in its applicant's list (1 = first choice; ties share)."""
    starts = problem.offsets[problem.applicant]
    first_equal = np.ones(problem.n_pairs, dtype=bool)
    first_equal[1:] = (problem.applicant[1:] != problem.applicant[:-1]) | (
        problem.applicant_rank[1:] != problem.applicant_rank[:-1]
    )
    positions = np.arange(problem.n_pairs)
    ranks: np.ndarray = np.maximum.accumulate(np.where(first_equal, positions, 0)) - starts + 1
    return ranks


def blocking_pairs(problem: Problem, assignment: Assignment) -> np.ndarray:
    """Pairs (indices) whose applicant and counterpart both strictly prefer each other to what
    they got: the applicant is unmatched or holds a worse choice, and the counterpart has a
    free place or holds an applicant it wants strictly less. Pinned places are not contestable."""
    pair_of = assignment.pair_of
    held = pair_of[(pair_of >= 0) & ~problem.pinned_applicants]
    free = problem.free_places - np.bincount(problem.counterpart[held], minlength=problem.n_counterparts)
    weakest = np.full(problem.n_counterparts, np.inf)
    np.minimum.at(weakest, problem.counterpart[held], problem.counterpart_score[held])
    open_pairs = problem.open_pairs
    mine = pair_of[problem.applicant[open_pairs]]
    applicant_wants = (mine < 0) | (
        problem.applicant_rank[open_pairs] < problem.applicant_rank[np.maximum(mine, 0)]
    )
    c = problem.counterpart[open_pairs]
    counterpart_wants = (free[c] > 0) | (problem.counterpart_score[open_pairs] > weakest[c])
    blocking: np.ndarray = open_pairs[applicant_wants & counterpart_wants & (mine != open_pairs)]
    return blocking


def allocation_metrics(problem: Problem, assignment: Assignment) -> AllocationMetrics:
    counts = assignment.assigned_counts(problem.n_counterparts)
    capacities = problem.capacities
    by_counterpart = [None if cap == 0 else float(n / cap) for n, cap in zip(counts, capacities, strict=True)]
    matched = assignment.counterpart_of >= 0
    has_options = np.diff(problem.offsets) > 0
    listed = assignment.pair_of[assignment.pair_of >= 0]
    return AllocationMetrics(
        fill_rate=float(counts.sum() / capacities.sum()) if capacities.sum() else None,
        fill_rate_by_counterpart=by_counterpart,
        share_matched=float(matched.mean()) if problem.n_applicants else 0.0,
        share_matched_with_options=float(matched[has_options].mean()) if has_options.any() else 0.0,
        mean_applicant_rank=float(applicant_ranks(problem)[listed].mean()) if len(listed) else None,
        mean_counterpart_rank=float(counterpart_ranks(problem)[listed].mean()) if len(listed) else None,
        blocking_pairs=len(blocking_pairs(problem, assignment)),
        assignment_gini=_gini(counts.astype(np.float64)),
        runtime_s=assignment.runtime_s,
    )


def unmatched_reasons(problem: Problem, assignment: Assignment) -> dict[int, Unmatched]:
    """For every applicant left without a counterpart, why."""
    counts = assignment.assigned_counts(problem.n_counterparts)
    held = assignment.pair_of[assignment.pair_of >= 0]
    # The priority of the least wanted applicant each counterpart holds (larger = less wanted).
    weakest = np.full(problem.n_counterparts, -1, dtype=np.int64)
    np.maximum.at(weakest, problem.counterpart[held], problem.priority[held])
    reasons: dict[int, Unmatched] = {}
    for a in np.flatnonzero(assignment.counterpart_of < 0):
        start, end = problem.offsets[a], problem.offsets[a + 1]
        options = problem.counterpart[start:end]
        if not len(options):
            reasons[int(a)] = Unmatched.no_eligible_option
            continue
        places = problem.capacities[options]
        outranked = (
            (places > 0) & (counts[options] >= places) & (weakest[options] < problem.priority[start:end])
        )
        reasons[int(a)] = Unmatched.lost_to_higher_ranked if outranked.all() else Unmatched.capacity
    return reasons
