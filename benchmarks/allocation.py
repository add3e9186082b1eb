"""Allocation round at city scale: both solvers on the same synthetic market, with their metrics.

    .venv/bin/python -m benchmarks.allocation [--applicants 200000] [--spaces 300] [--depth 20]
        [--seats-ratio 0.6] [--seed 42]

Spaces are unequally popular (Zipf-like, as every founder asks for the same few incubators
around 光谷): each applicant ranks ``depth`` distinct spaces, drawn by popularity plus taste
(Gumbel top-k). A space wants applicants by a shared quality plus its own taste. The mutual
score of a pair is the harmonic mean of both wishes, as the matcher fuses its two sides.
Places total ``seats-ratio`` × applicants, spread over spaces at random. Target: ≤ 60 s each.

    .venv/bin/python -m benchmarks.allocation --matcher

The same with the matcher's own preferences: every startup of the demo ecosystem (seed 42)
applies to its spaces, both sides ranked by the two-sided scores (top 20 eligible).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from benchmarks.recommend_latency import demo_catalog
from embeddings.chinese import chinese_encoder
from matcher.allocation import (
    Assignment,
    Problem,
    SolverName,
    allocation_metrics,
    solver_for,
    unmatched_reasons,
)
from matcher.allocation.preferences import RoundParticipants, matcher_preferences
from matcher.matcher import Matcher
from models.enums import EntityKind

CHUNK = 20_000
TARGET_S = 60.0


def synthetic_round(applicants: int, spaces: int, depth: int, seats_ratio: float, seed: int) -> Problem:
    rng = np.random.default_rng(seed)
    popularity = np.log(1.0 / np.arange(1, spaces + 1) ** 0.9).astype(np.float32)
    chosen, applicant_wish = [], []
    for start in range(0, applicants, CHUNK):
        rows = min(CHUNK, applicants - start)
        utility = popularity + rng.gumbel(size=(rows, spaces)).astype(np.float32)
        top = np.argpartition(-utility, depth - 1, axis=1)[:, :depth]
        wish = np.take_along_axis(utility, top, axis=1)
        order = np.argsort(-wish, axis=1)
        chosen.append(np.take_along_axis(top, order, axis=1))
        applicant_wish.append(np.take_along_axis(wish, order, axis=1))
    counterpart = np.concatenate(chosen).ravel()
    wish = np.concatenate(applicant_wish).ravel()
    applicant = np.repeat(np.arange(applicants), depth)
    quality = rng.normal(size=applicants)
    space_wish = quality[applicant] + 0.5 * rng.normal(size=len(applicant))
    mutual = _harmonic(_unit(wish), _unit(space_wish))
    seats = rng.multinomial(int(seats_ratio * applicants), np.full(spaces, 1.0 / spaces))
    return Problem.build(
        n_applicants=applicants,
        capacities=seats,
        applicant=applicant,
        counterpart=counterpart,
        applicant_rank=np.tile(np.arange(depth), applicants),
        counterpart_score=space_wish,
        score=mutual,
    )


def _unit(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    scaled: np.ndarray = (values - low) / (high - low) if high > low else np.ones_like(values)
    return scaled


def _harmonic(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    total = a + b
    fused: np.ndarray = np.divide(2 * a * b, total, out=np.zeros_like(total), where=total > 0)
    return fused


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--applicants", type=int, default=200_000)
    parser.add_argument("--spaces", type=int, default=300)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--seats-ratio", type=float, default=0.6)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--matcher", action="store_true", help="The demo ecosystem, scored by the matcher.")
    args = parser.parse_args()
    if args.matcher:
        matcher_round(args.depth)
        return

    started = time.perf_counter()
    problem = synthetic_round(args.applicants, args.spaces, args.depth, args.seats_ratio, args.seed)
    print(
        f"{args.applicants:,} applicants, {args.spaces} spaces, {int(problem.capacities.sum()):,} places, "
        f"{problem.n_pairs:,} ranked pairs (built in {time.perf_counter() - started:.1f} s)"
    )
    runs: tuple[tuple[SolverName, bool], ...] = (("stable", False), ("optimal", False), ("optimal", True))
    for name, floor in runs:
        assignment = solver_for(name, floor=floor).solve(problem)
        print(_line(problem, assignment, floor=floor))


def matcher_round(depth: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        catalog = demo_catalog(Path(folder))
        matcher = Matcher(encoder=chinese_encoder()).fit(catalog)
        print(f"demo ecosystem loaded and the matcher fitted in {time.perf_counter() - started:.1f} s")
    startups, spaces = catalog.tables[EntityKind.startup], catalog.tables[EntityKind.space]
    counterparts = [int(i) for i in spaces.ids[spaces.alive]]
    participants = RoundParticipants(
        applicant_kind=EntityKind.startup,
        counterpart_kind=EntityKind.space,
        applicants=[int(i) for i in startups.ids[startups.alive]],
        counterparts=counterparts,
        capacities=[int(spaces.record(i)["seats_vacant"]) for i in counterparts],
        depth=depth,
        applicant_rankings={},
        counterpart_rankings={},
    )
    started = time.perf_counter()
    problem = matcher_preferences(matcher, participants).problem
    print(
        f"{len(participants.applicants):,} startups × {len(counterparts)} spaces "
        f"({int(problem.capacities.sum()):,} vacant seats): {problem.n_pairs:,} eligible ranked pairs, "
        f"preferences from the matcher in {time.perf_counter() - started:.1f} s"
    )
    runs: tuple[tuple[SolverName, bool], ...] = (("stable", False), ("optimal", False), ("optimal", True))
    for name, floor in runs:
        print(_line(problem, solver_for(name, floor=floor).solve(problem), floor=floor))


def _line(problem: Problem, assignment: Assignment, *, floor: bool) -> str:
    metrics = allocation_metrics(problem, assignment)
    unmatched = Counter(reason.value for reason in unmatched_reasons(problem, assignment).values())
    total = float(problem.score[assignment.pair_of[assignment.pair_of >= 0]].sum())
    verdict = "OK" if assignment.runtime_s <= TARGET_S else "SLOW"
    return (
        f"{assignment.solver + (' + floor' if floor else ''):<24} {assignment.runtime_s:6.1f} s ({verdict})  "
        f"matched {metrics.share_matched:.3f}  fill {metrics.fill_rate or 0:.3f}  total score {total:,.0f}  "
        f"mean rank: applicant {metrics.mean_applicant_rank or 0:.2f}, "
        f"space {metrics.mean_counterpart_rank or 0:.1f}  "
        f"blocking pairs {metrics.blocking_pairs:,}  Gini {metrics.assignment_gini:.3f}  "
        f"unmatched {dict(sorted(unmatched.items()))}"
    )


if __name__ == "__main__":
    main()
