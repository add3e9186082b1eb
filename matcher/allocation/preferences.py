"""Both sides' preferences for a round, from the matcher's two-sided scores.

An applicant ranks its ``depth`` best eligible counterparts of the round by its own side of
the score (how well the counterpart fits it), unless it submitted its own ranking; a
counterpart wants applicants by the other side of the score (how well the applicant fits it),
unless its operator ranked them, and then only those ranked are acceptable. The mutual score
of the pair is what the optimal solver maximises. The matcher's hard rules decide eligibility
(including existing relations and refusals), for submitted rankings too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from matcher.allocation.problem import Problem
from matcher.directions import Direction, direction_for
from matcher.eligibility import eligible
from matcher.explain import ExplainContext, Reason, reasons
from matcher.features import FEATURE_NAMES
from matcher.graph import Node
from matcher.matcher import Matcher
from models.enums import EntityKind


@dataclass(frozen=True)
class RoundParticipants:
    """Row ids in the round's order, capacities, submitted rankings (row ids) and operator decisions."""

    applicant_kind: EntityKind
    counterpart_kind: EntityKind
    applicants: Sequence[int]
    counterparts: Sequence[int]
    capacities: Sequence[int]
    depth: int
    applicant_rankings: Mapping[int, Sequence[int]]
    counterpart_rankings: Mapping[int, Sequence[int]]
    pinned: Sequence[tuple[int, int]] = ()
    forbidden: Sequence[tuple[int, int]] = ()


@dataclass(frozen=True)
class MatcherPreferences:
    """The problem in positions, with what is needed to explain any of its pairs."""

    problem: Problem
    participants: RoundParticipants
    features: np.ndarray  # one row per pair of the problem, FEATURE_NAMES columns
    direction: Direction

    def explain(self, matcher: Matcher, pair: int) -> tuple[Reason, ...]:
        """The matcher's bilingual reasons for one pair of the problem."""
        applicant = self.participants.applicants[int(self.problem.applicant[pair])]
        counterpart = self.participants.counterparts[int(self.problem.counterpart[pair])]
        kinds = self.participants.applicant_kind, self.participants.counterpart_kind
        catalog = matcher.catalog_
        query_table, table = catalog.tables[kinds[0]], catalog.tables[kinds[1]]
        if applicant not in query_table or counterpart not in table:
            return ()
        asker, candidate = matcher.scorer_.contributions(self.features[pair : pair + 1], self.direction)
        combined = dict(zip(FEATURE_NAMES, map(float, asker[0] + candidate[0]), strict=True))
        query_row = matcher.channels_.kinds[kinds[0]].lexical_row(query_table.position(applicant))
        context = ExplainContext(
            asker_kind=kinds[0],
            query=query_table.record(applicant),
            candidate_node=(kinds[1], counterpart),
            candidate=table.record(counterpart),
            keywords=lambda: matcher.channels_.shared_keywords(
                query_row,
                kinds[1],
                table.position(counterpart),
                min_weight=matcher.config_.explain.min_keyword_weight,
            ),
            history=catalog.history,
            records=lambda node: _record(matcher, node),
            peers=(),
            peers_are_similar=False,
            path=list,
        )
        return reasons(context, combined, matcher.config_.explain)


def _record(matcher: Matcher, node: Node) -> Mapping[str, object] | None:
    table = matcher.catalog_.tables[node[0]]
    return table.record(node[1]) if node[1] in table else None


