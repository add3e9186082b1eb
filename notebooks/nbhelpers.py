"""What the evaluation notebooks share: the sample size they run on, fold summaries and plots.

Kept beside the notebooks (not in the package): it needs matplotlib, a dev-only dependency.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd

from matcher.evaluation.protocol import Fold

SAMPLE_VARIABLE = "MATCHER_NOTEBOOK_SAMPLE"
METHODS_VARIABLE = "MATCHER_NOTEBOOK_METHODS"


def notebook_sample() -> int | None:
    """At most this many queries per protocol (``MATCHER_NOTEBOOK_SAMPLE``); every query when unset."""
    value = os.environ.get(SAMPLE_VARIABLE, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{SAMPLE_VARIABLE} must be a positive whole number, got {value!r}")
    return int(value)


def notebook_methods() -> list[str] | None:
    """The methods to run (``MATCHER_NOTEBOOK_METHODS``, comma-separated); every method when unset."""
    names = [name.strip() for name in os.environ.get(METHODS_VARIABLE, "").split(",") if name.strip()]
    return names or None


def fold_summary(folds: Sequence[Fold]) -> pd.DataFrame:
    """One row per fold: its queries (by segment), candidates and history sizes."""
    rows = []
    for fold in folds:
        segments = Counter(query.segment for query in fold.queries)
        rows.append(
            {
                "fold": fold.name,
                "queries": len(fold.queries),
                **{f"queries ({name})": count for name, count in sorted(segments.items()) if name != "all"},
                "candidates": len(fold.candidates),
                "mean |truth|": sum(len(q.truth) for q in fold.queries) / max(len(fold.queries), 1),
                **{f"history {slug}": len(records) for slug, records in fold.records.items()},
                "history end": fold.history_end,
            }
        )
    return pd.DataFrame(rows).set_index("fold")


def plot_recall_curves(recall_curve: Mapping[str, Sequence[float]], title: str) -> None:
    """Recall@K for K = 1 … len(curve), one line per method, K on a log axis."""
    _figure, axes = plt.subplots(figsize=(8, 5))
    for method, curve in sorted(recall_curve.items(), key=lambda item: -item[1][-1]):
        axes.plot(range(1, len(curve) + 1), curve, label=method)
    axes.set_xscale("log")
    axes.set_xlabel("K (log scale)")
    axes.set_ylabel("Recall@K")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small")
    plt.show()


def plot_exposure(exposure: Mapping[str, Mapping[str, int]], candidates: int, title: str) -> None:
    """How top-10 exposure is spread over the candidates, one line per method: the candidates
    ranked by how many top-10 lists they appeared in (log-log). A flat, long line spreads
    exposure over many investors; a short, steep one gives a few famous names every slot."""
    _figure, axes = plt.subplots(figsize=(8, 5))
    for method, counts in sorted(exposure.items()):
        shown = sorted(counts.values(), reverse=True)
        label = f"{method} ({len(shown):,} of {candidates:,} shown)"
        axes.plot(range(1, len(shown) + 1), shown, label=label, drawstyle="steps-post")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("candidate rank by exposure (log scale)")
    axes.set_ylabel("top-10 lists it appeared in (log scale)")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small")
    plt.show()
