"""Sharded serving: each kind's candidates split by a stable hash of their id over Ray actors.

Every shard holds the whole catalogue's records and the history (eligibility, the graph, the
collaborative signals and the geography read profiles of any kind), but only its own part of
the text channels: the vectors and lexical rows of the candidates it owns. What a query needs
is split by where it can run:

- per candidate, on the owning shard: eligibility, the semantic and lexical channels, pair
  features, both sides' scores, contributions and reasons;
- across the whole pool, in the coordinator (:class:`ShardedMatcher`): the query's peers (a
  search over every shard), the pool (all eligible candidates, or each channel's best over
  every shard), the score order with its ties, diversity and exposure (:func:`matcher.matcher.place`)
  and the display scale.

Each step gives the shards exactly what the unsharded matcher would read (the graph walk is
scaled by its highest score in the whole pool, the diversity re-rank reads the vectors of the
best candidates of the whole pool, a lexical feature is as rare as in the whole table, equal
scores at a channel's cut are split as the unsharded index and channel split them), so a sharded
answer is the unsharded one. A shard that
does not answer (dead, or restarting) is left out: the answer is then partial and names it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import itertools
import pickle
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Self

import numpy as np
import ray
import scipy.sparse as sp
from ray.exceptions import RayActorError, RayError, RayTaskError

from matcher.catalog import Catalog, History, KindTable
from matcher.channels import best_positions
from matcher.config import MatcherConfig
from matcher.explain import Reason
from matcher.features import PairContext, feature_matrix
from matcher.graph import Node, RelationEvent
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
from matcher.rerank import ExposureTracker
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


@dataclass(frozen=True)
class Asked:
    """One step of a query, as sent to a shard: the same token, spec, peers and time in every step.
    The token is unique across coordinators (several API workers may share the shards)."""

    token: int
    spec: QuerySpec
    peers: tuple[Node, ...] | None
    now: dt.datetime
    filters: Mapping[str, Any] | None

    @functools.cached_property
    def _pickled(self) -> bytes:
        return pickle.dumps(
            (self.token, self.spec, self.peers, self.now, self.filters), protocol=pickle.HIGHEST_PROTOCOL
        )

    def __reduce__(self) -> tuple[Callable[[bytes], Asked], tuple[bytes]]:
        # Pickled once per query with the C pickler: Ray's cloudpickle would walk the asker's
        # record again for every shard and step, at most of the coordinator's CPU.
        return _unpickled_asked, (self._pickled,)


def _unpickled_asked(pickled: bytes) -> Asked:
    return Asked(*pickle.loads(pickled))  # noqa: S301 (written by the coordinator, read by its shards)


class Level(NamedTuple):
    """One share of the lexical retrieval (:meth:`matcher.channels.KindChannels.lexical_levels`)
    on a shard: how many rows it found, its best, and whether every feature was looked up."""

    found: int
    best: list[tuple[float, int, int]]  # (-weight, position, id)
    complete: bool


class Tops(NamedTuple):
    """A shard's best candidates in each channel, each with its key in the whole pool's order
    (positions are the same on every shard: each holds the whole table)."""

    # (-similarity, -position, id): the index's exact scan keeps the later of equal vectors at the
    # cut, and a shard's vectors are in the whole index's order (positions as slots).
    semantic: list[tuple[float, int, int]]
    lexical: list[Level]
    graph: list[tuple[float, int, int]]  # (-walk score, place in the walk's order, id)
    collaborative: list[list[tuple[int, int]]]  # per signal: (rank among the indexed investors, id)
    applicants: list[int]


class Survey(NamedTuple):
    """A shard's eligible candidates: how many, their ids (with open applicants) when few, and
    each channel's best when many (saving the coordinator a second round)."""

    admitted: int
    applicants: int
    ids: np.ndarray | None
    tops: Tops | None


