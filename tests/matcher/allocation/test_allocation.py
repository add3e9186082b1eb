"""The allocation solvers and metrics on textbook instances, random instances and brute force."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.allocation import (
    Problem,
    SolverName,
    Unmatched,
    allocation_metrics,
    solver_for,
    unmatched_reasons,
)
from matcher.allocation.metrics import blocking_pairs
from matcher.allocation.optimal import Backend, MaxScoreFlow
from matcher.allocation.problem import Assignment

# An instance as lists: each applicant's counterparts best first; each counterpart's wish for
# each applicant (higher first); capacities; optional mutual scores per (applicant, counterpart).
Lists = Sequence[Sequence[int]]


def problem_of(
    lists: Lists,
    wishes: dict[tuple[int, int], float],
    capacities: Sequence[int],
    scores: dict[tuple[int, int], float] | None = None,
    *,
    pinned: Sequence[tuple[int, int]] = (),
    forbidden: Sequence[tuple[int, int]] = (),
    ranks: Sequence[Sequence[int]] | None = None,
) -> Problem:
    pairs = [(a, c, k) for a, listed in enumerate(lists) for k, c in enumerate(listed)]
    return Problem.build(
        n_applicants=len(lists),
        capacities=capacities,
        applicant=[a for a, _, _ in pairs],
        counterpart=[c for _, c, _ in pairs],
        applicant_rank=[ranks[a][k] if ranks else k for a, _, k in pairs],
        counterpart_score=[wishes[(c, a)] for a, c, _ in pairs],
        score=[scores[(a, c)] for a, c, _ in pairs] if scores else None,
        pinned=pinned,
        forbidden=forbidden,
    )


def wishes_from_orders(orders: Lists) -> dict[tuple[int, int], float]:
    """A counterpart's strict order of applicants (best first) as wishes."""
    return {(c, a): float(len(order) - k) for c, order in enumerate(orders) for k, a in enumerate(order)}


def matched(problem: Problem, solver: SolverName = "stable", *, floor: bool = False) -> list[int]:
    return [int(c) for c in solver_for(solver, floor=floor).solve(problem).counterpart_of]


# --- textbook instances ------------------------------------------------------------------------


def test_cyclic_preferences_give_every_applicant_their_first_choice() -> None:
    # Three stable matchings exist (Gusfield & Irving's cyclic example); proposing applicants get
    # the one best for all of them, though every counterpart gets its last choice.
    lists = [[0, 1, 2], [1, 2, 0], [2, 0, 1]]
    wishes = wishes_from_orders([[1, 2, 0], [2, 0, 1], [0, 1, 2]])
    problem = problem_of(lists, wishes, [1, 1, 1])
    assert matched(problem) == [0, 1, 2]
    metrics = allocation_metrics(problem, solver_for("stable").solve(problem))
    assert metrics.mean_applicant_rank == 1.0
    assert metrics.mean_counterpart_rank == 3.0
    assert metrics.blocking_pairs == 0


def test_hospitals_with_two_places_keep_their_best_two() -> None:
    # h0 and h1 take two residents each, h2 one (worked by hand: r1 and r0 are displaced from h0).
    lists = [[0, 1], [0, 2], [0, 1, 2], [1, 0], [0, 1, 2]]
    wishes = wishes_from_orders([[4, 3, 2, 1, 0], [0, 2, 3, 4], [1, 2, 4]])
    problem = problem_of(lists, wishes, [2, 2, 1])
    assert matched(problem) == [1, 2, 0, 1, 0]
    assert allocation_metrics(problem, solver_for("stable").solve(problem)).fill_rate == 1.0


def test_a_tie_goes_to_the_applicant_listed_first_and_leaves_no_blocking_pair() -> None:
    lists = [[0], [0], [0, 1]]
    wishes = {(0, 0): 1.0, (0, 1): 1.0, (0, 2): 1.0, (1, 2): 1.0}
    problem = problem_of(lists, wishes, [1, 1])
    assignment = solver_for("stable").solve(problem)
    assert assignment.counterpart_of.tolist() == [0, -1, 1]
    assert len(blocking_pairs(problem, assignment)) == 0
    assert unmatched_reasons(problem, assignment) == {1: Unmatched.lost_to_higher_ranked}


