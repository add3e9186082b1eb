"""One interface over both solvers, chosen by name."""

from __future__ import annotations

from typing import Literal, Protocol

from matcher.allocation.optimal import Backend, MaxScoreFlow
from matcher.allocation.problem import Assignment, Problem
from matcher.allocation.stable import DeferredAcceptance

SolverName = Literal["stable", "optimal"]


class Solver(Protocol):
    name: str

    def solve(self, problem: Problem) -> Assignment: ...


def solver_for(name: SolverName, *, floor: bool = False, backend: Backend = "auto") -> Solver:
    """``stable``: deferred acceptance (no blocking pair, strategy-proof for applicants; ``floor``
    does not apply). ``optimal``: the greatest total mutual score, with the optional floor."""
    if name == "stable":
        if floor:
            raise ValueError("floor: applies to the optimal solver only; a stable matching cannot promise it")
        return DeferredAcceptance()
    if name == "optimal":
        return MaxScoreFlow(floor=floor, backend=backend)
    raise ValueError(f"solver: unknown '{name}'; choose stable or optimal")
