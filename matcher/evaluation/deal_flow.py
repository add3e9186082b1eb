"""Deal flow measured from the investor's side: every protocol seen the other way round.

For each investor that backed at least one of a fold's query rounds (active in the test
period), every method ranks that period's query startups; the truth is the startups it backed.
A baseline scores each (query startup, active investor) pair once, through the same
:class:`matcher.evaluation.baselines.Recommender` contract the founder's side uses (its pair
score is the same from either side). Our matcher asks as its deal-flow page does
(:class:`InvestorSide`): the period's startups are live together and each investor asks for
startups, in the investor→startup direction with its own weights. Metrics
are the founder side's: Recall@10/@50, NDCG@10, MRR, coverage and Gini of the startups shown,
and AUC with one sampled negative startup per positive (seeded, the same for every method).
Ties keep the query rounds' order in time.
"""

from __future__ import annotations

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
    """A recommender that scores the pairs as each investor asking for startups would (our
    matcher, as its deal-flow page serves), not as each startup asking for investors."""

    def deal_flow_scores(self, queries: Sequence[Query], investors: Sequence[str]) -> np.ndarray:
        """(query, investor) scores, higher better within an investor's column."""
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
    if isinstance(recommender, InvestorSide):
        scores = recommender.deal_flow_scores(queries, investors)
    else:
        scores = np.zeros((len(queries), len(investors)))
        for row, query in enumerate(
            tqdm(queries, desc=f"deal flow {label}", unit="query", delay=1.0, disable=not show_progress)
        ):
            scores[row] = recommender.scores(query, investors)
    events = [q.event_id for q in queries]
    rng = np.random.default_rng(AUC_SEED)
    answers = DealFlowAnswers([], [], set(events), [], [])
    for column, investor in enumerate(investors):
        backed = [row for row, q in enumerate(queries) if investor in q.truth]
        column_scores = scores[:, column]
        order = np.lexsort((np.arange(len(queries)), -column_scores))[:depth]
        answers.rankings.append([events[int(row)] for row in order])
        answers.truths.append(frozenset(events[row] for row in backed))
        if 2 * len(backed) <= len(queries):  # one non-backed startup to draw per backed one
            negatives = sample_negatives(range(len(queries)), backed, rng)
            answers.positive_scores += column_scores[backed].tolist()
            answers.negative_scores += column_scores[negatives].tolist()
    return answers


def deal_flow_row(method: str, answers: Sequence[DealFlowAnswers], *, k: int, wide_k: int) -> MetricRow:
    """One metric row over every fold's active investors."""
    rankings = [r for a in answers for r in a.rankings]
    truths = [t for a in answers for t in a.truths]
    catalogue = set().union(*(a.catalogue for a in answers))
    positives = [s for a in answers for s in a.positive_scores]
    negatives = [s for a in answers for s in a.negative_scores]
    auc = pairwise_auc(positives, negatives) if positives and negatives else None
    return summarize(method, rankings, truths, catalogue, k, auc=auc, wide_k=wide_k)
