"""Sharded serving: each kind's candidates split by a stable hash of their id over Ray actors.

Every shard holds the whole catalogue's records and the history (eligibility, the graph, the
collaborative signals and the geography read profiles of any kind), but only its own part of
the text channels: the vectors and lexical rows of the candidates it owns (it encodes, or reads
from the saved channels, only those vectors).

A query is a few steps (:class:`_FannedOut`), each sent to every live shard at once and awaited
by the coordinator before the next: the asker's spec from the shard owning it, then, for a
direction walking from the asker's peers, every shard's most similar profiles, then every shard's
:meth:`ShardMatcher.answer`, which runs, on its own candidates: eligibility, the semantic,
lexical, graph and collaborative channels, the pair features and both sides' scores; it sends the
vectors of its best candidates and explains those it will likely show. Eligibility is judged over
the whole table (each shard holds every record), so each knows how many are eligible in all and
by what the graph walk is scaled in the whole pool. No call to a shard takes another shard's
result as a Ray argument: Ray queues the calls to a restarting shard until it is back, and a live
shard's call chained on one would wait as long, and every later call to that live shard behind
it (an actor runs one caller's calls in order). The coordinator asks the owners again only for
what the answers did not bring: a shown candidate its answer did not explain (the whole pool's
diversity re-rank may pick deeper into a shard than the shard's own re-rank, for its likeness to
other shards' picks), or the vectors of a head reaching deeper into a shard than its answer sent.

The merge (:class:`_Merge`, on the coordinator): the pool (every
eligible candidate, or each channel's best over every shard), the score order with its ties,
diversity and exposure (:func:`matcher.matcher.place`, with the exposure cap as it stood when the
query was sent) and the display scale; the coordinator unpickles only the matches it shows.

Each shard reads exactly what the unsharded matcher would (the graph walk scaled by its highest
score in the whole pool, a lexical feature as rare as in the whole table, equal scores at a
channel's cut split as the unsharded index and channel split them), so a sharded answer is the
unsharded one. A shard that does not answer and does not say it is alive (dead, or restarting)
is left out: the answer is then partial and names it. One that is alive is waited for, however
slow a loaded machine makes it (:meth:`ShardedMatcher.gathered`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import os
import pickle
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Self

import numpy as np
import ray
import scipy.sparse as sp
from ray.exceptions import RayActorError, RayError, RayTaskError

from matcher.catalog import Catalog, History, KindTable
from matcher.channels import Channels, best_positions
from matcher.config import MatcherConfig, RerankConfig, RetrievalConfig
from matcher.directions import Direction
from matcher.explain import Reason
from matcher.features import PairContext, feature_matrix
from matcher.graph import RelationEvent
from matcher.matcher import (
    Match,
    Matcher,
    Placed,
    Scored,
    Shown,
    _named,
    _Query,
    display_scores,
    head_size,
    place,
)
from matcher.rerank import ExposureTracker, mmr_picks
from matcher.scoring import fuse
from matcher.text import profile_text
from matcher.why_empty import INACTIVE
from models.enums import EntityKind

# How many queries' intermediate state (graph walk, signals) a shard keeps between the steps of one query.
_KEPT_QUERIES = 64

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def shard_of(ids: np.ndarray | Sequence[int], shards: int) -> np.ndarray:
    """The shard of each id: splitmix64's finaliser of the id, modulo ``shards``.

    The same on every process, machine and run (Python's ``hash`` is salted per process for
    strings and keeps small ints in order, which would put consecutive ids on one shard)."""
    x = np.asarray(ids, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    shard: np.ndarray = (x % np.uint64(shards)).astype(np.int64)
    return shard


def owner_of(row_id: int, shards: int) -> int:
    return int(shard_of([row_id], shards)[0])


@dataclass(frozen=True)
class QuerySpec:
    """The asker as every shard must see it: its record and text representations.

    ``exact`` is False when the asker's own shard did not answer and another re-encoded its text.
    """

    asker_kind: EntityKind
    asker_id: int
    candidate_kind: EntityKind
    direction: str
    record: Mapping[str, Any]
    semantic: np.ndarray
    lexical: sp.csr_matrix
    exact: bool


class Keys(NamedTuple):
    """Sort keys of one channel's best candidates on a shard, in the whole pool's order: ``first``,
    then ``second``, then the id, ascending (the same keys on every shard, so merging the shards'
    keys and cutting gives the unsharded channel's choice)."""

    first: np.ndarray
    second: np.ndarray
    ids: np.ndarray

    @classmethod
    def of(cls, entries: Sequence[tuple[float, float, int]]) -> Keys:
        first, second, ids = zip(*entries, strict=True) if entries else ((), (), ())
        return cls(
            np.asarray(first, dtype=np.float64),
            np.asarray(second, dtype=np.float64),
            np.asarray(ids, dtype=np.int64),
        )


class Level(NamedTuple):
    """One share of the lexical retrieval (:meth:`matcher.channels.KindChannels.lexical_levels`)
    on a shard: how many rows it found, its best, and whether every feature was looked up."""

    found: int
    best: Keys  # (-weight, position, id)
    complete: bool


class Tops(NamedTuple):
    """A shard's best candidates in each channel, each keyed in the whole pool's order
    (positions are the same on every shard: each holds the whole table)."""

    # (-similarity, -position, id): the index's exact scan keeps the later of equal vectors at the
    # cut, and a shard's vectors are in the whole index's order (positions as slots).
    semantic: Keys
    lexical: list[Level]  # the shares up to the first the whole pool may stop at
    graph: Keys  # (-walk score, place in the walk's order, id)
    collaborative: list[Keys]  # per signal: (rank among the indexed investors, 0, id)
    backers: Keys  # (-companies shared with the asker's backers, position, id)
    deal_history: Keys  # (-the asking investor's share of deals in the segment, position, id)
    applicants: np.ndarray


class Answer(NamedTuple):
    """A shard's answer to a query: its candidates scored, with what choosing the pool and placing
    the shown need, row for row with ``ids``.

    With at most a pool's worth of eligible candidates over every shard (``admitted``, the same
    on each), ``ids`` is this shard's part of the pool; past it, each channel's best of this
    shard (``tops``), a superset of its part, which the merge cuts. The vectors are those of its
    best candidates: enough for the diversity re-rank unless the whole pool's head reaches deeper
    here (:attr:`_Merge.unsent`). The explained matches (pickled, unpickled only when shown) are
    those it will likely show; :meth:`ShardMatcher.explain` adds any others it does show."""

    admitted: int
    ids: np.ndarray
    mutual: np.ndarray
    applied: np.ndarray
    tops: Tops | None
    vector_ids: np.ndarray
    vectors: np.ndarray
    explained: dict[int, bytes]


@dataclass
class _Scored:
    """A query as a shard scored it, kept for the coordinator's late requests."""

    query: _Query
    context: PairContext
    features: np.ndarray
    scored: list[Scored]
    vectors: np.ndarray
    row_of: dict[int, int]
    answer: Answer


class ShardMatcher(Matcher):
    """A :class:`matcher.matcher.Matcher` holding the channels of one shard's candidates.

    Parameters
    ----------
    shard : int
        Which shard, from 0.
    shards : int
        How many shards there are.
    The others are :class:`matcher.matcher.Matcher`'s.
    """

    def __init__(
        self,
        *,
        shard: int,
        shards: int,
        encoder: Any = None,
        scorer: Any = None,
        config: MatcherConfig | None = None,
        index_dir: Any = None,
        clock: Callable[[], dt.datetime] | None = None,
        show_progress: bool = False,
    ) -> None:
        super().__init__(
            encoder=encoder,
            scorer=scorer,
            config=config,
            index_dir=index_dir,
            clock=clock,
            show_progress=show_progress,
        )
        self.shard = shard
        self.shards = shards

    def fit(self, catalog: Catalog, **params: Any) -> Self:
        self._owned: dict[EntityKind, tuple[np.ndarray, np.ndarray]] = {}
        self._asked: OrderedDict[int, _Scored] = OrderedDict()
        self._pinned_now: dt.datetime | None = None
        super().fit(catalog, **params)
        for kind, channel in self.channels_.kinds.items():
            channel.keep_only(self.owned(kind))
        return self

    def _built_channels(self, catalog: Catalog, **params: Any) -> Channels:
        """Only this shard's rows encoded or read from the stored index (their vectors), and
        only their texts held: the others' are neither read nor kept."""
        owned = {kind: self.owned(kind) for kind in catalog.tables}  # the masks keep_only reads after
        return super()._built_channels(catalog, owned=owned, **params)

    def save(self) -> None:
        raise RuntimeError("a shard holds part of the channels: only the unsharded matcher saves them")

    def owned(self, kind: EntityKind) -> np.ndarray:
        """Mask over the kind's table: the rows this shard owns."""
        ids = self.catalog_.tables[kind].ids  # a new array whenever a row is added
        cached = self._owned.get(kind)
        if cached is None or cached[0] is not ids:
            cached = self._owned[kind] = (ids, shard_of(ids, self.shards) == self.shard)
        return cached[1]

    def owns(self, row_id: int) -> bool:
        return owner_of(row_id, self.shards) == self.shard

    # --- keeping current: records everywhere, channels on the owner ------------------------

    def upsert_profile(self, kind: EntityKind, record: Mapping[str, Any]) -> None:
        self.catalog_.tables[kind].upsert(record)
        self.catalog_.history.record_changed((kind, int(record["id"])))
        if self.owns(int(record["id"])):
            self.channels_.update(kind, int(record["id"]))

    def set_team(self, startup_id: int, person_ids: list[int]) -> None:
        self.catalog_.set_team(startup_id, person_ids)

    def set_history(self, history: History) -> None:
        self.catalog_.history = history

    def apply_event(self, event: RelationEvent) -> None:
        self.observe(event)

    # --- the steps of a query ---------------------------------------------------------------

    def query_spec(
        self, asker_kind: EntityKind, asker_id: int, candidate_kind: EntityKind
    ) -> QuerySpec | None:
        """The asker (a founder asking for their startup's counterparts becomes the startup);
        None when inactive or without consent. Exact when this shard owns the asker."""
        query = self._query(asker_kind, asker_id, candidate_kind)
        if query is None:
            return None
        kind, row_id = query.node
        exact = self.owns(row_id)
        lexical = query.lexical
        if not exact:
            text = profile_text(kind, query.record)
            lexical = self.channels_.lexical_vectorizer.transform(
                [text], counts=self.channels_.feature_counts
            )
        return QuerySpec(
            kind,
            row_id,
            query.direction.candidate_kind,
            query.direction.name,
            query.record,
            query.semantic,
            lexical,
            exact,
        )

    def peers_of(self, spec: QuerySpec | None, count: int) -> list[tuple[float, int]]:
        """This shard's profiles of the asker's kind most like it, as (-similarity, id)."""
        if spec is None:
            return []
        index = self.channels_.kinds[spec.asker_kind].index
        return [(-score, row_id) for row_id, score in index.search(spec.semantic, count)]

    def answer(
        self,
        token: int,
        now: dt.datetime,
        filters: Mapping[str, Any] | None,
        k: int,
        held: np.ndarray,
        spec: QuerySpec | None,
        *peer_parts: list[tuple[float, int]],
    ) -> Answer | None:
        """This shard's part of a query in one call: eligibility, retrieval, scores, and the
        vectors and reasons of its best (see :class:`Answer`). ``held`` are the candidates the
        exposure cap holds back now (not counted among those likely shown); ``peer_parts`` every
        shard's :meth:`peers_of` for a direction walking from the asker's peers. None for an
        inactive asker."""
        if spec is None:
            return None
        return self._scored(token, now, filters, k, held, spec, peer_parts).answer

    def complete(
        self,
        token: int,
        now: dt.datetime,
        filters: Mapping[str, Any] | None,
        k: int,
        held: np.ndarray,
        vector_ids: np.ndarray,
        explain_ids: np.ndarray,
        spec: QuerySpec,
        *peer_parts: list[tuple[float, int]],
    ) -> tuple[np.ndarray, dict[int, bytes]]:
        """The vectors and explained matches of candidates deeper than :meth:`answer` sent (the
        query scored again if it is no longer kept)."""
        kept = self._scored(token, now, filters, k, held, spec, peer_parts)
        vector_rows = [kept.row_of[int(i)] for i in vector_ids.tolist()]
        rows = [kept.row_of[int(i)] for i in explain_ids.tolist()]
        return kept.vectors[vector_rows], self._pickled_matches(
            kept.query, kept.context, kept.features, kept.scored, rows
        )

    def _scored(
        self,
        token: int,
        now: dt.datetime,
        filters: Mapping[str, Any] | None,
        k: int,
        held: np.ndarray,
        spec: QuerySpec,
        peer_parts: Sequence[list[tuple[float, int]]],
    ) -> _Scored:
        self._pinned_now = now
        kept = self._asked.get(token)
        if kept is not None:
            return kept
        query = self._spec_query(spec, peer_parts)
        table = self.catalog_.tables[query.direction.candidate_kind]
        mask, applicants = self._eligible(query, filters)
        admitted = int(np.count_nonzero(mask))
        owned = self.owned(table.kind)
        own_mask, own_applicants = mask & owned, applicants[owned[applicants]]
        pool_size = self.config_.retrieval.pool_size
        tops: Tops | None = None
        if admitted <= pool_size:  # the pool is every eligible candidate: this shard's are its part
            positions = np.union1d(np.flatnonzero(own_mask), own_applicants)
            depth = np.zeros(len(positions), dtype=np.int64)
        else:
            tops = self._tops(query, own_mask, own_applicants)
            positions, depth = _candidates(table, tops, self.shards, self.config_.retrieval.channel_share)
        ids = table.ids[positions]
        vectors = self._pool_vectors(table.kind, positions)
        scale = self._walk_scale(query, table, mask, applicants)
        context = self._context(query, positions, vectors, walk_scale=scale)
        features = feature_matrix(context)
        asker, candidate = self.scorer_.side_scores(features, query.direction)
        mutual = fuse(asker, candidate, self.config_.fusion)
        applications = context.applications
        applied = np.fromiter((i in applications for i in ids.tolist()), bool, len(ids))
        order = np.lexsort((ids, -mutual))
        # Vectors sent: its best down to head_size(k) candidates in the pool for certain (depth 0)
        # or likely (within its share of a channel's best), the most the whole pool's head may
        # take from it; a head reaching deeper here costs a second call.
        likely = depth < -(-self.config_.retrieval.channel_share // self.shards)
        head = _until(order[~applied[order]], likely, head_size(k))
        # Explained: its share of the shown, with room for an uneven split, in the diversity
        # re-rank's order over its own best, past those the exposure cap holds back: the whole
        # pool's re-rank mostly picks among those first. Its likeness to other shards' picks may
        # make it pick deeper here: the explain step explains those.
        shown_here = min(k, -(-3 * k // (2 * self.shards)))
        candidates = head[likely[head]]
        diverse = mmr_picks(
            mutual[candidates], vectors[candidates], relevance_weight=self.config_.rerank.relevance_weight
        )
        in_order = candidates[np.fromiter(diverse, np.int64, len(candidates))]
        picked = _until(in_order, ~np.isin(ids, held), shown_here)
        explained = np.concatenate([order[applied[order]][:k], picked]).tolist()
        scored = [
            Scored(float(m), float(a), float(c)) for m, a, c in zip(mutual, asker, candidate, strict=True)
        ]
        answer = Answer(
            admitted,
            ids,
            mutual,
            applied,
            tops,
            ids[head],
            vectors[head],
            self._pickled_matches(query, context, features, scored, explained),
        )
        row_of = dict(zip(ids.tolist(), range(len(ids)), strict=True))
        kept = _Scored(query, context, features, scored, vectors, row_of, answer)
        self._asked[token] = kept
        while len(self._asked) > _KEPT_QUERIES:
            self._asked.popitem(last=False)
        return kept

    def _spec_query(self, spec: QuerySpec, peer_parts: Sequence[list[tuple[float, int]]]) -> _Query:
        """The query of ``spec``; its peers, when its direction walks from them, are the best of
        every shard's (as the unsharded index would find them)."""
        direction = self.directions_[(spec.asker_kind, spec.candidate_kind)]
        node = (spec.asker_kind, spec.asker_id)
        query = _Query(direction, node, spec.record, spec.semantic, spec.lexical)
        if direction.graph_seeds == "similar_peers":
            count = self.config_.retrieval.peer_count
            best = sorted(itertools.chain.from_iterable(peer_parts))[: count + 1]
            query.cache["peers"] = tuple(
                (spec.asker_kind, row_id) for _, row_id in best if (spec.asker_kind, row_id) != node
            )[:count]
        return query

    def _walk_scale(self, query: _Query, table: KindTable, mask: np.ndarray, applicants: np.ndarray) -> float:
        """The graph walk's highest score in the whole pool, by which the unsharded matcher
        scales it: the pool holds the best walked eligible candidate and every applicant."""
        graph = self._graph_scores(query)
        if not graph:
            return 0.0
        admitted = mask.copy()
        admitted[applicants] = True
        best = 0.0
        for (_, row_id), score in graph.items():
            if score > best and row_id in table and admitted[table.position(row_id)]:
                best = score
        return best

    def _pickled_matches(
        self,
        query: _Query,
        context: PairContext,
        features: np.ndarray,
        scored: Sequence[Scored],
        rows: Sequence[int],
    ) -> dict[int, bytes]:
        """The candidates at ``rows`` explained with their scores, each pickled on its own: the
        coordinator unpickles only those it shows."""
        matches = self._explained(query, context, rows, features[list(rows)], [scored[r] for r in rows])
        return {m.id: pickle.dumps(m, protocol=pickle.HIGHEST_PROTOCOL) for m in matches}

    def _tops(self, query: _Query, mask: np.ndarray, applicants: np.ndarray) -> Tops:
        table = self.catalog_.tables[query.direction.candidate_kind]
        channel = self.channels_.kinds[table.kind]
        share = self.config_.retrieval.channel_share
        hits = channel.index.search(query.semantic, share, allowed=channel.semantic_filter(mask))
        levels = []
        for found, weights, complete in channel.lexical_levels(query.lexical, mask):
            levels.append(
                Level(
                    len(found),
                    self._keyed(table, best_positions(found, weights, share), weights, found),
                    complete,
                )
            )
            if len(found) >= share or complete:  # the whole pool stops here or before
                break
        graph = self._graph_scores(query)
        walked = [
            (-score, order, node[1])
            for order, (node, score) in enumerate(graph.items())
            if node[1] in table and mask[table.position(node[1])]
        ]
        walked.sort()
        return Tops(
            semantic=Keys.of([(-score, -table.position(row_id), row_id) for row_id, score in hits]),
            lexical=levels,
            graph=Keys.of(walked[:share]),
            collaborative=self._collaborative_tops(query, mask, share),
            backers=self._backers_tops(query, table, mask, share),
            deal_history=self._deal_history_tops(
                query, table, mask, self.config_.retrieval.deal_history_share
            ),
            applicants=table.ids[applicants],
        )

    def _backers_tops(self, query: _Query, table: KindTable, mask: np.ndarray, share: int) -> Keys:
        positions, counts = self._backers_co_investments(query, table, mask)
        return Keys.of(
            [
                (-float(count), float(at), int(table.ids[at]))
                for at, count in zip(positions[:share].tolist(), counts[:share].tolist(), strict=True)
            ]
        )

    def _deal_history_tops(self, query: _Query, table: KindTable, mask: np.ndarray, share: int) -> Keys:
        positions, scores = self._deal_history_best(query, table, mask, share)
        return Keys.of(
            [
                (-score, float(at), int(table.ids[at]))
                for at, score in zip(positions.tolist(), scores.tolist(), strict=True)
            ]
        )

    @staticmethod
    def _keyed(table: KindTable, chosen: np.ndarray, weights: np.ndarray, found: np.ndarray) -> Keys:
        weight_of = dict(zip(found.tolist(), weights.tolist(), strict=True))
        return Keys.of(sorted((-weight_of[p], p, int(table.ids[p])) for p in chosen.tolist()))

    def _explained(
        self,
        query: _Query,
        context: PairContext,
        rows: Sequence[int],
        features: np.ndarray,
        scored: Sequence[Scored],
    ) -> list[Match]:
        """Rows ``rows`` of ``context``'s pool with their contributions, reasons and summary;
        ``features`` and ``scored`` row for row with them. Their place and display score are the
        coordinator's (:func:`_placed`)."""
        asker_parts, candidate_parts = self.scorer_.contributions(features, query.direction)
        peers = self._explaining_peers(query)
        return [
            self._match(
                query,
                context,
                peers,
                Placed(at, 0, 0, None),
                scored_row,
                0.0,
                _named(feature_row),
                _named(asker_row),
                _named(candidate_row),
                _named(both_row),
            )
            for at, scored_row, feature_row, asker_row, candidate_row, both_row in zip(
                rows,
                scored,
                features.tolist(),
                asker_parts.tolist(),
                candidate_parts.tolist(),
                (asker_parts + candidate_parts).tolist(),
                strict=True,
            )
        ]

    def why_empty_of(self, spec: QuerySpec, filters: Mapping[str, Any] | None) -> Reason:
        return self.why_empty(spec.asker_kind, spec.asker_id, spec.candidate_kind, filters=filters)

    def _collaborative_tops(self, query: _Query, mask: np.ndarray, share: int) -> list[Keys]:
        found = self._signals(query)
        if found is None:
            return []
        index, signals = found
        table = self.catalog_.tables[query.direction.candidate_kind]

        def best(scores: np.ndarray) -> Keys:
            ranked = (
                (rank, 0, node[1])
                for rank, node in enumerate(index.top(scores, len(index)))
                if node[1] in table and mask[table.position(node[1])]
            )
            return Keys.of(list(itertools.islice(ranked, share)))

        return [best(signals.segment_popularity), best(signals.peer_investors)]

    def _now(self) -> dt.datetime:
        # One "now" for every shard in every step of a query: the coordinator's.
        return self._pinned_now if self._pinned_now is not None else super()._now()


def _candidates(table: KindTable, tops: Tops, shards: int, share: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of every candidate in a shard's channel tops, and the best rank each has in a
    channel (0 for an applicant: always in the pool). Of the lexical shares, only the one the
    whole pool likely stops at ranks (the first where every shard finding as many rows as this one
    would make a pool's share): the others' rows are likely not in the pool."""
    likely_level = next(
        (level for level in tops.lexical if level.found * shards >= share or level.complete),
        tops.lexical[-1] if tops.lexical else None,
    )
    ranked = [tops.semantic, tops.graph, *tops.collaborative, tops.backers, tops.deal_history]
    if likely_level is not None:
        ranked.append(likely_level.best)
    unranked = [level.best.ids for level in tops.lexical if level is not likely_level]
    ids = np.concatenate([tops.applicants, *(keys.ids for keys in ranked), *unranked])
    ranks = np.concatenate(
        [
            np.zeros(len(tops.applicants), np.int64),
            *(np.arange(len(keys.ids)) for keys in ranked),
            *(np.full(len(level), np.iinfo(np.int64).max) for level in unranked),
        ]
    )
    unique, first = np.unique(ids, return_inverse=True)
    depth = np.full(len(unique), np.iinfo(np.int64).max)
    np.minimum.at(depth, first, ranks)
    positions = np.asarray([table.position(int(i)) for i in unique.tolist()], dtype=np.int64)
    return positions, depth


def _until(rows: np.ndarray, counted: np.ndarray, count: int) -> np.ndarray:
    """The first of ``rows`` up to and including the ``count``-th whose ``counted`` is set."""
    seen = np.cumsum(counted[rows])
    return rows[: int(np.searchsorted(seen, count)) + 1]


class ShardHost:
    """One shard in its own process (a Ray actor): builds its part at start, and again when Ray
    restarts it, from ``build`` (shard, shards → a fitted :class:`ShardMatcher`)."""

    def __init__(self, shard: int, shards: int, build: Callable[[int, int], ShardMatcher]) -> None:
        self.matcher = build(shard, shards)

    @ray.method(concurrency_group="health")
    def alive(self) -> int:
        """Answered beside a running step (its own thread), once the shard is built: the process
        id, which tells a restarted shard from the one before it."""
        return os.getpid()

    def run(self, step: str, *args: Any) -> Any:
        if step not in SHARD_STEPS:
            raise ValueError(f"step: {step!r} is not a shard's step")
        return getattr(self.matcher, step)(*args)


# What the coordinator asks of a shard: a query's steps, and the writes every shard applies.
SHARD_STEPS = frozenset(
    {
        "query_spec",
        "peers_of",
        "answer",
        "complete",
        "why_empty_of",
        "upsert_profile",
        "remove_profile",
        "erase_profile",
        "apply_event",
        "set_team",
        "set_history",
    }
)


def start_shards(
    shards: int, build: Callable[[int, int], ShardMatcher], *, max_restarts: int = -1
) -> list[Any]:
    """One actor per shard on the Ray cluster this process is connected to, each built; Ray
    restarts one that dies (up to ``max_restarts`` times, -1 for always) and it rebuilds its part."""
    options: dict[str, Any] = {  # (Ray's typing does not know concurrency_groups)
        "num_cpus": 0,
        "max_restarts": max_restarts,
        "max_task_retries": 0,
        # The health check in its own thread; the steps keep the default group: one at a time, in order.
        "concurrency_groups": {"health": 1},
    }
    host = ray.remote(**options)(ShardHost)
    handles: list[Any] = [host.remote(shard, shards, build) for shard in range(shards)]
    ray.get([handle.alive.remote() for handle in handles])
    return handles


class NoShardAnswersError(RuntimeError):
    """Every shard is down (or restarting)."""


class ShardedAnswer(NamedTuple):
    """Matches, and the shards that did not answer (their candidates are missing from them)."""

    matches: list[Match]
    missing: tuple[int, ...]

    @property
    def partial(self) -> bool:
        return bool(self.missing)


class _FannedOut:
    """One query's calls, each step sent to every live shard at once and awaited here before the
    next: every shard's peers when the direction walks from them, then every shard's
    :meth:`ShardMatcher.answer`. Nothing a shard is sent waits on another shard's result: a call
    to a shard that is restarting is queued by Ray until it is back, and a live shard's call
    chained on it would wait as long, and with it every later call to that live shard (Ray runs an
    actor's calls in the order they were sent)."""

    def __init__(
        self,
        coordinator: ShardedMatcher,
        live: Sequence[int],
        spec: Any,
        peers: bool,
        arguments: tuple[int, dt.datetime, Mapping[str, Any] | None, int, np.ndarray],
    ) -> None:
        self.coordinator = coordinator
        self.spec = spec  # an object ref this process owns: handed to every call, never awaited by it
        self.arguments = arguments  # token, now, filters, k, held
        self.lost: set[int] = set()
        self.peer_parts: tuple[list[tuple[float, int]], ...] = ()
        if peers:
            count = coordinator.config.retrieval.peer_count + 1
            found, self.lost = coordinator.gathered(
                {s: coordinator.shards[s].run.remote("peers_of", spec, count) for s in live}
            )
            self.peer_parts = tuple(found.values())
        self.live = [s for s in live if s not in self.lost]

    def collect(self) -> tuple[dict[int, Answer | None], set[int]]:
        """The shards' answers, and the shards that did not give theirs or their peers."""
        handles = self.coordinator.shards
        step = ("answer", *self.arguments, self.spec, *self.peer_parts)
        answers, lost = self.coordinator.gathered({s: handles[s].run.remote(*step) for s in self.live})
        return answers, self.lost | lost

    def complete(self, shard: int, vector_ids: np.ndarray, explain_ids: np.ndarray) -> Any:
        """A late request to ``shard`` for deeper candidates' vectors and explanations."""
        step = ("complete", *self.arguments, vector_ids, explain_ids, self.spec, *self.peer_parts)
        return self.coordinator.shards[shard].run.remote(*step)


class ShardedMatcher:
    """Answers as :class:`matcher.matcher.Matcher` does, from shard actors (see the module's notes).

    Parameters
    ----------
    shards : sequence of actor handles
        The :class:`ShardHost` actors, shard 0 first (:func:`start_shards`).
    config : MatcherConfig
        The shards' configuration (pool size, peers, re-ranking).
    clock : callable, optional
        What "now" is, given to every shard for a query; default the wall clock.
    timeout : float
        Seconds a shard has to answer a step before it is asked whether it is alive.
    alive_within : float
        Seconds a shard has to say it is alive. One that does is waited for again, however loaded
        the machine (a live shard standing in for a dead one may first load its encoder, holding
        the interpreter for seconds): only one that does not (dead, restarting, unreachable) is
        left out of the answer.
    patience : float
        Seconds a live shard is waited for at most, for one step (past it, something is wrong
        with the shard rather than slow: the answer goes on without it).
    """

    def __init__(
        self,
        shards: Sequence[Any],
        *,
        config: MatcherConfig | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        timeout: float = 2.0,
        alive_within: float = 30.0,
        patience: float = 300.0,
    ) -> None:
        self.shards = list(shards)
        self.config = config or MatcherConfig()
        self.clock = clock
        self.timeout = timeout
        self.alive_within = alive_within
        self.patience = patience
        self.directions_ = self.config.directions()
        self.exposure_: dict[str, ExposureTracker] = {}
        # Queries that needed a second call to some shard (diversity or the shown list reaching
        # deeper than a shard's answer sent or explained): read by benchmarks.sharded_latency.
        self.late_requests_ = 0
        self._lock = threading.Lock()
        self._probes: dict[int, Any] = {}  # a shard that failed: its health check, answered once it is back

    def live_shards(self) -> list[int]:
        with self._lock:
            for shard, probe in list(self._probes.items()):
                ready, _ = ray.wait([probe], timeout=0)
                if ready:
                    try:
                        ray.get(probe)
                        del self._probes[shard]
                    except RayError:
                        self._probes[shard] = self.shards[shard].alive.remote()
            return [shard for shard in range(len(self.shards)) if shard not in self._probes]

    def mark_down(self, shard: int) -> None:
        with self._lock:
            if shard not in self._probes:
                self._probes[shard] = self.shards[shard].alive.remote()

    def gathered(self, refs: Mapping[int, Any]) -> tuple[dict[int, Any], set[int]]:
        """What each shard's call returned, and the shards that gave nothing (marked down).

        A shard that has not answered after :attr:`timeout` is asked whether it is alive (a
        health check its busy step does not queue behind): if it says so within
        :attr:`alive_within`, it is waited for again, so a loaded machine makes answers slow, not
        partial. A dead shard's call fails at once; a restarting one's is queued by Ray until it
        is back, and its health check with it."""
        results: dict[int, Any] = {}
        lost: set[int] = set()
        pending = dict(refs)
        started = time.monotonic()
        while pending:
            ready, _ = ray.wait(list(pending.values()), num_returns=len(pending), timeout=self.timeout)
            for shard in [s for s, ref in pending.items() if ref in ready]:
                found = _result(pending.pop(shard))
                if found is _NO_ANSWER:
                    lost.add(shard)
                else:
                    results[shard] = found
            if pending:
                patient = time.monotonic() - started < self.patience
                silent = self._silent(pending) if patient else set(pending)
                lost |= silent
                pending = {s: ref for s, ref in pending.items() if s not in silent}
        for shard in lost:
            self.mark_down(shard)
        return results, lost

    def _silent(self, shards: Iterable[int]) -> set[int]:
        """Which of ``shards`` do not say they are alive within :attr:`alive_within`."""
        checks = {shard: self.shards[shard].alive.remote() for shard in shards}
        ready, _ = ray.wait(list(checks.values()), num_returns=len(checks), timeout=self.alive_within)
        return {
            shard for shard, check in checks.items() if check not in ready or _result(check) is _NO_ANSWER
        }

    # --- recommending -----------------------------------------------------------------------

    def recommend(
        self,
        asker_kind: EntityKind,
        asker_id: int,
        candidate_kind: EntityKind,
        *,
        k: int = 10,
        filters: Mapping[str, Any] | None = None,
    ) -> ShardedAnswer:
        if k < 1:
            raise ValueError("k: must be at least 1")
        asker_kind, candidate_kind = EntityKind(asker_kind), EntityKind(candidate_kind)
        down: set[int] = set()
        everyone = tuple(range(len(self.shards)))
        while True:
            live = [shard for shard in self.live_shards() if shard not in down]
            if not live:
                return ShardedAnswer([], everyone)
            try:
                spec = self._spec(live, asker_kind, asker_id, candidate_kind)
            except NoShardAnswersError:
                return ShardedAnswer([], everyone)
            if spec is None:
                return ShardedAnswer([], tuple(s for s in everyone if s not in self.live_shards()))
            direction = self.directions_[(spec.asker_kind, candidate_kind)]
            now = self.clock() if self.clock is not None else dt.datetime.now(dt.UTC)
            with self._lock:
                tracker = self.exposure_.get(direction.name)
                keys = tracker.held_back() if tracker is not None else []
            held = np.asarray([key[1] for key in keys if isinstance(key, tuple)], dtype=np.int64)
            arguments = (uuid.uuid4().int, now, filters, k, held)
            peers = direction.graph_seeds == "similar_peers"
            fanned = _FannedOut(self, live, ray.put(spec), peers, arguments)
            answers, _ = fanned.collect()
            found = {s: a for s, a in answers.items() if a is not None}
            try:
                matches = self._merged(fanned, found, direction, k) if found else []
            except _LostLateError as error:  # a shard lost after answering: again, without it
                down |= error.shards
                continue
            return ShardedAnswer(matches, tuple(s for s in everyone if s not in answers))

    def why_empty(
        self,
        asker_kind: EntityKind,
        asker_id: int,
        candidate_kind: EntityKind,
        *,
        filters: Mapping[str, Any] | None = None,
    ) -> Reason:
        """Why there is nothing to show (any shard can tell: each holds every record)."""
        for shard in self.live_shards():
            spec = self._call(
                shard, "query_spec", EntityKind(asker_kind), asker_id, EntityKind(candidate_kind)
            )
            if spec is _NO_ANSWER:
                continue
            if spec is None:
                return INACTIVE
            reason = self._call(shard, "why_empty_of", spec, filters)
            if reason is not _NO_ANSWER:
                return reason  # type: ignore[no-any-return]
        raise NoShardAnswersError("no shard answers")

    def _call(self, shard: int, step: str, *args: Any) -> Any:
        """One step on one shard, or _NO_ANSWER when it is down (and marked so)."""
        found, _ = self.gathered({shard: self.shards[shard].run.remote(step, *args)})
        return found.get(shard, _NO_ANSWER)

    def _spec(
        self, live: Sequence[int], asker_kind: EntityKind, asker_id: int, candidate_kind: EntityKind
    ) -> QuerySpec | None:
        """The asker as its own shard sees it (another's re-encoding when that one is down). A
        founder asking for their startup's counterparts is resolved to the startup, whose shard
        makes the spec."""
        spec = self._awaited_spec(
            live, owner_of(asker_id, len(self.shards)), (asker_kind, asker_id, candidate_kind)
        )
        if spec is None or spec.exact or (asker_kind, candidate_kind) in self.directions_:
            return spec
        again = self._awaited_spec(  # a founder's startup lives elsewhere: its own shard knows it exactly
            live, owner_of(spec.asker_id, len(self.shards)), (spec.asker_kind, spec.asker_id, candidate_kind)
        )
        return again if again is not None else spec

    def _awaited_spec(self, live: Sequence[int], preferred: int, args: tuple[Any, ...]) -> QuerySpec | None:
        for shard in [preferred, *(s for s in live if s != preferred)]:
            if shard in live:
                spec = self._call(shard, "query_spec", *args)
                if spec is not _NO_ANSWER:
                    return spec  # type: ignore[no-any-return]
        raise NoShardAnswersError("no shard answers")

    def _merged(
        self, fanned: _FannedOut, answers: Mapping[int, Answer], direction: Direction, k: int
    ) -> list[Match]:
        """The shards' answers merged as the unsharded matcher ranks its pool, the shown explained
        by their answers or, for the others, by their owners in a second call (as are the vectors
        of a head reaching deeper into a shard than its answer sent)."""
        merge = _Merge(list(answers.values()), self.config.retrieval, k)
        if not len(merge.ids):
            return []
        nothing = np.zeros(0, np.int64)
        second = self._late(fanned, merge.unsent, nothing, {}, merge.vectors)
        kind = direction.candidate_kind
        placed = merge.placed(k, self.config.rerank, _HeldBack(kind, fanned.arguments[-1]))
        shown = merge.ids[[spot.at for spot in placed]]
        explained = {i: m for answer in answers.values() for i, m in answer.explained.items()}
        second |= self._late(fanned, nothing, shown, explained, merge.vectors)
        self.late_requests_ += second
        with self._lock:
            tracker = self.exposure_.setdefault(
                direction.name, ExposureTracker(cap=self.config.rerank.exposure_cap)
            )
            tracker.record(tuple((kind, int(i)) for i in shown.tolist()))
        display = display_scores(merge.mutual)
        return [
            _placed(pickle.loads(explained[int(merge.ids[spot.at])]), spot, float(display[spot.at]))  # noqa: S301 (a shard's)
            for spot in placed
        ]

    def _late(
        self,
        fanned: _FannedOut,
        vector_ids: np.ndarray,
        explain_ids: np.ndarray,
        explained: dict[int, bytes],
        vectors: _Shipped,
    ) -> bool:
        """Ask the owners for the vectors and explanations the first round did not bring; whether
        there were any."""
        explain_ids = explain_ids[[int(i) not in explained for i in explain_ids.tolist()]]
        if not len(vector_ids) and not len(explain_ids):
            return False
        shards = len(self.shards)
        found, lost = self.gathered(
            {
                shard: fanned.complete(
                    shard,
                    vector_ids[shard_of(vector_ids, shards) == shard],
                    explain_ids[shard_of(explain_ids, shards) == shard],
                )
                for shard in set(shard_of(np.concatenate([vector_ids, explain_ids]), shards).tolist())
            }
        )
        if lost:
            raise _LostLateError(lost)
        for shard, (sent, matches) in found.items():
            vectors.add(vector_ids[shard_of(vector_ids, shards) == shard], sent)
            explained.update(matches)
        return True

    # --- keeping current: every shard holds the records, the owner the channels ---------------

    def upsert_profile(self, kind: EntityKind, record: Mapping[str, Any]) -> None:
        self._write("upsert_profile", kind, dict(record))

    def remove_profile(self, kind: EntityKind, row_id: int) -> None:
        self._write("remove_profile", kind, row_id)
        self._forget(kind, row_id)

    def erase_profile(self, kind: EntityKind, row_id: int) -> None:
        self._write("erase_profile", kind, row_id)
        self._forget(kind, row_id)

    def observe(self, event: RelationEvent) -> None:
        self._write("apply_event", event)

    def set_team(self, startup_id: int, person_ids: list[int]) -> None:
        self._write("set_team", startup_id, person_ids)

    def set_history(self, history: History) -> None:
        self._write("set_history", history)

    def _forget(self, kind: EntityKind, row_id: int) -> None:
        with self._lock:
            for tracker in self.exposure_.values():
                tracker.forget((kind, row_id))

    def _write(self, step: str, *args: Any) -> None:
        """Sent to every shard; one restarting gets it once it is back (Ray queues it), and one
        rebuilding reads the database, which already holds it."""
        for handle in self.shards:
            handle.run.remote(step, *args)


def _placed(match: Match, spot: Placed, display: float) -> Match:
    return dataclasses.replace(
        match, rank=spot.rank, score_rank=spot.score_rank, moved_by=spot.moved_by, display_score=display
    )


def _pool(tops: Sequence[Tops], share: int, deal_history_share: int) -> np.ndarray:
    """Ids of the pool past a pool's worth of eligible candidates: each channel's ``share`` best
    over every shard (the deal history's ``deal_history_share``), and every applicant."""
    chosen = [
        _best([t.semantic for t in tops], share),
        _best([level.best for level in _lexical_level(tops, share)], share),
        _best([t.graph for t in tops], share),
        _best([t.backers for t in tops], share),
        _best([t.deal_history for t in tops], deal_history_share),
        *(t.applicants for t in tops),
    ]
    for signal in range(max((len(t.collaborative) for t in tops), default=0)):
        chosen.append(_best([t.collaborative[signal] for t in tops], share))
    return np.unique(np.concatenate(chosen))


class _Merge:
    """Shards' answers merged as the unsharded matcher ranks its pool: the pool chosen, its score
    order with the ties, and the head the diversity re-rank reads (the order of the answers does
    not matter).

    ``unsent`` are the ids in the head whose vectors no answer sent."""

    def __init__(self, parts: Sequence[Answer], retrieval: RetrievalConfig, k: int) -> None:
        ids = np.concatenate([p.ids for p in parts])
        mutual = np.concatenate([p.mutual for p in parts])
        applied = np.concatenate([p.applied for p in parts])
        if parts[0].admitted > retrieval.pool_size:
            tops = [p.tops for p in parts if p.tops is not None]
            kept = np.isin(ids, _pool(tops, retrieval.channel_share, retrieval.deal_history_share))
            ids, mutual, applied = ids[kept], mutual[kept], applied[kept]
        self.ids, self.mutual, self.applied = ids, mutual, applied
        self.order = np.lexsort((ids, -mutual))
        self.head = self.order[~applied[self.order]][: head_size(k)]
        self.vectors = _Shipped(parts)
        self.unsent = ids[self.head][~np.isin(ids[self.head], self.vectors.ids)]

    def placed(self, k: int, rerank: RerankConfig, held: _HeldBack) -> list[Placed]:
        """The ``k`` shown (:func:`matcher.matcher.place`), once every head vector is here."""
        ids = self.ids
        head_vectors = np.zeros((len(ids), self.vectors.width), dtype=self.vectors.dtype)
        head_vectors[self.head] = self.vectors.vectors[self.vectors.rows(ids[self.head])]
        applicants = frozenset(ids[self.applied].tolist())
        shown = Shown(self.order, self.mutual, head_vectors, ids, held.kind, applicants)
        return place(shown, k, rerank, held)


class _HeldBack(ExposureTracker):
    """The exposure cap as it stood when a query was sent (the ids it held back of ``kind``): the
    shards counted their likely shown with it, and the coordinator places the query's shown with
    it, whatever other queries record meanwhile. It records nothing: the coordinator records the
    shown in the real one."""

    def __init__(self, kind: EntityKind, held: np.ndarray) -> None:
        super().__init__(cap=None)
        self.kind = kind
        self._held = frozenset((kind, int(i)) for i in held.tolist())

    def over_cap(self, candidate: Hashable) -> bool:
        return candidate in self._held


def _lexical_level(tops: Sequence[Tops], count: int) -> list[Level]:
    """Each shard's part of the lexical share the unsharded channel stops at: the first finding
    ``count`` rows over all shards, or looking up every feature, else the last. A shard sends the
    shares up to the first where it alone finds ``count`` rows or looks up every feature: the
    whole stops there or before."""
    levels = list(zip(*(t.lexical for t in tops), strict=False))
    for level in levels:
        if sum(part.found for part in level) >= count or all(part.complete for part in level):
            return list(level)
    return list(levels[-1]) if levels else []


def _best(keys: Sequence[Keys], count: int) -> np.ndarray:
    """Ids of the ``count`` first by key over the shards' keys."""
    ids = np.concatenate([k.ids for k in keys]) if keys else np.zeros(0, np.int64)
    if not len(ids):
        return ids
    order = np.lexsort(
        (ids, np.concatenate([k.second for k in keys]), np.concatenate([k.first for k in keys]))
    )
    return ids[order[:count]]


class _Shipped:
    """The vectors the shards sent for their best candidates, found by id."""

    def __init__(self, parts: Sequence[Answer]) -> None:
        sent = [p for p in parts if len(p.vector_ids)]
        self.ids = np.concatenate([p.vector_ids for p in sent]) if sent else np.zeros(0, np.int64)
        self.vectors = np.concatenate([p.vectors for p in sent]) if sent else np.zeros((0, 0), np.float32)
        self._row: dict[int, int] | None = None

    @property
    def width(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.vectors.dtype

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.ids = np.concatenate([self.ids, ids])
            self.vectors = np.concatenate([self.vectors, vectors]) if len(self.vectors) else vectors
            self._row = None

    def rows(self, ids: np.ndarray) -> list[int]:
        if self._row is None:
            self._row = {int(i): row for row, i in enumerate(self.ids.tolist())}
        return [self._row[int(i)] for i in ids.tolist()]


def _result(ref: Any) -> Any:
    """A shard's finished call's result, or _NO_ANSWER when the shard died or restarted meanwhile.
    The query's fault (an unknown id, a kind that cannot ask) is raised as is; any other error is
    the code's fault, raised too."""
    try:
        return ray.get(ref)
    except RayTaskError as error:
        if isinstance(error.cause, LookupError | ValueError):
            raise error.cause from None
        if not isinstance(error, RayActorError):
            raise
    except RayActorError:
        pass
    return _NO_ANSWER


class _LostLateError(Exception):
    """Shards lost between their answer and a late request to them."""

    def __init__(self, shards: set[int]) -> None:
        super().__init__(f"shards {sorted(shards)} lost")
        self.shards = shards


# What a step returns when its shard is down.
_NO_ANSWER = object()
