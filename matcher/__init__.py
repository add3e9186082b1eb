"""Who fits whom: features, graph, ranking, reciprocity, allocation and evaluation.

The public Python API, as a notebook uses it::

    from matcher import Catalog, Matcher
    catalog = Catalog.from_records({"startups": startups, "investors": investors})
    matcher = Matcher().fit(catalog)
    matcher.recommend("startup", catalog.row_id("startup", "S-1"), "investor", k=10)

Sits above ``models`` and ``embeddings``; it never imports ``api``. Names are imported on first
use, so importing one submodule does not load the vector indexes' libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matcher.allocation import (
        AllocationMetrics,
        Assignment,
        Problem,
        Solver,
        SolverName,
        Unmatched,
        allocation_metrics,
        solver_for,
        unmatched_reasons,
    )
    from matcher.catalog import Catalog
    from matcher.config import MatcherConfig
    from matcher.directions import DIRECTIONS, Direction
    from matcher.matcher import Match, Matcher
    from matcher.scoring import WeightedScorer

_HOMES = {
    "Catalog": "matcher.catalog",
    "MatcherConfig": "matcher.config",
    "DIRECTIONS": "matcher.directions",
    "Direction": "matcher.directions",
    "Match": "matcher.matcher",
    "Matcher": "matcher.matcher",
    "WeightedScorer": "matcher.scoring",
    **dict.fromkeys(
        (
            "AllocationMetrics",
            "Assignment",
            "Problem",
            "Solver",
            "SolverName",
            "Unmatched",
            "allocation_metrics",
            "solver_for",
            "unmatched_reasons",
        ),
        "matcher.allocation",
    ),
}

__all__ = [
    "DIRECTIONS",
    "AllocationMetrics",
    "Assignment",
    "Catalog",
    "Direction",
    "Match",
    "Matcher",
    "MatcherConfig",
    "Problem",
    "Solver",
    "SolverName",
    "Unmatched",
    "WeightedScorer",
    "allocation_metrics",
    "solver_for",
    "unmatched_reasons",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'matcher' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
