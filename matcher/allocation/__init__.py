"""Allocation rounds: fill seats, slots, mentor places and intro slots under capacity.

Pure computation over arrays (numpy, networkx, OR-Tools); storage lives in ``models.rounds``.
"""

from matcher.allocation.metrics import AllocationMetrics, Unmatched, allocation_metrics, unmatched_reasons
from matcher.allocation.problem import Assignment, Problem
from matcher.allocation.solvers import Solver, SolverName, solver_for

__all__ = [
    "AllocationMetrics",
    "Assignment",
    "Problem",
    "Solver",
    "SolverName",
    "Unmatched",
    "allocation_metrics",
    "solver_for",
    "unmatched_reasons",
]
