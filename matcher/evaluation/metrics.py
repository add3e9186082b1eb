"""Offline ranking metrics over ranked id lists and truth sets.

Every function is pure: ids are any hashable values, a ranked list is best first and holds
each id at most once, and a truth set is the ids that count as relevant (binary relevance).
Per-query metrics (recall, NDCG, reciprocal rank) are undefined for an empty truth set and
raise ``ValueError`` rather than silently returning 0, so a query without an answer can never
drag a mean down unnoticed.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Sequence
from typing import Annotated, Self, TypeVar

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field, model_validator

T = TypeVar("T", bound=Hashable)

__all__ = [
    "MetricRow",
    "MetricTable",
    "catalogue_coverage",
    "exposure_gini",
    "ndcg_at_k",
    "pairwise_auc",
    "recall_at_k",
    "recall_curve",
    "reciprocal_rank",
    "sample_negatives",
    "summarize",
]


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def _check_ranked(ranked: Sequence[T]) -> None:
    if len(set(ranked)) != len(ranked):
        raise ValueError("a ranked list must not hold the same id twice")


def _check_truth(truth: Collection[T]) -> None:
    if not truth:
        raise ValueError("the truth set is empty: the metric is undefined for this query")


def _hits(ranked: Sequence[T], truth: Collection[T], k: int) -> np.ndarray:
    """1.0 where the id at that rank (among the first k) is relevant, else 0.0."""
    _check_k(k)
    _check_ranked(ranked)
    _check_truth(truth)
    relevant = set(truth)
    return np.fromiter((item in relevant for item in ranked[:k]), dtype=np.float64)


def recall_at_k(ranked: Sequence[T], truth: Collection[T], k: int) -> float:
    """Share of the truth set found among the first ``k`` ranked ids."""
    hits = _hits(ranked, truth, k)
    return float(hits.sum() / len(set(truth)))


def recall_curve(ranked: Sequence[T], truth: Collection[T], depth: int) -> np.ndarray:
    """Recall@k for every k from 1 to ``depth`` at once: entry k - 1 is ``recall_at_k(ranked,
    truth, k)``, to the last bit (the hits counted once, not once per k)."""
    hits = _hits(ranked, truth, depth)
    found = np.cumsum(hits)
    curve = np.full(depth, found[-1] if len(found) else 0.0)
    curve[: len(found)] = found
    result: np.ndarray = curve / len(set(truth))
    return result


def _discounts(n: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, n + 2, dtype=np.float64))


def ndcg_at_k(ranked: Sequence[T], truth: Collection[T], k: int) -> float:
    """Binary-relevance NDCG@k: DCG over the first k ranks, divided by the DCG of a ranking
    that puts ``min(|truth|, k)`` relevant ids first."""
    hits = _hits(ranked, truth, k)
    dcg = float((hits * _discounts(len(hits))).sum())
    ideal = float(_discounts(min(len(set(truth)), k)).sum())
    return dcg / ideal


def reciprocal_rank(ranked: Sequence[T], truth: Collection[T]) -> float:
    """1 / rank of the first relevant id (ranks count from 1), 0.0 if none is ranked.
    MRR is the mean of this over queries."""
    hits = _hits(ranked, truth, max(len(ranked), 1))
    found = np.flatnonzero(hits)
    return float(1.0 / (found[0] + 1)) if found.size else 0.0


def catalogue_coverage(lists: Iterable[Sequence[T]], catalogue_size: int, k: int) -> float:
    """Share of the catalogue that appears in the top ``k`` of at least one list."""
    _check_k(k)
    if catalogue_size < 1:
        raise ValueError(f"catalogue_size must be at least 1, got {catalogue_size}")
    shown: set[T] = set()
    for ranked in lists:
        shown.update(ranked[:k])
    if len(shown) > catalogue_size:
        raise ValueError(f"{len(shown)} distinct ids were shown but the catalogue has only {catalogue_size}")
    return len(shown) / catalogue_size


def _gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts; 0.0 when nothing was counted."""
    total = counts.sum()
    n = counts.size
    if n == 0 or total == 0:
        return 0.0
    ascending = np.sort(counts)
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float(2.0 * (ranks * ascending).sum() / (n * total) - (n + 1) / n)


def exposure_gini(lists: Iterable[Sequence[T]], catalogue: Collection[T], k: int) -> float:
    """Gini of how often each catalogue item appears in the top ``k`` of the lists.

    Items never shown count as 0. 0.0 means every item is shown equally often; the value
    approaches 1 as all exposure goes to one item (its maximum is ``(n - 1) / n``).
    """
    _check_k(k)
    index = {item: position for position, item in enumerate(dict.fromkeys(catalogue))}
    counts = np.zeros(len(index), dtype=np.float64)
    for ranked in lists:
        _check_ranked(ranked)
        for item in ranked[:k]:
            if item not in index:
                raise ValueError(f"{item!r} was shown but is not in the catalogue")
            counts[index[item]] += 1
    return _gini(counts)