class ScoredPart(NamedTuple):
    """A shard's part of the pool, scored: row for row ids, features and scores, the vectors
    of its best candidates (all the diversity re-rank can read of it), and those most likely
    shown already explained (not yet placed), saving most queries a round of explaining."""

    ids: np.ndarray
    features: np.ndarray
    asker: np.ndarray
    candidate: np.ndarray
    mutual: np.ndarray
    head_ids: np.ndarray
    head_vectors: np.ndarray
    applied: list[int]
    explained: list[Match]


class Pick(NamedTuple):
    """One shown candidate its shard did not explain with its scores, for it to explain."""

    row_id: int
    scored: Scored
    features: np.ndarray


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
        self._asked: OrderedDict[int, _Query] = OrderedDict()
        self._pinned_now: dt.datetime | None = None
        super().fit(catalog, **params)
        for kind, channel in self.channels_.kinds.items():
            channel.keep_only(self.owned(kind))
        return self

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

    def peers_of(self, kind: EntityKind, semantic: np.ndarray, count: int) -> list[tuple[float, int]]:
        """This shard's profiles of ``kind`` most like the query, as (-similarity, id)."""
        return [
            (-score, row_id) for row_id, score in self.channels_.kinds[kind].index.search(semantic, count)
        ]

    def survey(self, asked: Asked) -> Survey:
        query = self._asked_query(asked)
        mask, applicants = self._eligible_owned(query, asked.filters)
        admitted = int(np.count_nonzero(mask))
        pool_size = self.config_.retrieval.pool_size
        table = self.catalog_.tables[query.direction.candidate_kind]
        ids = table.ids[np.union1d(np.flatnonzero(mask), applicants)] if admitted <= pool_size else None
        # Past its share of the pool, the whole is likely past the pool: the channels are read now.
        tops = self._tops(query, mask, applicants) if admitted > pool_size // self.shards else None
        return Survey(admitted, len(applicants), ids, tops)

    def channel_tops(self, asked: Asked) -> Tops:
        """Each channel's best of this shard's eligible candidates, as many as the whole pool
        takes from a channel: the whole pool's best are among the shards' best."""
        query = self._asked_query(asked)
        return self._tops(query, *self._eligible_owned(query, asked.filters))

    def _tops(self, query: _Query, mask: np.ndarray, applicants: np.ndarray) -> Tops:
        table = self.catalog_.tables[query.direction.candidate_kind]
        channel = self.channels_.kinds[table.kind]
        share = self.config_.retrieval.pool_size // 3
        hits = channel.index.search(query.semantic, share, allowed=channel.semantic_filter(mask))
        levels = [
            Level(
                len(found),
                self._keyed(table, best_positions(found, weights, share), weights, found),
                complete,
            )
            for found, weights, complete in channel.lexical_levels(query.lexical, mask)
        ]
        graph = self._graph_scores(query)
        walked = [
            (-score, order, node[1])
            for order, (node, score) in enumerate(graph.items())
            if node[1] in table and mask[table.position(node[1])]
        ]
        walked.sort()
        return Tops(
            semantic=[(-score, -table.position(row_id), row_id) for row_id, score in hits],
            lexical=levels,
            graph=walked[:share],
            collaborative=self._collaborative_tops(query, mask, share),
            applicants=table.ids[applicants].tolist(),
        )

    @staticmethod
    def _keyed(
        table: KindTable, chosen: np.ndarray, weights: np.ndarray, found: np.ndarray
    ) -> list[tuple[float, int, int]]:
        weight_of = dict(zip(found.tolist(), weights.tolist(), strict=True))
        return [(-weight_of[p], p, int(table.ids[p])) for p in chosen.tolist()]

    def score_part(self, asked: Asked, pool_ids: np.ndarray, k: int) -> ScoredPart:
        """Features and scores of this shard's part of the pool; the graph walk is scaled by its
        highest score in the whole pool, as the unsharded matcher scales it."""
        query = self._asked_query(asked)
        table = self.catalog_.tables[query.direction.candidate_kind]
        walk = self._walk(query, [(table.kind, int(i)) for i in pool_ids.tolist()])
        ids = pool_ids[shard_of(pool_ids, self.shards) == self.shard]
        positions = np.asarray([table.position(int(i)) for i in ids], dtype=np.int64)
        vectors = self._pool_vectors(table.kind, positions)
        context = self._context(query, positions, vectors, walk_scale=float(walk.max()) if len(walk) else 0.0)
        features = feature_matrix(context)
        asker, candidate = self.scorer_.side_scores(features, query.direction)
        mutual = fuse(asker, candidate, self.config_.fusion)
        order = np.lexsort((ids, -mutual))
        applied = np.isin(ids[order], np.fromiter(context.applications, np.int64, len(context.applications)))
        head = order[~applied][: head_size(k)]
        applicants = [int(i) for i in ids[order[applied]]]
        # Its best k applicants and k others: what is shown unless diversity reaches deeper here.
        likely = np.concatenate([order[applied][:k], head[:k]]).tolist()
        scored = [Scored(float(mutual[at]), float(asker[at]), float(candidate[at])) for at in likely]
        explained = self._explained(query, context, likely, features[likely], scored)
        return ScoredPart(
            ids, features, asker, candidate, mutual, ids[head], vectors[head], applicants, explained
        )

    def explain(self, asked: Asked, picks: Sequence[Pick]) -> list[Match]:
        """The shown candidates this shard owns that it did not explain while scoring."""
        query = self._asked_query(asked)
        table = self.catalog_.tables[query.direction.candidate_kind]
        positions = np.asarray([table.position(p.row_id) for p in picks], dtype=np.int64)
        context = self._context(query, positions, self._pool_vectors(table.kind, positions))
        features = np.asarray([p.features for p in picks]).reshape(len(picks), -1)
        return self._explained(query, context, range(len(picks)), features, [p.scored for p in picks])

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

    def _asked_query(self, asked: Asked) -> _Query:
        """The query of ``asked``, kept between its steps (its graph walk and signals are reused)."""
        self._pinned_now = asked.now
        query = self._asked.get(asked.token)
        if query is None:
            spec = asked.spec
            direction = self.directions_[(spec.asker_kind, spec.candidate_kind)]
            node = (spec.asker_kind, spec.asker_id)
            query = _Query(direction, node, spec.record, spec.semantic, spec.lexical)
            if asked.peers is not None:
                query.cache["peers"] = asked.peers
            self._asked[asked.token] = query
            while len(self._asked) > _KEPT_QUERIES:
                self._asked.popitem(last=False)
        return query

    def _eligible_owned(
        self, query: _Query, filters: Mapping[str, Any] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`Matcher._retrieve` admits them, of this shard's candidates: the eligibility
        mask and the positions of the open applicants."""
        mask, applicants = self._eligible(query, filters)
        owned = self.owned(query.direction.candidate_kind)
        return mask & owned, applicants[owned[applicants]]

    def _collaborative_tops(self, query: _Query, mask: np.ndarray, share: int) -> list[list[tuple[int, int]]]:
        found = self._signals(query)
        if found is None:
            return []
        index, signals = found
        table = self.catalog_.tables[query.direction.candidate_kind]

        def best(scores: np.ndarray) -> list[tuple[int, int]]:
            ranked = (
                (rank, node[1])
                for rank, node in enumerate(index.top(scores, len(index)))
                if node[1] in table and mask[table.position(node[1])]
            )
            return list(itertools.islice(ranked, share))

        return [best(signals.segment_popularity), best(signals.peer_investors)]

    def _now(self) -> dt.datetime:
        # One "now" for every shard in every step of a query: the coordinator's.
        return self._pinned_now if self._pinned_now is not None else super()._now()


class ShardHost:
    """One shard in its own process (a Ray actor): builds its part at start, and again when Ray
    restarts it, from ``build`` (shard, shards → a fitted :class:`ShardMatcher`)."""

    def __init__(self, shard: int, shards: int, build: Callable[[int, int], ShardMatcher]) -> None:
        self.matcher = build(shard, shards)

    def ping(self) -> int:
        return self.matcher.shard

    def run(self, step: str, *args: Any) -> Any:
        if step not in SHARD_STEPS:
            raise ValueError(f"step: {step!r} is not a shard's step")
        return getattr(self.matcher, step)(*args)


# What the coordinator asks of a shard: a query's steps, and the writes every shard applies.
SHARD_STEPS = frozenset(
    {
        "query_spec",
        "peers_of",
        "survey",
        "channel_tops",
        "score_part",
        "explain",
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
    host = ray.remote(num_cpus=0, max_restarts=max_restarts, max_task_retries=0)(ShardHost)
    handles: list[Any] = [host.remote(shard, shards, build) for shard in range(shards)]
    ray.get([handle.ping.remote() for handle in handles])
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


class _Round:
    """The shards taking part in one query: a shard that fails to answer a step is out of the rest."""

    def __init__(self, coordinator: ShardedMatcher) -> None:
        self.coordinator = coordinator
        self.live = coordinator.live_shards()
        self.missing = set(range(len(coordinator.shards))) - set(self.live)

    def each(self, step: str, *args: Any) -> dict[int, Any]:
        return self.each_with(dict.fromkeys(self.live, args), step)

    def each_with(self, arguments: Mapping[int, tuple[Any, ...]], step: str) -> dict[int, Any]:
        if not arguments:
            return {}
        handles = self.coordinator.shards
        asked = {shard: handles[shard].run.remote(step, *args) for shard, args in arguments.items()}
        ready, _ = ray.wait(list(asked.values()), num_returns=len(asked), timeout=self.coordinator.timeout)
        answered = {ref.hex() for ref in ready}
        answers: dict[int, Any] = {}
        for shard, ref in asked.items():
            try:
                if ref.hex() not in answered:
                    raise TimeoutError(f"shard {shard} did not answer in {self.coordinator.timeout} s")
                answers[shard] = ray.get(ref)
            except RayTaskError as error:
                # The query's fault (an unknown id, a kind that cannot ask) is said as is; any other
                # error is a fault of the code, not of a shard, and is not hidden in a partial answer.
                if isinstance(error.cause, LookupError | ValueError):
                    raise error.cause from None
                raise
            except (RayActorError, TimeoutError):  # dead, restarting or stuck: left out of this answer
                self._lost(shard)
        return answers

    def _lost(self, shard: int) -> None:
        self.coordinator.mark_down(shard)
        self.missing.add(shard)
        self.live = [s for s in self.live if s != shard]


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
        Seconds a shard has to answer a step before the answer goes on without it.
    """

    def __init__(
        self,
        shards: Sequence[Any],
        *,
        config: MatcherConfig | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.shards = list(shards)
        self.config = config or MatcherConfig()
        self.clock = clock
        self.timeout = timeout
        self.directions_ = self.config.directions()
        self.exposure_: dict[str, ExposureTracker] = {}
        self._lock = threading.Lock()
        self._probes: dict[int, Any] = {}  # a shard that failed: its ping, answered once it is back

    def live_shards(self) -> list[int]:
        with self._lock:
            for shard, probe in list(self._probes.items()):
                ready, _ = ray.wait([probe], timeout=0)
                if ready:
                    try:
                        ray.get(probe)
                        del self._probes[shard]
                    except RayError:
                        self._probes[shard] = self.shards[shard].ping.remote()
            return [shard for shard in range(len(self.shards)) if shard not in self._probes]

    def mark_down(self, shard: int) -> None:
        with self._lock:
            if shard not in self._probes:
                self._probes[shard] = self.shards[shard].ping.remote()

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
        run = _Round(self)
        try:
            spec = self._spec(run, EntityKind(asker_kind), asker_id, EntityKind(candidate_kind))
        except NoShardAnswersError:
            spec = None  # every shard down (restarting): an empty answer naming them all
        if spec is None:
            return ShardedAnswer([], tuple(sorted(run.missing)))
        now = self.clock() if self.clock is not None else dt.datetime.now(dt.UTC)
        asked = Asked(uuid.uuid4().int, spec, self._peers(run, spec), now, filters)
        pool = self._pool(run, asked)
        matches = self._rank(run, asked, pool, k) if len(pool) else []
        return ShardedAnswer(matches, tuple(sorted(run.missing)))

    def why_empty(
        self,
        asker_kind: EntityKind,
        asker_id: int,
        candidate_kind: EntityKind,
        *,
        filters: Mapping[str, Any] | None = None,
    ) -> Reason:
        """Why there is nothing to show (any shard can tell: each holds every record)."""
        run = _Round(self)
        for shard in run.live:
            answer = run.each_with(
                {shard: (EntityKind(asker_kind), asker_id, EntityKind(candidate_kind))}, "query_spec"
            )
            if shard in answer:
                spec = answer[shard]
                if spec is None:
                    return INACTIVE
                reason: Reason = run.each_with({shard: (spec, filters)}, "why_empty_of")[shard]
                return reason
        raise NoShardAnswersError("no shard answers")

    def _spec(
        self, run: _Round, asker_kind: EntityKind, asker_id: int, candidate_kind: EntityKind
    ) -> QuerySpec | None:
        """The asker, from the shard owning it (re-encoded by another when that one is down)."""
        first = self._ask_one(
            run, owner_of(asker_id, len(self.shards)), (asker_kind, asker_id, candidate_kind)
        )
        if first is None or first.exact:
            return first
        owner = owner_of(first.asker_id, len(self.shards))  # a founder's startup lives elsewhere
        again = self._ask_one(run, owner, (first.asker_kind, first.asker_id, candidate_kind))
        return again if again is not None else first

    def _ask_one(self, run: _Round, preferred: int, args: tuple[Any, ...]) -> QuerySpec | None:
        for shard in [preferred, *(s for s in run.live if s != preferred)]:
            if shard in run.live:
                answer = run.each_with({shard: args}, "query_spec")
                if shard in answer:
                    spec: QuerySpec | None = answer[shard]
                    return spec
        raise NoShardAnswersError("no shard answers")

    def _peers(self, run: _Round, spec: QuerySpec) -> tuple[Node, ...] | None:
        """The profiles most like the asker over every shard, when its direction walks from them."""
        direction = self.directions_[(spec.asker_kind, spec.candidate_kind)]
        if direction.graph_seeds != "similar_peers":
            return None
        count = self.config.retrieval.peer_count
        found = run.each("peers_of", spec.asker_kind, spec.semantic, count + 1)
        best = sorted(itertools.chain.from_iterable(found.values()))[: count + 1]
        node = (spec.asker_kind, spec.asker_id)
        return tuple((spec.asker_kind, row_id) for _, row_id in best if (spec.asker_kind, row_id) != node)[
            :count
        ]

    def _pool(self, run: _Round, asked: Asked) -> np.ndarray:
        """Ids of the candidates to score: every eligible one, or each channel's best over all shards."""
        surveys: dict[int, Survey] = run.each("survey", asked)
        admitted = sum(s.admitted for s in surveys.values())
        if not admitted and not sum(s.applicants for s in surveys.values()):
            return np.zeros(0, dtype=np.int64)
        if admitted <= self.config.retrieval.pool_size:
            parts = [s.ids for s in surveys.values() if s.ids is not None]
            return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
        unread = [shard for shard, survey in surveys.items() if survey.tops is None]
        tops = [s.tops for s in surveys.values() if s.tops is not None]
        tops += run.each_with(dict.fromkeys(unread, (asked,)), "channel_tops").values()
        share = self.config.retrieval.pool_size // 3

        def best(lists: Sequence[Sequence[tuple[Any, ...]]]) -> list[int]:
            return [int(entry[-1]) for entry in sorted(itertools.chain.from_iterable(lists))[:share]]

        chosen = [
            best([t.semantic for t in tops]),
            best([level.best for level in _lexical_level(tops, share)]),
            best([t.graph for t in tops]),
            [i for t in tops for i in t.applicants],
        ]
        for signal in range(max((len(t.collaborative) for t in tops), default=0)):
            chosen.append(best([t.collaborative[signal] for t in tops]))
        return np.unique(np.concatenate([np.asarray(c, dtype=np.int64) for c in chosen]))

    def _rank(self, run: _Round, asked: Asked, pool: np.ndarray, k: int) -> list[Match]:
        parts: list[ScoredPart] = [p for p in run.each("score_part", asked, pool, k).values() if len(p.ids)]
        if not parts:
            return []
        ids = np.concatenate([p.ids for p in parts])
        features = np.concatenate([p.features for p in parts])
        asker = np.concatenate([p.asker for p in parts])
        candidate = np.concatenate([p.candidate for p in parts])
        mutual = np.concatenate([p.mutual for p in parts])
        vectors = _head_vectors(ids, parts)
        order = np.lexsort((ids, -mutual))
        applied = frozenset(i for p in parts for i in p.applied)
        spec = asked.spec
        shown = Shown(order, mutual, vectors, ids, spec.candidate_kind, applied)
        with self._lock:
            tracker = self.exposure_.setdefault(
                spec.direction, ExposureTracker(cap=self.config.rerank.exposure_cap)
            )
            placed = place(shown, k, self.config.rerank, tracker)
        display = display_scores(mutual)
        explained = {m.id: m for p in parts for m in p.explained}
        picks: dict[int, list[Pick]] = {}
        for spot in placed:
            row_id = int(ids[spot.at])
            if row_id not in explained:
                scored = Scored(float(mutual[spot.at]), float(asker[spot.at]), float(candidate[spot.at]))
                picks.setdefault(owner_of(row_id, len(self.shards)), []).append(
                    Pick(row_id, scored, features[spot.at])
                )
        late = run.each_with({shard: (asked, chosen) for shard, chosen in picks.items()}, "explain")
        explained.update((m.id, m) for matches in late.values() for m in matches)
        return [
            _placed(explained[int(ids[spot.at])], spot, float(display[spot.at]))
            for spot in placed
            if int(ids[spot.at]) in explained  # not when its shard was lost since scoring
        ]

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


def _lexical_level(tops: Sequence[Tops], count: int) -> list[Level]:
    """Each shard's part of the lexical share the unsharded channel stops at: the first finding
    ``count`` rows over all shards, or looking up every feature, else the last."""
    levels = list(zip(*(t.lexical for t in tops), strict=True))
    for level in levels:
        if sum(part.found for part in level) >= count or all(part.complete for part in level):
            return list(level)
    return list(levels[-1]) if levels else []


def _head_vectors(ids: np.ndarray, parts: Sequence[ScoredPart]) -> np.ndarray:
    """The pool's vectors, row for row with ``ids``: those each shard sent (its best), zeros
    elsewhere, which the diversity re-rank never reads (see :meth:`ShardMatcher.score_part`)."""
    sent = [p for p in parts if len(p.head_ids)]
    if not sent:
        return np.zeros((len(ids), 0))
    vectors = np.zeros((len(ids), sent[0].head_vectors.shape[1]), dtype=sent[0].head_vectors.dtype)
    at = {int(row_id): i for i, row_id in enumerate(ids.tolist())}
    for part in sent:
        vectors[[at[int(i)] for i in part.head_ids.tolist()]] = part.head_vectors
    return vectors