def test_ties_in_an_applicants_list_still_give_a_stable_matching() -> None:
    lists = [[0, 1], [0, 1]]
    wishes = wishes_from_orders([[1, 0], [0, 1]])
    problem = problem_of(lists, wishes, [1, 1], ranks=[[0, 0], [0, 1]])
    assignment = solver_for("stable").solve(problem)
    assert sorted(assignment.counterpart_of.tolist()) == [0, 1]
    assert len(blocking_pairs(problem, assignment)) == 0


def test_unmatched_applicants_are_told_why() -> None:
    # a0 has no option; a1 and a2 want c0 (one place), which prefers a1; a3 wants c1, with no place.
    lists = [[], [0], [0], [1]]
    wishes = {(0, 1): 2.0, (0, 2): 1.0, (1, 3): 1.0}
    problem = problem_of(lists, wishes, [1, 0])
    reasons = unmatched_reasons(problem, solver_for("stable").solve(problem))
    assert reasons == {
        0: Unmatched.no_eligible_option,
        2: Unmatched.lost_to_higher_ranked,
        3: Unmatched.capacity,
    }


def test_the_optimal_solver_trades_stability_for_total_score() -> None:
    # c0 prefers a0, but a1 scores far better with c0 and a0 has an alternative.
    lists = [[0, 1], [0]]
    wishes = wishes_from_orders([[0, 1], [0]])
    scores = {(0, 0): 0.5, (0, 1): 0.4, (1, 0): 0.9}
    problem = problem_of(lists, wishes, [1, 1], scores)
    assert matched(problem) == [0, -1]
    optimal = solver_for("optimal").solve(problem)
    assert optimal.counterpart_of.tolist() == [1, 0]
    assert allocation_metrics(problem, optimal).blocking_pairs == 1
    assert unmatched_reasons(problem, solver_for("stable").solve(problem)) == {
        1: Unmatched.lost_to_higher_ranked
    }


def test_the_floor_places_more_applicants_at_some_cost_in_score() -> None:
    # Without the floor a0 takes c0 alone (0.9 > 0.3 + 0.2); with it both get a place.
    lists = [[0], [0, 1]]
    wishes = {(0, 0): 1.0, (0, 1): 1.0, (1, 1): 1.0}
    scores = {(0, 0): 0.3, (1, 0): 0.9, (1, 1): 0.2}
    problem = problem_of(lists, wishes, [1, 1], scores)
    assert matched(problem, "optimal") == [-1, 0]
    assert matched(problem, "optimal", floor=True) == [0, 1]
    without = solver_for("optimal").solve(problem)
    assert unmatched_reasons(problem, without) == {0: Unmatched.capacity}


def test_the_stable_solver_refuses_a_floor() -> None:
    with pytest.raises(ValueError, match="floor"):
        solver_for("stable", floor=True)


@pytest.mark.parametrize("solver", ["stable", "optimal"])
def test_a_pinned_pair_is_kept_even_outside_both_lists(solver: SolverName) -> None:
    lists = [[0], [0], [1]]
    wishes = wishes_from_orders([[0, 1], [2]])
    problem = problem_of(lists, wishes, [1, 1], pinned=[(1, 1)])
    assignment = solver_for(solver).solve(problem)
    assert assignment.counterpart_of.tolist() == [0, 1, -1]
    assert assignment.pair_of[1] == -1


@pytest.mark.parametrize("solver", ["stable", "optimal"])
def test_a_forbidden_pair_never_appears(solver: SolverName) -> None:
    lists = [[0, 1], [0, 1]]
    wishes = wishes_from_orders([[0, 1], [0, 1]])
    problem = problem_of(lists, wishes, [1, 1], forbidden=[(0, 0)])
    assert matched(problem, solver) == [1, 0]


def test_the_assignment_cap_limits_a_popular_counterpart_and_spreads_the_rest() -> None:
    lists = [[0, 1], [0, 1], [0, 1]]
    wishes = wishes_from_orders([[0, 1, 2], [0, 1, 2]])
    problem = problem_of(lists, wishes, [3, 3])
    assert matched(problem) == [0, 0, 0]
    capped = problem.with_cap(1)
    assert matched(capped) == [0, 1, -1]
    assert allocation_metrics(capped, solver_for("stable").solve(capped)).assignment_gini == 0.0


def test_bad_problems_are_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="capacities"):
        problem_of([[0]], {(0, 0): 1.0}, [-1])
    with pytest.raises(ValueError, match="pinned"):
        problem_of([[0], [0]], {(0, 0): 1.0, (0, 1): 1.0}, [1], pinned=[(0, 0), (1, 0)])
    with pytest.raises(ValueError, match="twice"):
        problem_of([[0, 0]], {(0, 0): 1.0}, [1])


