"""A stored round solved with the running engine: preferences, solver, metrics and reasons."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

import numpy as np

from matcher.allocation.metrics import (
    AllocationMetrics,
    allocation_metrics,
    applicant_ranks,
    counterpart_ranks,
    unmatched_reasons,
)
from matcher.allocation.preferences import MatcherPreferences, RoundParticipants, matcher_preferences
from matcher.allocation.problem import Assignment, Problem
from matcher.allocation.solvers import solver_for
from matcher.matcher import Matcher
from models.rounds import ROUND_KINDS, ProposedMatch, RoundInputs, SolveSettings

PINNED_REASON = {"feature": "pinned", "zh": "运营方指定", "en": "pinned by the operator"}


def solve_round(
    matcher: Matcher, inputs: RoundInputs, request: SolveSettings
) -> tuple[list[ProposedMatch], dict[str, Any]]:
    """The proposal for a round and its report (settings, metrics, fill, who got nothing and why)."""
    spec = ROUND_KINDS[inputs.kind]
    started = time.perf_counter()
    preferences = matcher_preferences(
        matcher,
        RoundParticipants(
            applicant_kind=spec.applicant,
            counterpart_kind=spec.counterpart,
            applicants=inputs.applicants,
            counterparts=inputs.counterparts,
            capacities=inputs.capacities,
            depth=inputs.depth,
            applicant_rankings=inputs.applicant_rankings,
            counterpart_rankings=inputs.counterpart_rankings,
            pinned=inputs.pinned,
            forbidden=inputs.forbidden,
        ),
    )
    scoring_s = time.perf_counter() - started
    problem = preferences.problem.with_cap(request.assignment_cap)
    assignment = solver_for(request.solver, floor=request.floor).solve(problem)
    metrics = allocation_metrics(problem, assignment)
    matches = _matches(matcher, preferences, problem, assignment, inputs)
    return matches, _report(problem, assignment, metrics, inputs, request, scoring_s=scoring_s)


def _matches(
    matcher: Matcher,
    preferences: MatcherPreferences,
    problem: Problem,
    assignment: Assignment,
    inputs: RoundInputs,
) -> list[ProposedMatch]:
    own_ranks, their_ranks = applicant_ranks(problem), counterpart_ranks(problem)
    matches = []
    for position in np.flatnonzero(assignment.counterpart_of >= 0):
        pair = int(assignment.pair_of[position])
        pinned = bool(problem.pinned_applicants[position])
        listed = pair >= 0
        reasons = [asdict(r) for r in preferences.explain(matcher, pair)] if listed else []
        matches.append(
            ProposedMatch(
                applicant_id=inputs.applicants[position],
                counterpart_id=inputs.counterparts[int(assignment.counterpart_of[position])],
                score=float(problem.score[pair]) if listed else None,
                applicant_rank=int(own_ranks[pair]) if listed else None,
                counterpart_rank=int(their_ranks[pair]) if listed else None,
                pinned=pinned,
                reasons=([PINNED_REASON] if pinned else []) + reasons,
            )
        )
    return matches


def _report(
    problem: Problem,
    assignment: Assignment,
    metrics: AllocationMetrics,
    inputs: RoundInputs,
    request: SolveSettings,
    *,
    scoring_s: float,
) -> dict[str, Any]:
    counts = assignment.assigned_counts(problem.n_counterparts)
    options = np.diff(problem.offsets)
    return {
        "settings": request.model_dump(mode="json") | {"solved_by": assignment.solver},
        "metrics": metrics.summary() | {"preferences_s": scoring_s},
        "fill": [
            {"id": row_id, "capacity": int(capacity), "assigned": int(n), "fill_rate": rate}
            for row_id, capacity, n, rate in zip(
                inputs.counterparts, problem.capacities, counts, metrics.fill_rate_by_counterpart, strict=True
            )
        ],
        "unmatched": [
            {"id": inputs.applicants[position], "reason": reason.value, "options": int(options[position])}
            for position, reason in sorted(unmatched_reasons(problem, assignment).items())
        ],
    }