def pairwise_auc(positive_scores: ArrayLike, negative_scores: ArrayLike) -> float:
    """Probability that a positive outscores a negative, over all (positive, negative)
    pairs; a tie counts 0.5 (the Mann-Whitney estimate of ROC AUC)."""
    positives = np.asarray(positive_scores, dtype=np.float64).ravel()
    negatives = np.sort(np.asarray(negative_scores, dtype=np.float64).ravel())
    if positives.size == 0 or negatives.size == 0:
        raise ValueError("AUC needs at least one positive and one negative score")
    if np.isnan(positives).any() or np.isnan(negatives).any():
        raise ValueError("scores must not be NaN")
    below = np.searchsorted(negatives, positives, side="left")
    not_above = np.searchsorted(negatives, positives, side="right")
    wins = below.sum() + 0.5 * (not_above - below).sum()
    return float(wins / (positives.size * negatives.size))


def sample_negatives(candidates: Sequence[T], positives: Collection[T], rng: np.random.Generator) -> list[T]:
    """One negative per positive, drawn uniformly without replacement from the candidates
    that are not positives (in candidate order of the draw). Raises ``ValueError`` when there
    are fewer such candidates than positives."""
    relevant = set(positives)
    pool = [item for item in dict.fromkeys(candidates) if item not in relevant]
    wanted = len(relevant)
    if wanted > len(pool):
        raise ValueError(f"{wanted} negatives wanted but only {len(pool)} non-positive candidates exist")
    picks = rng.choice(len(pool), size=wanted, replace=False)
    return [pool[int(i)] for i in picks]


# --- a results table -------------------------------------------------------------------

UnitInterval = Annotated[float, Field(ge=0.0, le=1.0)]


class MetricRow(BaseModel):
    """One method's metrics, averaged over ``queries`` queries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Annotated[str, Field(min_length=1)]
    queries: Annotated[int, Field(ge=1)]
    recall: UnitInterval
    recall_wide: UnitInterval | None = None  # recall at the table's wide_k, when it has one
    ndcg: UnitInterval
    mrr: UnitInterval
    coverage: UnitInterval
    gini: UnitInterval
    auc: UnitInterval | None = None


def summarize(
    method: str,
    rankings: Sequence[Sequence[T]],
    truths: Sequence[Collection[T]],
    catalogue: Collection[T],
    k: int,
    *,
    auc: float | None = None,
    wide_k: int | None = None,
) -> MetricRow:
    """Mean Recall@k, NDCG@k and MRR over queries, with coverage and exposure Gini at k, and
    mean Recall@wide_k when given.

    ``rankings[i]`` answers the query whose relevant ids are ``truths[i]``; AUC, which needs
    scores, is computed by the caller and passed through.
    """
    if len(rankings) != len(truths):
        raise ValueError(f"{len(rankings)} rankings but {len(truths)} truth sets")
    if not rankings:
        raise ValueError("no queries to summarise")
    pairs = list(zip(rankings, truths, strict=True))
    return MetricRow(
        method=method,
        queries=len(pairs),
        recall=float(np.mean([recall_at_k(r, t, k) for r, t in pairs])),
        recall_wide=None if wide_k is None else float(np.mean([recall_at_k(r, t, wide_k) for r, t in pairs])),
        ndcg=float(np.mean([ndcg_at_k(r, t, k) for r, t in pairs])),
        mrr=float(np.mean([reciprocal_rank(r, t) for r, t in pairs])),
        coverage=catalogue_coverage(rankings, len(set(catalogue)), k),
        gini=exposure_gini(rankings, catalogue, k),
        auc=auc,
    )


class MetricTable(BaseModel):
    """One row per method, all measured at the same ``k`` (and ``wide_k`` for a second recall
    column); prints as a Markdown table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: Annotated[int, Field(ge=1)]
    wide_k: Annotated[int, Field(ge=1)] | None = None
    rows: tuple[MetricRow, ...] = ()

    @model_validator(mode="after")
    def _unique_methods(self) -> Self:
        names = [row.method for row in self.rows]
        if len(names) != len(set(names)):
            raise ValueError("each method may appear only once")
        if self.wide_k is not None and any(row.recall_wide is None for row in self.rows):
            raise ValueError(f"every row needs its Recall@{self.wide_k} when the table has wide_k")
        return self

    def to_markdown(self) -> str:
        k = self.k
        wide = [] if self.wide_k is None else [f"Recall@{self.wide_k}"]
        header = [
            "method",
            "queries",
            f"Recall@{k}",
            *wide,
            f"NDCG@{k}",
            "MRR",
            f"Coverage@{k}",
            f"Gini@{k}",
            "AUC",
        ]
        lines = [
            "| " + " | ".join(header) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
        ]
        for row in self.rows:
            recalls = (row.recall,) if self.wide_k is None else (row.recall, row.recall_wide or 0.0)
            cells = [
                row.method.replace("|", "\\|"),
                str(row.queries),
                *(f"{value:.4f}" for value in (*recalls, row.ndcg, row.mrr, row.coverage, row.gini)),
                "–" if row.auc is None else f"{row.auc:.4f}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()