# --- random instances --------------------------------------------------------------------------


@st.composite
def instances(
    draw: st.DrawFn, *, max_applicants: int = 7, max_counterparts: int = 4, strict: bool = False
) -> Problem:
    """Random instances; ``strict``: no ties in a counterpart's wishes (else ties are frequent)."""
    n = draw(st.integers(1, max_applicants))
    m = draw(st.integers(1, max_counterparts))
    lists = [draw(st.permutations(range(m)))[: draw(st.integers(0, m))] for _ in range(n)]
    if strict:
        wishes = wishes_from_orders([draw(st.permutations(range(n))) for _ in range(m)])
    else:
        wishes = {(c, a): float(draw(st.integers(0, 3))) for a in range(n) for c in range(m)}
    scores = {(a, c): draw(st.floats(0.05, 1.0)) for a in range(n) for c in range(m)}
    capacities = draw(st.lists(st.integers(0, 3), min_size=m, max_size=m))
    return problem_of(lists, wishes, capacities, scores)


def _is_feasible(problem: Problem, counterpart_of: np.ndarray) -> bool:
    counts = np.bincount(counterpart_of[counterpart_of >= 0], minlength=problem.n_counterparts)
    acceptable = set(zip(problem.applicant.tolist(), problem.counterpart.tolist(), strict=True))
    return bool(np.all(counts <= problem.capacities)) and all(
        c < 0 or (a, c) in acceptable for a, c in enumerate(counterpart_of.tolist())
    )


def _blocking_by_definition(problem: Problem, counterpart_of: Sequence[int]) -> int:
    """Plain-Python count: a pair both of whose ends strictly prefer each other to what they got."""
    rank = {
        (int(a), int(c)): int(r)
        for a, c, r in zip(problem.applicant, problem.counterpart, problem.applicant_rank, strict=True)
    }
    wish = {
        (int(a), int(c)): float(w)
        for a, c, w in zip(problem.applicant, problem.counterpart, problem.counterpart_score, strict=True)
    }
    count = 0
    for (a, c), r in rank.items():
        mine = counterpart_of[a]
        if mine == c or (mine >= 0 and rank[(a, mine)] <= r):
            continue
        holders = [b for b, got in enumerate(counterpart_of) if got == c]
        if len(holders) < problem.capacities[c] or any(wish[(b, c)] < wish[(a, c)] for b in holders):
            count += 1
    return count


@settings(max_examples=300, deadline=None)
@given(instances())
def test_deferred_acceptance_never_leaves_a_blocking_pair(problem: Problem) -> None:
    assignment = solver_for("stable").solve(problem)
    assert _is_feasible(problem, assignment.counterpart_of)
    assert _blocking_by_definition(problem, assignment.counterpart_of.tolist()) == 0
    assert len(blocking_pairs(problem, assignment)) == 0


@settings(max_examples=100, deadline=None)
@given(instances())
def test_blocking_pairs_are_counted_as_defined(problem: Problem) -> None:
    assignment = solver_for("optimal").solve(problem)
    expected = _blocking_by_definition(problem, assignment.counterpart_of.tolist())
    assert allocation_metrics(problem, assignment).blocking_pairs == expected


def _all_assignments(problem: Problem) -> list[tuple[int, ...]]:
    options = [
        [-1, *problem.counterpart[problem.offsets[a] : problem.offsets[a + 1]].tolist()]
        for a in range(problem.n_applicants)
    ]
    return [
        choice
        for choice in itertools.product(*options)
        if _is_feasible(problem, np.asarray(choice, dtype=np.int64))
    ]


def _total(problem: Problem, choice: Sequence[int]) -> float:
    score = dict(
        zip(
            zip(problem.applicant.tolist(), problem.counterpart.tolist(), strict=True),
            problem.score,
            strict=True,
        )
    )
    return sum(float(score[(a, c)]) for a, c in enumerate(choice) if c >= 0)


def _is_stable(problem: Problem, choice: Sequence[int]) -> bool:
    chosen = np.asarray(
        [
            problem.offsets[a]
            + problem.counterpart[problem.offsets[a] : problem.offsets[a + 1]].tolist().index(c)
            for a, c in enumerate(choice)
            if c >= 0
        ],
        dtype=np.int64,
    )
    return len(blocking_pairs(problem, Assignment.from_pairs(problem, chosen, solver="", runtime_s=0))) == 0


