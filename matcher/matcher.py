"""The matcher: for any profile, a short ranked list of counterparts that fit, with reasons.

retrieve (eligible candidates, then a pool from the semantic, lexical and graph channels)
→ pair features → each side's score → mutual score → diversity and exposure → reasons.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import Any, Literal, NamedTuple, Self

import numpy as np
import scipy.sparse as sp

from embeddings.chinese import chinese_encoder
from embeddings.encoder import Encoder
from embeddings.lexical import FeatureCounts
from matcher.catalog import Catalog, KindTable
from matcher.channels import Channels
from matcher.collaborative import CollaborativeIndex, QuerySignals, signature
from matcher.config import MatcherConfig, RerankConfig
from matcher.directions import Direction, direction_for
from matcher.eligibility import eligible, prepare_columns
from matcher.explain import ExplainContext, Reason, reasons
from matcher.features import FEATURE_NAMES, PairContext, feature_matrix
from matcher.geography import places
from matcher.graph import Node, RelationEvent
from matcher.rerank import ExposureTracker, mmr_picks
from matcher.rules import HasRoom, Rule
from matcher.scoring import Scorer, WeightedScorer, fuse
from matcher.summary import SummaryContext, summary
from matcher.text import profile_text
from matcher.why_empty import INACTIVE, unmet_rule, why_empty
from models.enums import EntityKind, InteractionKind
from models.places import Location

# What put a shown candidate at another rank than its score alone would: an open application
# (lifted ahead), open applications lifted ahead of it (pushed down), the diversity re-rank
# (MMR), or the exposure cap (held back, or moved up past one held back).
MovedBy = Literal["applied", "applicants", "diversity", "exposure"]
# Under a matcher's index_dir: the memory-mapped catalogue columns and lexical rows.
MAPPED_DIR = "mapped"


@dataclass(frozen=True)
class Match:
    """One recommended counterpart, with its scores and the reasons shown.

    Parameters
    ----------
    kind : EntityKind
        The counterpart's kind.
    id : int
        Its row id.
    external_id : str
        Its external id.
    name : str
        Its name.
    score : float
        The mutual score in [0, 1]: both sides' scores fused (``MatcherConfig.fusion``).
    asker_score : float
        How well the counterpart fits the asker, from the asker's point of view.
    candidate_score : float
        How well the asker fits the counterpart, from the counterpart's point of view.
    reasons : tuple of Reason
        Sentences in Chinese and English, strongest first.
    features : mapping of feature to value
        The pair's features (:mod:`matcher.features`), each in [0, 1].
    asker_contributions : mapping of feature to float
        Each feature's weighted part of ``asker_score``.
    candidate_contributions : mapping of feature to float
        Each feature's weighted part of ``candidate_score``.
    rank : int
        Place in the list shown (1 = first).
    score_rank : int
        Where the score alone would have put it among the candidates scored.
    moved_by : {"applied", "applicants", "diversity", "exposure"} or None
        Why ``rank`` differs from ``score_rank``: "applicants" is one pushed down behind the
        open applications placed first.
    display_score : float
        The score as shown to users (see ``display_scores``).
    summary : mapping
        The counterpart's key facts for its kind (:mod:`matcher.summary`).
    """

    kind: EntityKind
    id: int
    external_id: str
    name: str
    score: float
    asker_score: float
    candidate_score: float
    reasons: tuple[Reason, ...]
    features: Mapping[str, float]
    asker_contributions: Mapping[str, float]
    candidate_contributions: Mapping[str, float]
    rank: int = 0  # 1 = first shown
    score_rank: int = 0  # where the score alone would have put it, among the candidates scored
    moved_by: MovedBy | None = None  # why ``rank`` differs from ``score_rank``
    display_score: float = 0.0  # see display_scores
    summary: Mapping[str, Any] = field(default_factory=dict)  # matcher.summary: the kind's facts


@dataclass
class _Query:
    direction: Direction
    node: Node
    record: Mapping[str, Any]
    semantic: np.ndarray
    lexical: Any
    cache: dict[str, Any] = field(default_factory=dict)


class Placed(NamedTuple):
    at: int  # index in the pool
    rank: int
    score_rank: int
    moved_by: MovedBy | None


def _moved_by(at: int, rank: int, score_rank: int, diverse: int, by_score: int) -> MovedBy | None:
    """Why a candidate other than an applicant, shown at ``rank``, is not at its ``score_rank``:
    the exposure cap (``diverse``, the MMR pick of its turn, is another), the diversity re-rank
    (``by_score``, the next by score, is another) or the applicants placed ahead. Named only where
    the ranks differ: a lift by diversity can undo the push down by an applicant."""
    if rank == score_rank:
        return None
    if diverse != at:
        return "exposure"
    if by_score != at:
        return "diversity"
    return "applicants"


class Shown(NamedTuple):
    """What placing a query's scored pool reads: its score order, scores, vectors and ids (row for
    row with the scores), the candidates' kind and the ids with an open application."""

    order: np.ndarray
    mutual: np.ndarray
    vectors: np.ndarray
    ids: np.ndarray
    kind: EntityKind
    applied: frozenset[int]


def head_size(k: int) -> int:
    """How many of the best-scored candidates (after the applicants) the diversity re-rank reads."""
    return max(3 * k, k + 10)