def matcher_preferences(matcher: Matcher, participants: RoundParticipants) -> MatcherPreferences:
    """Score every applicant against the round's counterparts and build the problem."""
    direction = direction_for(participants.applicant_kind, participants.counterpart_kind, matcher.directions_)
    counterpart_at = {row_id: i for i, row_id in enumerate(participants.counterparts)}
    applicant_at = {row_id: i for i, row_id in enumerate(participants.applicants)}
    operator_order = {
        counterpart_at[c]: {
            applicant_at[a]: len(ranked) - k for k, a in enumerate(ranked) if a in applicant_at
        }
        for c, ranked in participants.counterpart_rankings.items()
        if c in counterpart_at
    }
    columns: dict[str, list[np.ndarray]] = {
        n: [] for n in ("applicant", "counterpart", "rank", "wish", "score")
    }
    features: list[np.ndarray] = []
    for position, applicant in enumerate(participants.applicants):
        candidates = _eligible_counterparts(matcher, participants, direction, applicant)
        if not candidates:
            continue
        scores = matcher.score(
            participants.applicant_kind, applicant, participants.counterpart_kind, candidates
        )
        chosen = _applicant_choices(scores.ids, scores.asker_scores, participants, applicant)
        at = np.asarray([counterpart_at[int(scores.ids[i])] for i in chosen], dtype=np.int64)
        wish = scores.candidate_scores[chosen].astype(np.float64)
        acceptable = np.ones(len(chosen), dtype=bool)
        for k, c in enumerate(at):
            if int(c) in operator_order:
                ranked = operator_order[int(c)]
                acceptable[k] = position in ranked
                wish[k] = ranked.get(position, 0)
        keep = chosen[acceptable]
        columns["applicant"].append(np.full(len(keep), position, dtype=np.int64))
        columns["counterpart"].append(at[acceptable])
        columns["rank"].append(np.arange(len(keep), dtype=np.int64))
        columns["wish"].append(wish[acceptable])
        columns["score"].append(scores.mutual[keep])
        features.append(scores.features[keep])
    joined = {name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in columns.items()}
    problem = Problem.build(
        n_applicants=len(participants.applicants),
        capacities=participants.capacities,
        applicant=joined["applicant"],
        counterpart=joined["counterpart"],
        applicant_rank=joined["rank"],
        counterpart_score=joined["wish"],
        score=joined["score"],
        pinned=[(applicant_at[a], counterpart_at[c]) for a, c in participants.pinned],
        forbidden=[(applicant_at[a], counterpart_at[c]) for a, c in participants.forbidden],
    )
    feature_rows = np.concatenate(features) if features else np.zeros((0, len(FEATURE_NAMES)))
    return MatcherPreferences(problem, participants, _aligned(feature_rows, joined, problem), direction)


def _eligible_counterparts(
    matcher: Matcher, participants: RoundParticipants, direction: Direction, applicant: int
) -> list[int]:
    catalog = matcher.catalog_
    query_table = catalog.tables[participants.applicant_kind]
    if applicant not in query_table:
        return []  # inactive, without consent to matching, or gone
    table = catalog.tables[participants.counterpart_kind]
    node = (participants.applicant_kind, applicant)
    mask = eligible(
        participants.applicant_kind,
        query_table.record(applicant),
        table,
        direction.rules,
        excluded=catalog.history.excluded(node),
    )
    return [c for c in participants.counterparts if c in table and mask[table.position(c)]]


def _applicant_choices(
    ids: np.ndarray, own_side: np.ndarray, participants: RoundParticipants, applicant: int
) -> np.ndarray:
    """Positions in ``ids``, best first: the submitted ranking (eligible entries), or the top N."""
    submitted = participants.applicant_rankings.get(applicant)
    if submitted:
        where = {int(row_id): i for i, row_id in enumerate(ids)}
        return np.asarray([where[c] for c in submitted if c in where], dtype=np.int64)
    # Best own-side score first; the lower id first on a tie, as the matcher orders its lists.
    return np.lexsort((ids, -own_side))[: participants.depth]


def _aligned(features: np.ndarray, joined: dict[str, np.ndarray], problem: Problem) -> np.ndarray:
    """Feature rows in the problem's pair order (build drops forbidden pairs and sorts)."""
    n_counterparts = max(problem.n_counterparts, 1)
    keys = joined["applicant"].astype(np.int64) * n_counterparts + joined["counterpart"].astype(np.int64)
    order = {int(key): i for i, key in enumerate(keys)}
    problem_keys = problem.applicant * n_counterparts + problem.counterpart
    return features[[order[int(key)] for key in problem_keys]] if len(problem_keys) else features[:0]