@settings(max_examples=60, deadline=None)
@given(instances(max_applicants=5, max_counterparts=3, strict=True))
def test_deferred_acceptance_gives_every_applicant_its_best_stable_partner(problem: Problem) -> None:
    place = {
        (a, int(c)): int(r)
        for a, c, r in zip(problem.applicant, problem.counterpart, problem.applicant_rank, strict=True)
    }
    got = solver_for("stable").solve(problem).counterpart_of
    for choice in filter(lambda ch: _is_stable(problem, ch), _all_assignments(problem)):
        for a, c in enumerate(choice):
            if c >= 0:
                assert got[a] >= 0
                assert place[(a, int(got[a]))] <= place[(a, c)]


@settings(max_examples=60, deadline=None)
@given(instances(max_applicants=5, max_counterparts=3, strict=True), st.data())
def test_no_applicant_gains_by_misreporting(problem: Problem, data: st.DataObject) -> None:
    liar = data.draw(st.integers(0, problem.n_applicants - 1))
    truth = problem.counterpart[problem.offsets[liar] : problem.offsets[liar + 1]].tolist()
    honest = int(solver_for("stable").solve(problem).counterpart_of[liar])
    honest_place = truth.index(honest) if honest >= 0 else len(truth)
    wish = dict(
        zip(
            zip(problem.counterpart.tolist(), problem.applicant.tolist(), strict=True),
            problem.counterpart_score,
            strict=True,
        )
    )
    for size in range(len(truth) + 1):
        for lie in itertools.permutations(truth, size):
            lists = [
                list(lie)
                if a == liar
                else problem.counterpart[problem.offsets[a] : problem.offsets[a + 1]].tolist()
                for a in range(problem.n_applicants)
            ]
            wishes = {key: float(value) for key, value in wish.items()}
            got = matched(problem_of(lists, wishes, problem.capacities.tolist()))[liar]
            assert (truth.index(got) if got >= 0 else len(truth)) >= honest_place


@pytest.mark.parametrize("backend", ["networkx", "ortools"])
@pytest.mark.parametrize("floor", [False, True])
@settings(max_examples=60, deadline=None)
@given(problem=instances(max_applicants=5, max_counterparts=3))
def test_the_optimal_solver_matches_the_brute_force_optimum(
    backend: Backend, floor: bool, problem: Problem
) -> None:
    candidates = _all_assignments(problem)
    if floor:
        most = max(sum(c >= 0 for c in choice) for choice in candidates)
        candidates = [choice for choice in candidates if sum(c >= 0 for c in choice) == most]
    best = max(_total(problem, choice) for choice in candidates)
    solver = MaxScoreFlow(floor=floor, backend=backend)
    got = solver.solve(problem).counterpart_of
    assert _is_feasible(problem, got)
    if floor:
        assert int((got >= 0).sum()) == most
    assert _total(problem, got.tolist()) == pytest.approx(best, abs=1e-4)


@pytest.mark.parametrize("solver", ["stable", "optimal"])
@settings(max_examples=100, deadline=None)
@given(problem=instances(), data=st.data())
def test_pins_are_kept_and_forbidden_pairs_never_chosen_on_random_instances(
    solver: SolverName, problem: Problem, data: st.DataObject
) -> None:
    open_counterparts = [c for c in range(problem.n_counterparts) if problem.capacities[c] > 0]
    pairs = list(zip(problem.applicant.tolist(), problem.counterpart.tolist(), strict=True))
    forbidden = data.draw(st.lists(st.sampled_from(pairs), unique=True)) if pairs else []
    pin = (0, data.draw(st.sampled_from(open_counterparts))) if open_counterparts else None
    constrained = Problem.build(
        n_applicants=problem.n_applicants,
        capacities=problem.capacities,
        applicant=problem.applicant,
        counterpart=problem.counterpart,
        applicant_rank=problem.applicant_rank,
        counterpart_score=problem.counterpart_score,
        score=problem.score,
        pinned=[pin] if pin else [],
        forbidden=[p for p in forbidden if p != pin],
    )
    got = solver_for(solver).solve(constrained).counterpart_of.tolist()
    assert not {(a, c) for a, c in enumerate(got) if c >= 0} & ({*forbidden} - {pin})
    if pin:
        assert got[pin[0]] == pin[1]
    others = np.asarray([-1 if pin and a == pin[0] else c for a, c in enumerate(got)])
    assert _is_feasible(constrained, others)
    assert np.all(
        np.bincount([c for c in got if c >= 0], minlength=problem.n_counterparts) <= problem.capacities
    )