def place(shown: Shown, k: int, rerank: RerankConfig, tracker: ExposureTracker) -> list[Placed]:
    """The ``k`` shown, in order, each with its rank by score alone and what moved it from there.

    Open applicants come first, best first: an application is the strongest signal there is,
    so neither diversity nor the exposure cap holds one back. The others follow in MMR order
    (diversity), with over-exposed ones moved behind (exposure). Only the vectors of the first
    :func:`head_size` candidates after the applicants are read.
    """
    order, ids = shown.order, shown.ids
    score_rank = np.empty(len(order), dtype=np.int64)
    score_rank[order] = np.arange(1, len(order) + 1)
    applied = np.isin(ids[order], np.fromiter(shown.applied, np.int64, len(shown.applied)))
    first = order[applied][:k].tolist()
    placed = [
        Placed(at, rank, int(score_rank[at]), "applied" if score_rank[at] != rank else None)
        for rank, at in enumerate(first, start=1)
    ]
    others = order[~applied]
    head = others[: head_size(k)]
    if len(placed) < k and len(head):
        by_diversity: list[int] = []  # positions in MMR order, as far as read

        def diverse() -> Iterator[int]:
            for i in mmr_picks(
                shown.mutual[head], shown.vectors[head], relevance_weight=rerank.relevance_weight
            ):
                by_diversity.append(int(head[i]))
                yield int(head[i])

        picked = tracker.first(diverse(), lambda at: (shown.kind, int(ids[at])), k - len(placed))
        for turn, at in enumerate(picked):
            rank = len(placed) + 1
            moved = _moved_by(at, rank, int(score_rank[at]), by_diversity[turn], int(others[turn]))
            placed.append(Placed(at, rank, int(score_rank[at]), moved))
    tracker.record(tuple((shown.kind, int(ids[p.at])) for p in placed))
    return placed


class Scored(NamedTuple):
    mutual: float
    asker_score: float
    candidate_score: float


@dataclass(frozen=True)
class PairScores:
    """Scores of chosen candidates for one query, eligibility not applied (for evaluation and training)."""

    ids: np.ndarray
    features: np.ndarray
    asker_scores: np.ndarray
    candidate_scores: np.ndarray
    mutual: np.ndarray


class _ScoredPool(NamedTuple):
    """A query's pool scored: its vectors, feature inputs, features, each side's score and the mutual one."""

    vectors: np.ndarray
    context: PairContext
    features: np.ndarray
    asker: np.ndarray
    candidate: np.ndarray
    mutual: np.ndarray


