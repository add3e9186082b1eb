"""Deal flow measured from the investor's side: every protocol seen the other way round.

For each investor that backed at least one of a fold's query rounds (active in the test
period), every method ranks that period's query startups; the truth is the startups it backed.
A baseline scores each (query startup, active investor) pair once, through the same
:class:`matcher.evaluation.baselines.Recommender` contract the founder's side uses (its pair
score is the same from either side), and orders every startup by it. Our matcher answers as its
deal-flow page serves (:class:`InvestorSide`): the period's startups are live together, the only
ones listed, and each investor asks for startups in the investor→startup direction with its own
weights; its ranking is the page (the eligible startups its channels retrieve, scored and
placed), as the founder side's ranking is `recommend`'s list. Metrics are the founder side's:
Recall@10/@50, NDCG@10, MRR, coverage and Gini of the startups shown, and AUC with one sampled
negative startup per positive (seeded, the same for every method; pair scores, eligibility not
applied, as on the founder side). Ties keep the query rounds' order in time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from tqdm import tqdm

from matcher.evaluation.baselines import Recommender
from matcher.evaluation.metrics import MetricRow, pairwise_auc, sample_negatives, summarize
from matcher.evaluation.protocol import Fold, Query

__all__ = ["DealFlowAnswers", "InvestorSide", "active_investors", "deal_flow_answers", "deal_flow_row"]

AUC_SEED = 20_260_102


def active_investors(fold: Fold) -> list[str]:
    """Candidates that backed at least one query round, sorted."""
    return sorted(frozenset().union(*(q.truth for q in fold.queries)) & fold.candidates)


@runtime_checkable
class InvestorSide(Protocol):
    """A recommender that answers as each investor asking for startups is served (our matcher's
    deal-flow page), not as each startup asking for investors."""

    def deal_flow(
        self,
        queries: Sequence[Query],
        investors: Sequence[str],
        asked_rows: Sequence[Sequence[int]],
        depth: int,
    ) -> tuple[list[list[int]], list[np.ndarray]]:
        """Per investor, its page (query rows, best first, up to ``depth``) and its scores of its
        ``asked_rows``."""
        ...


@dataclass
class DealFlowAnswers:
    """What one method answered for every active investor of every fold."""

    rankings: list[list[str]]
    truths: list[frozenset[str]]
    catalogue: set[str]
    positive_scores: list[float]
    negative_scores: list[float]


def deal_flow_answers(
    recommender: Recommender, fold: Fold, *, depth: int, label: str = "", show_progress: bool = False
) -> DealFlowAnswers:
    """Each active investor's ranking of the fold's query startups (event ids), best first."""
    investors = active_investors(fold)
    queries = list(fold.queries)
    backed_rows: defaultdict[str, list[int]] = defaultdict(list)
    for row, query in enumerate(queries):
        for investor in query.truth:
            backed_rows[investor].append(row)
    rng = np.random.default_rng(AUC_SEED)
    negative_rows: list[list[int]] = []
    for investor in investors:
        backed = backed_rows[investor]
        # One non-backed startup to draw per backed one, where there are enough of them.
        enough = 2 * len(backed) <= len(queries)
        negative_rows.append(sample_negatives(range(len(queries)), backed, rng) if enough else [])
    asked_rows = [
        backed_rows[investor] + negatives if negatives else []
        for investor, negatives in zip(investors, negative_rows, strict=True)
    ]
    if isinstance(recommender, InvestorSide):
        pages, asked_scores = recommender.deal_flow(queries, investors, asked_rows, depth)
    else:
        pages, asked_scores = _ranked_by_scores(
            recommender, queries, investors, asked_rows, depth, label, show_progress
        )
    events = [q.event_id for q in queries]
    answers = DealFlowAnswers([], [], set(events), [], [])
    for investor, page, scores, negatives in zip(investors, pages, asked_scores, negative_rows, strict=True):
        backed = backed_rows[investor]
        answers.rankings.append([events[row] for row in page])
        answers.truths.append(frozenset(events[row] for row in backed))
        if negatives:
            answers.positive_scores += scores[: len(backed)].tolist()
            answers.negative_scores += scores[len(backed) :].tolist()
    return answers


def _ranked_by_scores(
    recommender: Recommender,
    queries: Sequence[Query],
    investors: Sequence[str],
    asked_rows: Sequence[Sequence[int]],
    depth: int,
    label: str,
    show_progress: bool,
) -> tuple[list[list[int]], list[np.ndarray]]:
    """A baseline's pair score of every (query startup, active investor), each investor's rows
    ordered by it (ties keep the rounds' order in time)."""
    scores = np.zeros((len(queries), len(investors)))
    for row, query in enumerate(
        tqdm(queries, desc=f"deal flow {label}", unit="query", delay=1.0, disable=not show_progress)
    ):
        scores[row] = recommender.scores(query, investors)
    pages, asked_scores = [], []
    for column, asked_for in enumerate(asked_rows):
        column_scores = scores[:, column]
        pages.append(np.lexsort((np.arange(len(queries)), -column_scores))[:depth].tolist())
        asked_scores.append(column_scores[list(asked_for)])
    return pages, asked_scores


def deal_flow_row(method: str, answers: Sequence[DealFlowAnswers], *, k: int, wide_k: int) -> MetricRow:
    """One metric row over every fold's active investors."""
    rankings = [r for a in answers for r in a.rankings]
    truths = [t for a in answers for t in a.truths]
    catalogue = set().union(*(a.catalogue for a in answers))
    positives = [s for a in answers for s in a.positive_scores]
    negatives = [s for a in answers for s in a.negative_scores]
    auc = pairwise_auc(positives, negatives) if positives and negatives else None
    return summarize(method, rankings, truths, catalogue, k, auc=auc, wide_k=wide_k)