class Matcher:
    """Recommends counterparts for every direction in :data:`matcher.directions.DIRECTIONS`.

    Parameters are explicit keywords; :meth:`fit` returns self and the learned state ends in
    ``_`` (scikit-learn's conventions).

    Parameters
    ----------
    encoder : Encoder, optional
        Turns profile text into vectors; default the bundled Chinese–English static model.
    scorer : Scorer, optional
        Scores each side of a pair; default :class:`matcher.scoring.WeightedScorer` with each
        direction's weights (a :class:`matcher.ranker.LearnedRanker` fits here too).
    config : MatcherConfig, optional
        Retrieval, re-ranking, fusion and weights (:class:`matcher.config.MatcherConfig`);
        default its defaults.
    index_dir : Path, optional
        Where the text channels are saved and loaded from; None keeps them in memory only.
    clock : callable, optional
        What "now" is (recency, deal budgets per quarter); default the wall clock.
    show_progress : bool
        Show progress bars while the channels are built.
    """

    def __init__(
        self,
        *,
        encoder: Encoder | None = None,
        scorer: Scorer | None = None,
        config: MatcherConfig | None = None,
        index_dir: Path | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        show_progress: bool = False,
    ) -> None:
        self.encoder = encoder
        self.scorer = scorer
        self.config = config
        self.index_dir = index_dir
        self.clock = clock
        self.show_progress = show_progress

    # --- learning and keeping current --------------------------------------------------

    def fit(
        self,
        catalog: Catalog,
        *,
        channels: Channels | None = None,
        refit_lexical: bool = False,
        kinds: Collection[EntityKind] | None = None,
        feature_counts: FeatureCounts | None = None,
    ) -> Self:
        """Learn the text channels of ``catalog`` (or take prebuilt ones, as the scale benchmark does).

        The stored lexical vocabulary is reused unless ``refit_lexical``. With ``kinds``, only
        those kinds' channels are read and no rule column is built ahead: enough for queries
        between them (a one-off command), never saved. ``feature_counts`` (an earlier matcher's
        ``channels_.feature_counts``) spares analysing again the texts it already holds.
        """
        self.config_ = self.config or MatcherConfig()
        self.catalog_ = catalog
        self.channels_ = channels or self._built_channels(
            catalog, refit_lexical=refit_lexical, kinds=kinds, feature_counts=feature_counts
        )
        # The directions carry the configuration's weights, so every scorer and explanation
        # reads the same ones (a scorer given as a parameter included).
        self.directions_ = self.config_.directions()
        self.scorer_: Scorer = self.scorer or WeightedScorer()
        self.exposure_: dict[str, ExposureTracker] = {}
        self._collaborative_index: tuple[tuple[int, int], CollaborativeIndex] | None = None
        self._collaborative_positions: tuple[CollaborativeIndex, np.ndarray, np.ndarray] | None = None
        self._segment_keys: tuple[CollaborativeIndex, list[Any], sp.csr_matrix] | None = None
        if kinds is None:
            self.collaborative_index()  # no first query pays for it
        for direction in self.directions_.values() if kinds is None else ():
            prepare_columns(direction.asker_kind, catalog.tables[direction.candidate_kind], direction.rules)
        return self

    def _built_channels(self, catalog: Catalog, **params: Any) -> Channels:
        """The text channels of ``catalog`` (``params``: :meth:`Channels.build`'s)."""
        return Channels.build(
            catalog,
            self.encoder or chinese_encoder(),
            retrieval=self.config_.retrieval,
            index_dir=self.index_dir,
            show_progress=self.show_progress,
            **params,
        )

    def save(self) -> None:
        if self.index_dir is not None:
            self.channels_.save(self.index_dir)

    def share(self) -> None:
        """Hold the read-only state (catalogue columns, lexical rows and postings) memory-mapped
        from files under ``index_dir``, so that the workers of one host share one copy
        (:mod:`matcher.mapped`); each keeps its later changes privately. Nothing without an
        ``index_dir`` or with some kinds' channels only."""
        if self.index_dir is None or not self.channels_.complete:
            return
        for kind, table in self.catalog_.tables.items():
            table.share(self.index_dir / MAPPED_DIR / "catalog" / kind.value)
        for kind, channel in self.channels_.kinds.items():
            channel.share(self.index_dir / MAPPED_DIR / "lexical" / kind.value)

    def upsert_profile(self, kind: EntityKind, record: Mapping[str, Any]) -> None:
        self.catalog_.tables[kind].upsert(record)
        self.catalog_.history.record_changed((kind, int(record["id"])))
        self.channels_.update(kind, int(record["id"]))

    def remove_profile(self, kind: EntityKind, row_id: int) -> None:
        """Gone from every list at once, and from the graph, indexes and exposure counts."""
        self.catalog_.remove(kind, row_id)
        self.channels_.remove(kind, row_id)
        for tracker in self.exposure_.values():
            tracker.forget((kind, row_id))

    def erase_profile(self, kind: EntityKind, row_id: int) -> None:
        """Remove, and keep nothing derived from the profile's text: its lexical row is
        blanked and its vector compacted out of the index, not left behind a tombstone."""
        self.remove_profile(kind, row_id)
        self.catalog_.tables[kind].compact()  # its texts' bytes leave the columns
        channel = self.channels_.kinds[kind]
        if channel.table.has_slot(row_id):
            channel.erase_lexical(channel.table.position(row_id))
        channel.index.compact()

    def observe(self, event: RelationEvent) -> None:
        self.catalog_.history.observe(event)

    # --- recommending --------------------------------------------------------------------

    def recommend(
        self,
        asker_kind: EntityKind,
        asker_id: int,
        candidate_kind: EntityKind,
        *,
        k: int = 10,
        filters: Mapping[str, Any] | None = None,
    ) -> list[Match]:
        """Up to ``k`` eligible counterparts, best mutual fit first; empty when none is eligible."""
        if k < 1:
            raise ValueError("k: must be at least 1")
        query = self._query(asker_kind, asker_id, candidate_kind)
        if query is None:
            return []
        pool = self._retrieve(query, filters)
        return self._rank(query, pool, k) if len(pool) else []

    def candidate_pool(self, asker_kind: EntityKind, asker_id: int, candidate_kind: EntityKind) -> np.ndarray:
        """Row ids of the candidates `recommend` scores for this query (eligible, retrieved): the
        list a learned ranker orders when it serves, so the list it learns to order."""
        return self.asked(asker_kind, asker_id, candidate_kind).pool()

    def asked(
        self,
        asker_kind: EntityKind,
        asker_id: int,
        candidate_kind: EntityKind,
        *,
        within: np.ndarray | None = None,
    ) -> AskedQuery:
        """One query, to ask several things of while this matcher does not change (see
        :class:`AskedQuery`). ``within`` (a mask over the candidate table) is the only candidates
        its pool and ranking may hold: an evaluation's deal flow lists the period's startups."""
        asker = (EntityKind(asker_kind), asker_id)
        return AskedQuery(self, asker, self._query(asker_kind, asker_id, candidate_kind), within)

    def _retrieve(
        self, query: _Query, filters: Mapping[str, Any] | None, within: np.ndarray | None = None
    ) -> np.ndarray:
        """Pool positions: the eligible candidates the channels bring, and open applicants (those
        ``within`` only, when given)."""
        mask, applicants = self._eligible(query, filters)
        if within is not None:
            mask &= within
            applicants = applicants[within[applicants]]
        if not mask.any() and not len(applicants):
            return np.zeros(0, dtype=np.int64)
        return self._pool(query, mask, applicants)

    def _eligible(self, query: _Query, filters: Mapping[str, Any] | None) -> tuple[np.ndarray, np.ndarray]:
        """The candidates the direction's rules and ``filters`` admit (a mask over the candidate
        table), and the positions of the open applicants among them."""
        table = self.catalog_.tables[query.direction.candidate_kind]
        excluded = self.catalog_.history.excluded(query.node)
        mask = eligible(query.node[0], query.record, table, query.direction.rules, excluded=excluded)
        applicants = self._open_applicants(query, table, excluded)
        if filters:
            wanted = _filter_mask(table, filters)
            mask &= wanted
            applicants = applicants[wanted[applicants]]
        return mask, applicants

    def why_empty(
        self,
        asker_kind: EntityKind,
        asker_id: int,
        candidate_kind: EntityKind,
        *,
        filters: Mapping[str, Any] | None = None,
    ) -> Reason:
        """Why :meth:`recommend` has nothing to show for this query, in both languages."""
        query = self._query(asker_kind, asker_id, candidate_kind)
        if query is None:
            return INACTIVE
        table = self.catalog_.tables[query.direction.candidate_kind]
        return why_empty(
            query.node[0],
            query.record,
            table,
            query.direction.rules,
            excluded=self.catalog_.history.excluded(query.node),
            wanted=_filter_mask(table, filters) if filters else None,
        )

    def recommend_batch(
        self, queries: Sequence[tuple[EntityKind, int]], candidate_kind: EntityKind, *, k: int = 10
    ) -> list[list[Match]]:
        return [self.recommend(kind, row_id, candidate_kind, k=k) for kind, row_id in queries]

    def score(
        self, asker_kind: EntityKind, asker_id: int, candidate_kind: EntityKind, candidate_ids: Sequence[int]
    ) -> PairScores:
        """Features and scores of the given candidates (those in the catalogue, in the given
        order) for one query, with no eligibility or diversity step: what a learned ranker
        trains on and what pairwise AUC is measured on."""
        return self.asked(asker_kind, asker_id, candidate_kind).score(candidate_ids)

    def _query(self, asker_kind: EntityKind, asker_id: int, candidate_kind: EntityKind) -> _Query | None:
        # A kind may come as its name ("startup"), as a notebook writes it.
        asker_kind, candidate_kind = EntityKind(asker_kind), EntityKind(candidate_kind)
        asker_kind, asker_id = self._as_startup_if_founder(asker_kind, asker_id, candidate_kind)
        direction = direction_for(asker_kind, candidate_kind, self.directions_)
        table = self.catalog_.tables[asker_kind]
        if asker_id not in table:
            if table.has_slot(asker_id):  # present but inactive or without consent
                return None
            raise LookupError(f"no {asker_kind.value} with id {asker_id}")
        record = table.record(asker_id)
        channel = self.channels_.kinds[asker_kind]
        if asker_id in channel.index:
            semantic = channel.index.vectors_of([asker_id])[0]
        else:
            semantic = self.channels_.encoder.encode([profile_text(asker_kind, record)])[0]
        lexical = channel.lexical_row(channel.table.position(asker_id))
        return _Query(direction, (asker_kind, asker_id), record, semantic, lexical)

    def _applications(self, query: _Query) -> dict[int, dt.datetime]:
        """Candidates (row ids) with an open application between them and the query, either
        way, and when it was made; a founder's application counts as their startup's."""
        if "applications" not in query.cache:
            target = query.direction.candidate_kind
            open_applications = self.catalog_.history.applications
            found: dict[int, dt.datetime] = {}
            for asker in self._acting_for(query.node):
                for (kind, row_id), when in open_applications.get(asker, {}).items():
                    for candidate in self._candidates_acting_as(kind, row_id, target):
                        found[candidate] = max(when, found.get(candidate, when))
            query.cache["applications"] = found
        return query.cache["applications"]  # type: ignore[no-any-return]

    def _acting_for(self, node: Node) -> list[Node]:
        """The profile and, for a startup, its team: who may apply in its name."""
        kind, row_id = node
        team = self.catalog_.team_of.get(row_id, []) if kind is EntityKind.startup else []
        return [node, *((EntityKind.person, person) for person in team)]

    def _candidates_acting_as(self, kind: EntityKind, row_id: int, target: EntityKind) -> list[int]:
        """Which ``target`` profiles an applicant stands for: itself, or a founder's startups."""
        if kind is target:
            return [row_id]
        if kind is EntityKind.person and target is EntityKind.startup:
            return list(self.catalog_.startups_of.get(row_id, []))
        return []

    def _open_applicants(self, query: _Query, table: KindTable, excluded: set[Node]) -> np.ndarray:
        """Positions of the candidates with an open application that may be shown. An application
        lifts the fit rules (the one receiving it judges it, told which it misses) but not
        capacity, visibility, a relation or a refusal."""
        positions = np.asarray(
            [table.position(i) for i in self._applications(query) if i in table], dtype=np.int64
        )
        if not len(positions):
            return positions
        shown = eligible(query.node[0], query.record, table, _capacity(query.direction), excluded=excluded)
        open_positions: np.ndarray = positions[shown[positions]]
        return open_positions

    def _unmet_rules(self, query: _Query, table: KindTable, position: int) -> list[Rule]:
        """The fit rules a shown applicant does not meet (none for any other candidate)."""
        capacity = _capacity(query.direction)
        return [
            rule
            for rule in query.direction.rules
            if rule not in capacity and not eligible(query.node[0], query.record, table, (rule,))[position]
        ]

    def _as_startup_if_founder(
        self, kind: EntityKind, row_id: int, target: EntityKind
    ) -> tuple[EntityKind, int]:
        """A founder asking for investors, mentors or spaces asks for their startup."""
        if kind is EntityKind.person and (kind, target) not in self.directions_:
            startups = self.catalog_.startups_of.get(row_id, [])
            if not startups:
                raise ValueError(f"person {row_id} is on no startup's team; add them to one first")
            return EntityKind.startup, startups[0]
        return kind, row_id

    def _pool(self, query: _Query, mask: np.ndarray, applicants: np.ndarray) -> np.ndarray:
        """Candidate positions worth scoring: all eligible ones, or the best of each channel and
        every applicant."""
        admitted = int(np.count_nonzero(mask))
        if admitted <= self.config_.retrieval.pool_size:
            return np.union1d(np.flatnonzero(mask), applicants)
        table = self.catalog_.tables[query.direction.candidate_kind]
        share = self.config_.retrieval.channel_share
        channel = self.channels_.kinds[table.kind]
        search = partial(channel.index.search, query.semantic, share, allowed=channel.semantic_filter(mask))
        in_background = (
            _channel_threads().submit(search)
            if admitted >= self.config_.retrieval.concurrent_channels_min
            else None
        )
        lexical = channel.lexical_top(query.lexical, mask, share)
        hits = in_background.result() if in_background is not None else search()
        semantic = [table.position(i) for i, _ in hits]
        channels: list[list[int]] = [semantic, lexical.tolist(), self._by_graph(query, table, mask, share)]
        channels.append(applicants.tolist())
        channels += self._collaborative_channels(query, mask, share)
        channels.append(self._by_backers(query, table, mask, share))
        channels.append(self._by_deal_history(query, table, mask, self.config_.retrieval.deal_history_share))
        return np.unique(np.concatenate([np.asarray(c, dtype=np.int64) for c in channels]))

    def _by_graph(self, query: _Query, table: KindTable, mask: np.ndarray, share: int) -> list[int]:
        """Positions of the ``share`` eligible candidates the graph walk scores highest (ties: in
        the walk's order). The walk reaches thousands of nodes: one pass, then one stable sort."""
        positions, scores = [], []
        for (_, row_id), score in self._graph_scores(query).items():  # the candidate kind's nodes
            if row_id in table and mask[at := table.position(row_id)]:
                positions.append(at)
                scores.append(score)
        best = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:share]
        return [positions[i] for i in best.tolist()]

    def _by_backers(self, query: _Query, table: KindTable, mask: np.ndarray, share: int) -> list[int]:
        """Positions of the ``share`` eligible investors sharing the most portfolio companies with
        a startup's own backers (a syndicate forms around them; ties: the earlier position)."""
        positions, _ = self._backers_co_investments(query, table, mask)
        best: list[int] = positions[:share].tolist()
        return best

    def _backers_co_investments(
        self, query: _Query, table: KindTable, mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the eligible investors that co-invested with a startup's own backers, and
        in how many companies (summed over the backers), most first (ties: the earlier position);
        none for another direction."""
        positions: list[int] = []
        counts: list[int] = []
        if (query.node[0], query.direction.candidate_kind) == (EntityKind.startup, EntityKind.investor):
            graph = self.catalog_.history.graph
            shared: Counter[Node] = Counter()
            for backer in self.catalog_.history.related(query.node):
                if backer[0] is EntityKind.investor:
                    shared.update(graph.co_investors(backer))
            for (_, row_id), count in shared.items():
                if row_id in table and mask[at := table.position(row_id)]:
                    positions.append(at)
                    counts.append(count)
        found, shared_counts = np.asarray(positions, dtype=np.int64), np.asarray(counts, dtype=np.int64)
        order = np.lexsort((found, -shared_counts))
        return found[order], shared_counts[order]

    def _by_deal_history(self, query: _Query, table: KindTable, mask: np.ndarray, share: int) -> list[int]:
        """Positions of the ``share`` eligible startups in the segments (industry × round × place,
        as segment popularity reads them) where the asking investor did most of its recent deals,
        weighted by its share of them in each (ties: the earlier position); none for another
        direction. A profile alone reaches them: the period's new startups have no relation yet."""
        best: list[int] = self._deal_history_best(query, table, mask, share)[0].tolist()
        return best

    def _deal_history_best(
        self, query: _Query, table: KindTable, mask: np.ndarray, share: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_by_deal_history`'s positions, best first, and their scores."""
        nothing = np.zeros(0, dtype=np.int64), np.zeros(0)
        history = self._investor_history(query)
        if history is None:
            return nothing
        index, investor = history
        shares = index.investor_key_shares(investor)
        if not shares.any():
            return nothing
        codes, signatures = table.groups("history signature", signature)
        return best_of_groups(self._segment_key_weights(index, signatures) @ shares, codes, mask, share)

    def _segment_key_weights(self, index: CollaborativeIndex, signatures: list[Any]) -> sp.csr_matrix:
        """:meth:`CollaborativeIndex.segment_key_weights` of the startup table's signature groups,
        kept while the index and the groups are the same (a new group only adds its row)."""
        cached = self._segment_keys
        if cached is None or cached[0] is not index or cached[1] is not signatures:
            cached = (index, signatures, index.segment_key_weights(signatures))
        elif cached[2].shape[0] < len(signatures):
            added = index.segment_key_weights(signatures[cached[2].shape[0] :])
            cached = (index, signatures, sp.vstack([cached[2], added], format="csr"))
        self._segment_keys = cached
        return cached[2]

    def _collaborative_channels(self, query: _Query, mask: np.ndarray, share: int) -> list[list[int]]:
        """The eligible investors most backing the query's segment, and its peers' investors."""
        found = self._signals(query)
        if found is None:
            return []
        index, signals = found
        table = self.catalog_.tables[query.direction.candidate_kind]
        positions = self._index_positions(index, table)
        alive = table.alive

        def best(scores: np.ndarray) -> list[int]:
            """As `index.top(scores, …)` read down to the first ``share`` eligible, in one pass."""
            positive = np.flatnonzero(scores > 0)
            at = positions[positive[np.lexsort((positive, -scores[positive]))]]
            at = at[at >= 0]
            kept: list[int] = at[alive[at] & mask[at]][:share].tolist()
            return kept

        return [best(signals.segment_popularity), best(signals.peer_investors)]

    def _index_positions(self, index: CollaborativeIndex, table: KindTable) -> np.ndarray:
        """Each indexed investor's position in ``table`` (-1 without a slot there), kept while the
        index and the table's rows are the same (a new row makes a new ``ids`` array)."""
        ids = table.ids
        cached = self._collaborative_positions
        if cached is None or cached[0] is not index or cached[1] is not ids:
            found = [
                table.position(row_id) if table.has_slot(row_id) else -1 for _, row_id in index.investors
            ]
            cached = self._collaborative_positions = (index, ids, np.asarray(found, dtype=np.int64))
        return cached[2]

    def collaborative_index(self) -> CollaborativeIndex:
        """The history's deals indexed as of now. Rebuilt at once after an erasure of a deal it
        holds (nothing of an erased profile may stay), and after new deals once they are 1% more
        (plus 10): a rebuild reads every deal, so one new investment does not make the next
        query pay for it, nor a profile that leaves with the deals it brought since."""
        history = self.catalog_.history
        deals, erasures = len(history.deals), len(history.erased_at)
        built = self._collaborative_index
        if (
            built is None
            or not history.keeps_first_deals(built[0][0], erasures_seen=built[0][1])
            or deals
            > built[0][0] * self.config_.refresh.collaborative_rebuild_growth
            + self.config_.refresh.collaborative_rebuild_min_new
        ):
            built = (deals, erasures), CollaborativeIndex.from_catalog(self.catalog_, self._now())
        self._collaborative_index = (built[0][0], erasures), built[1]
        return built[1]

    def _signals(self, query: _Query) -> tuple[CollaborativeIndex, QuerySignals] | None:
        """What the deal history says about a startup asking for investors (None otherwise)."""
        if (query.node[0], query.direction.candidate_kind) != (EntityKind.startup, EntityKind.investor):
            return None
        if "collaborative" not in query.cache:
            index = self.collaborative_index()
            query.cache["collaborative"] = (index, index.signals(query.record))
        return query.cache["collaborative"]  # type: ignore[no-any-return]

    def _investor_history(self, query: _Query) -> tuple[CollaborativeIndex, Node] | None:
        """The deal history's index and the investor, when an investor asks for startups."""
        if (query.node[0], query.direction.candidate_kind) != (EntityKind.investor, EntityKind.startup):
            return None
        return self.collaborative_index(), query.node

    def _graph_scores(self, query: _Query) -> dict[Node, float]:
        """Graph proximity of candidates: investors of startups like yours, or (asking from
        the other side) startups of those who share relations with you."""
        if "graph" not in query.cache:
            graph = self.catalog_.history.graph
            target = query.direction.candidate_kind
            seeds = self._seeds(query)
            retrieval = self.config_.retrieval
            exact = retrieval.graph_walk == "pagerank" or (
                retrieval.graph_walk == "auto" and graph.number_of_nodes() <= retrieval.exact_walk_max_nodes
            )
            walk = graph.personalized_pagerank if exact else graph.two_hop_scores
            query.cache["graph"] = walk(seeds, candidate_kind=target) if seeds else {}
        return query.cache["graph"]  # type: ignore[no-any-return]

    def _seeds(self, query: _Query) -> dict[Node, float]:
        if query.direction.graph_seeds == "similar_peers":
            return {query.node: 1.0} | dict.fromkeys(self._peers(query), 0.5)
        return dict(self._co_related(query.node))

    def _co_related(self, node: Node) -> Counter[Node]:
        """Profiles of the query's own kind sharing relations with it, weighted by how many."""
        graph = self.catalog_.history.graph
        if node not in graph:
            return Counter()
        if node[0] is EntityKind.investor:
            return Counter(graph.co_investors(node))
        shared: Counter[Node] = Counter()
        for neighbour in graph.neighbours(node):
            shared.update(other for other in graph.neighbours(neighbour, node[0]) if other != node)
        return shared

    def _peers(self, query: _Query) -> tuple[Node, ...]:
        """Profiles most like the query (its own kind): the seeds of "investors of startups like yours"."""
        if "peers" not in query.cache:
            kind = query.node[0]
            found = self.channels_.kinds[kind].index.search(
                query.semantic, self.config_.retrieval.peer_count + 1
            )
            query.cache["peers"] = tuple((kind, i) for i, _ in found if (kind, i) != query.node)[
                : self.config_.retrieval.peer_count
            ]
        return query.cache["peers"]  # type: ignore[no-any-return]

    def _explaining_peers(self, query: _Query) -> tuple[Node, ...]:
        if query.direction.graph_seeds == "similar_peers":
            return self._peers(query)
        if "co_related" not in query.cache:
            top = self._co_related(query.node).most_common(self.config_.retrieval.peer_count)
            query.cache["co_related"] = tuple(node for node, _ in top)
        return query.cache["co_related"]  # type: ignore[no-any-return]

    def _context(
        self, query: _Query, pool: np.ndarray, vectors: np.ndarray, *, walk_scale: float | None = None
    ) -> PairContext:
        """The pool's features' inputs; ``vectors`` are the pool's embeddings, row for row.

        Graph proximity is the walk's score over its highest in the pool, or over ``walk_scale``
        when given (a shard scoring its part of a pool holds only part of it)."""
        table = self.catalog_.tables[query.direction.candidate_kind]
        channel = self.channels_.kinds[table.kind]
        nodes = [(table.kind, row_id) for row_id in table.ids[pool].tolist()]
        semantic = vectors @ query.semantic if len(pool) else np.zeros(0)
        lexical = channel.lexical_scores(query.lexical, pool)
        walk = self._walk(query, nodes)
        scale = walk_scale if walk_scale is not None else float(walk.max()) if len(walk) else 0.0
        walk = walk / scale if scale > 0 else walk
        return PairContext(
            asker_kind=query.node[0],
            query=query.record,
            table=table,
            pool=pool,
            history=self.catalog_.history,
            now=self._now(),
            semantic=semantic,
            lexical=lexical,
            graph_proximity=walk,
            graph_overlap=self._overlap(query, nodes),
            query_node=query.node,
            applications=self._applications(query),
            collaborative=self._signals(query),
            investor_history=self._investor_history(query),
            place_of=self._place_of,
            cache={"nodes": nodes},
        )

    def _walk(self, query: _Query, nodes: list[Node]) -> np.ndarray:
        """The graph walk's score of each node (0 where it does not reach)."""
        graph = self._graph_scores(query)
        return np.asarray([graph.get(node, 0.0) for node in nodes]) if graph else np.zeros(len(nodes))

    def _pool_vectors(self, kind: EntityKind, pool: np.ndarray) -> np.ndarray:
        ids = self.catalog_.tables[kind].ids[pool]
        return self.channels_.kinds[kind].index.vectors_of(ids.tolist()) if len(ids) else np.zeros((0, 0))

    def _overlap(self, query: _Query, nodes: list[Node]) -> np.ndarray:
        """Adamic–Adar between a candidate and the query's relations, summed: an investor who
        co-invests with your investors, a startup sharing backers with your portfolio."""
        graph = self.catalog_.history.graph
        mine = self.catalog_.history.related(query.node)
        if not mine:
            return np.zeros(len(nodes))
        # Each relation's neighbours and each shared node's weight once per query, not per
        # candidate; summed in the same order as RelationGraph.adamic_adar, so to the last bit.
        their_neighbours = {n: graph.neighbours(n) for n in mine}
        weights: dict[Node, float] = {}

        def weight(shared: Node) -> float:
            if shared not in weights:
                weights[shared] = 1 / math.log(graph.degree(shared))
            return weights[shared]

        def summed(node: Node) -> float:
            # A candidate already related to the query (possible when scoring chosen pairs) is
            # not compared with itself.
            candidate = graph.neighbours(node)
            return sum(
                sum(weight(shared) for shared in candidate & their_neighbours[n]) for n in mine if n != node
            )

        scores = np.asarray([summed(node) if node in graph else 0.0 for node in nodes])
        return scores / (1.0 + scores)

    def _scored_pool(self, query: _Query, pool: np.ndarray) -> _ScoredPool:
        vectors = self._pool_vectors(query.direction.candidate_kind, pool)
        context = self._context(query, pool, vectors)
        features = feature_matrix(context)
        asker, candidate = self.scorer_.side_scores(features, query.direction)
        return _ScoredPool(
            vectors, context, features, asker, candidate, fuse(asker, candidate, self.config_.fusion)
        )

    def _placed(self, query: _Query, scored: _ScoredPool, k: int) -> list[Placed]:
        ids = scored.context.table.ids[scored.context.pool]
        # Stable order for ties: the lower id first.
        order = np.lexsort((ids, -scored.mutual))
        return self._place(query, order, scored.mutual, scored.vectors, ids, scored.context, k)

    def _rank(self, query: _Query, pool: np.ndarray, k: int) -> list[Match]:
        scored = self._scored_pool(query, pool)
        context, features, asker, candidate, mutual = (
            scored.context,
            scored.features,
            scored.asker,
            scored.candidate,
            scored.mutual,
        )
        placed = self._placed(query, scored, k)
        picked = [p.at for p in placed]
        # Parts only for the shown rows: a learned scorer's parts cost a rescoring per feature.
        asker_parts, candidate_parts = self.scorer_.contributions(features[picked], query.direction)
        peers = self._explaining_peers(query)
        display = display_scores(mutual)
        return [
            self._match(
                query,
                context,
                peers,
                place,
                Scored(float(mutual[place.at]), float(asker[place.at]), float(candidate[place.at])),
                float(display[place.at]),
                _named(feature_row),
                _named(asker_row),
                _named(candidate_row),
                _named(both_row),
            )
            for place, feature_row, asker_row, candidate_row, both_row in zip(
                placed,
                features[picked].tolist(),
                asker_parts.tolist(),
                candidate_parts.tolist(),
                (asker_parts + candidate_parts).tolist(),
                strict=True,
            )
        ]

    def _place(
        self,
        query: _Query,
        order: np.ndarray,
        mutual: np.ndarray,
        vectors: np.ndarray,
        ids: np.ndarray,
        context: PairContext,
        k: int,
    ) -> list[Placed]:
        tracker = self.exposure_.setdefault(
            query.direction.name, ExposureTracker(cap=self.config_.rerank.exposure_cap)
        )
        shown = Shown(order, mutual, vectors, ids, context.table.kind, frozenset(context.applications))
        return place(shown, k, self.config_.rerank, tracker)

    def _match(
        self,
        query: _Query,
        context: PairContext,
        peers: tuple[Node, ...],
        place: Placed,
        scored: Scored,
        display_score: float,
        features: dict[str, float],
        asker_parts: dict[str, float],
        candidate_parts: dict[str, float],
        both_parts: dict[str, float],
    ) -> Match:
        table = context.table
        position = int(context.pool[place.at])
        # The fields the reasons and the summary read, decoded as read: a whole record (long
        # texts included) for each shown candidate cost 3 % of an answer's instructions.
        record = table.view(position)
        node = (table.kind, int(record["id"]))
        explain = ExplainContext(
            asker_kind=query.node[0],
            query=query.record,
            candidate_node=node,
            candidate=record,
            keywords=lambda: self.channels_.shared_keywords(
                query.lexical, table.kind, position, min_weight=self.config_.explain.min_keyword_weight
            ),
            history=self.catalog_.history,
            records=self._record_of,
            peers=peers,
            peers_are_similar=query.direction.graph_seeds == "similar_peers",
            path=lambda: self._relation_path(query.node, node),
            applied_on=context.applications.get(node[1]),
            now=context.now,
            asker_node=query.node,
        )
        said = reasons(explain, both_parts, self.config_.explain)
        if explain.applied_on is not None:
            unmet = tuple(unmet_rule(rule) for rule in self._unmet_rules(query, table, position))
            said = said[:1] + unmet + said[1:]
        return Match(
            kind=table.kind,
            id=node[1],
            external_id=str(record.get("external_id", "")),
            name=str(record.get("name", "")),
            score=scored.mutual,
            asker_score=scored.asker_score,
            candidate_score=scored.candidate_score,
            reasons=said,
            features=features,
            asker_contributions=asker_parts,
            candidate_contributions=candidate_parts,
            rank=place.rank,
            score_rank=place.score_rank,
            moved_by=place.moved_by,
            display_score=display_score,
            summary=summary(
                SummaryContext(node, record, self.catalog_.history, self._record_of, self._now())
            ),
        )

    def _relation_path(self, start: Node, end: Node) -> list[tuple[Node, InteractionKind, Node]]:
        graph = self.catalog_.history.graph
        if start not in graph or end not in graph:
            return []
        path = graph.relation_path(start, end, max_hops=self.config_.explain.relation_path_hops)
        return graph.explain_path(path) if path else []

    def _record_of(self, node: Node) -> Mapping[str, Any] | None:
        """A visible profile's record, its fields decoded as read (footprints read a few fields of
        many profiles)."""
        table = self.catalog_.tables[node[0]]
        return table.view(table.position(node[1])) if node[1] in table else None

    def _place_of(self, node: Node) -> Location:
        """A visible profile's place (``Location()`` for a hidden or gone one), decoded once per
        row (:func:`matcher.geography.places`)."""
        table = self.catalog_.tables[node[0]]
        if node[1] not in table:
            return Location()
        codes, known = places(table)
        place: Location = known[codes.item(table.position(node[1]))]
        return place

    def _now(self) -> dt.datetime:
        return self.clock() if self.clock is not None else dt.datetime.now(dt.UTC)


class AskedQuery:
    """One query asked several things while its matcher does not change, as an evaluation asks a
    ranking and pair scores and a ranker's training a pool and its features: what they share (the
    query's vectors, graph walk, peers and deal-history signals, and its pool) is worked out once.
    Each answer is the one the matcher's own method gives."""

    def __init__(
        self, matcher: Matcher, asker: Node, query: _Query | None, within: np.ndarray | None = None
    ) -> None:
        self._matcher, self._asker, self._query, self._within = matcher, asker, query, within
        self._positions: np.ndarray | None = None

    def _pool_positions(self, query: _Query) -> np.ndarray:
        if self._positions is None:
            self._positions = self._matcher._retrieve(query, None, self._within)
        return self._positions

    def pool(self) -> np.ndarray:
        """As :meth:`Matcher.candidate_pool`."""
        if self._query is None:
            return np.zeros(0, dtype=np.int64)
        ids: np.ndarray = self._matcher.catalog_.tables[self._query.direction.candidate_kind].ids[
            self._pool_positions(self._query)
        ]
        return ids

    def ranking(self, k: int) -> np.ndarray:
        """Row ids of what :meth:`Matcher.recommend` (no filters) shows, in its order, without the
        reasons and summaries it writes for each (most of its time when ``k`` is large)."""
        if k < 1:
            raise ValueError("k: must be at least 1")
        query = self._query
        if query is None:
            return np.zeros(0, dtype=np.int64)
        pool = self._pool_positions(query)
        if not len(pool):
            return np.zeros(0, dtype=np.int64)
        scored = self._matcher._scored_pool(query, pool)
        placed = self._matcher._placed(query, scored, k)
        ids: np.ndarray = scored.context.table.ids[pool[[p.at for p in placed]]]
        return ids

    def score(self, candidate_ids: Sequence[int]) -> PairScores:
        """As :meth:`Matcher.score`."""
        query = self._query
        if query is None:
            kind, row_id = self._asker
            raise LookupError(f"{kind.value} {row_id} is inactive or has not consented to matching")
        matcher = self._matcher
        table = matcher.catalog_.tables[query.direction.candidate_kind]
        pool = np.asarray([table.position(i) for i in candidate_ids if i in table], dtype=np.int64)
        features = feature_matrix(matcher._context(query, pool, matcher._pool_vectors(table.kind, pool)))
        asker, candidate = matcher.scorer_.side_scores(features, query.direction)
        return PairScores(
            table.ids[pool], features, asker, candidate, fuse(asker, candidate, matcher.config_.fusion)
        )


@cache
def _channel_threads() -> ThreadPoolExecutor:
    """Semantic searches of large pools, off the caller's thread; one per core is plenty."""
    return ThreadPoolExecutor(os.cpu_count(), thread_name_prefix="semantic-channel")


def display_scores(mutual: np.ndarray) -> np.ndarray:
    """Mutual scores on a 0-100 scale a person can read: 100 is the best candidate scored for
    the query, 0 the median one (and anything below it).

    Raw mutual scores bunch in a narrow band (a demo deal flow's top ten within 0.499-0.539),
    where the first and the tenth look alike; measured from the median of the candidates
    scored, the same list reads 100 down to about 40. All equal: all 100.
    """
    if not len(mutual):
        return mutual
    best, middle = float(mutual.max()), float(np.median(mutual))
    if best <= middle:
        return np.full(len(mutual), 100.0)
    scaled: np.ndarray = np.clip(100.0 * (mutual - middle) / (best - middle), 0.0, 100.0).round(1)
    return scaled


def best_of_groups(
    group_scores: np.ndarray, codes: np.ndarray, mask: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the ``count`` rows of ``mask`` whose group (``codes``, each row's group
    number) scores highest, above 0 (ties: the earlier position), and their scores. Taken score
    by score, so only rows at the last score reached are sorted: a table-long sort of scores
    that repeat group-wide would cost more than the rest of the channel."""
    levels, level_of_group = np.unique(-group_scores, return_inverse=True)  # best first
    positions = np.flatnonzero(mask)
    level = level_of_group[codes[positions]]
    held = level < np.searchsorted(levels, 0.0)  # the scores above 0
    positions, level = positions[held], level[held]
    last = int(np.searchsorted(np.cumsum(np.bincount(level, minlength=len(levels))), count))
    taken = np.flatnonzero(level <= last)
    best = taken[np.argsort(level[taken], kind="stable")][:count]
    return positions[best], -levels[level[best]]


def _capacity(direction: Direction) -> tuple[Rule, ...]:
    return tuple(rule for rule in direction.rules if isinstance(rule, HasRoom))


def _named(values: list[float]) -> dict[str, float]:
    return dict(zip(FEATURE_NAMES, values, strict=True))


def _filter_mask(table: KindTable, filters: Mapping[str, Any]) -> np.ndarray:
    """Extra filters a caller adds: field → value (or list of values) the candidate must hold."""
    mask = np.ones(len(table), dtype=bool)
    for name, wanted in filters.items():
        members = table.members(name)
        values = wanted if isinstance(wanted, list | tuple | set) else [wanted]
        allowed = np.zeros(len(table), dtype=bool)
        for value in values:
            if value in members:
                allowed |= members[value]
        mask &= allowed
    return mask
