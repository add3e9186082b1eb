"""Pair features, computed for one query against a pool of candidates at once.

Every feature lies in [0, 1] with 1 = best fit, so that weights are comparable and a
person can read a contribution as "how much this reason counted".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matcher.catalog import History, KindTable, _as_list, _number
from matcher.collaborative import CollaborativeIndex, QuerySignals, signature
from matcher.geography import GEOGRAPHY_FEATURES, PlaceOf, location_of, pair_geography, places
from matcher.graph import Node
from matcher.kinds import MATCHING
from models.enums import EntityKind
from models.places import Location
from models.taxonomy import ANYWHERE, AREAS, code_similarity, distance_km, stage_distance

# What the features mean, not settings: a trained ranker (matcher.ranker) learned on these
# scales, and the reasons (matcher.explain) describe the same quantities.
PROXIMITY_SCALE_KM = 15.0  # proximity 1/e at this distance
RECENCY_SCALE_DAYS = 180.0  # recency 1/e this long after the last activity
QUARTER_DAYS = 91  # the quarter of an investor's deals_per_quarter, here and in its reason
MAX_STAGE_GAP = 4  # stages this far apart on the ladder do not fit at all


@dataclass
class PairContext:
    """Everything the features of one query need; the pool is positions in ``table``."""

    asker_kind: EntityKind
    query: Mapping[str, Any]
    table: KindTable
    pool: np.ndarray
    history: History
    now: dt.datetime
    semantic: np.ndarray
    lexical: np.ndarray
    graph_proximity: np.ndarray
    graph_overlap: np.ndarray
    query_node: Node | None = None
    # Candidates (row ids) with an open application between them and the query, either way.
    applications: Mapping[int, dt.datetime] = field(default_factory=dict)
    # The history's view of a startup asking for investors; None in every other direction.
    collaborative: tuple[CollaborativeIndex, QuerySignals] | None = None
    # The same pair scores for an investor asking for startups (its deal flow): the index and
    # the investor; None in every other direction.
    investor_history: tuple[CollaborativeIndex, Node] | None = None
    place_of: PlaceOf = field(default=lambda _: Location())  # any profile's place, for the geography
    cache: dict[str, Any] = field(default_factory=dict)

    def nodes(self) -> list[Node]:
        if "nodes" not in self.cache:
            self.cache["nodes"] = [(self.table.kind, row_id) for row_id in self.table.ids[self.pool].tolist()]
        return self.cache["nodes"]  # type: ignore[no-any-return]


FeatureFn = Callable[[PairContext], np.ndarray]


def _per_group(
    context: PairContext,
    name: str,
    key: Callable[[Mapping[str, Any]], Hashable],
    score: Callable[[Any], float],
) -> np.ndarray:
    """``score`` of each pool row's ``key``, computed once per distinct key in the pool (a pool of
    hundreds holds a few dozen industry sets, stage lists or places)."""
    codes, keys = context.table.groups(name, key)
    in_pool = codes[context.pool]
    # Marking the groups present is O(pool + groups), where np.unique would sort the pool.
    present = np.zeros(len(keys), dtype=bool)
    present[in_pool] = True
    groups = np.flatnonzero(present)
    by_group: np.ndarray = np.zeros(len(keys))
    by_group[groups] = np.fromiter((score(keys[g]) for g in groups.tolist()), np.float64, len(groups))
    pooled: np.ndarray = by_group[in_pool]
    return pooled


def _industries(record: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(_as_list(record.get("industries")) or _as_list(record.get("industry")))


def industry(context: PairContext) -> np.ndarray:
    mine = _industries(context.query)
    return _per_group(context, "industry codes", _industries, lambda theirs: code_similarity(mine, theirs))


@functools.lru_cache(maxsize=4096)
def _stage_fit(stage: Any, stages: tuple[Any, ...]) -> float:
    if stage is None or not stages:
        return 0.5  # nothing stated: neither a fit nor a misfit
    gap = min(stage_distance(stage, other) for other in stages)
    return max(0.0, 1.0 - gap / MAX_STAGE_GAP)


def _stage(record: Mapping[str, Any]) -> Any:
    return record.get("stage")


def _stages(record: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(_as_list(record.get("stages")))


def stage(context: PairContext) -> np.ndarray:
    query = context.query
    if "stage" in query:
        return _per_group(context, "stages", _stages, lambda stages: _stage_fit(query["stage"], stages))
    wanted = _stages(query)
    return _per_group(context, "stage", _stage, lambda at: _stage_fit(at, wanted))


def _ticket_fit(ask: Any, low: Any, high: Any) -> np.ndarray:
    """1 at the geometric centre of the range, 0.5 at its edges; 0.5 when unknown (NaN or no ask).

    Arguments are finite numbers, NaN for missing, or arrays of them (broadcast together).
    """
    ask, low, high = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (ask, low, high)))
    known = (ask != 0) & ~np.isnan(ask) & ~np.isnan(high)
    low = np.fmax(low, 1.0)  # fmax, unlike maximum, takes 1 over NaN: a missing minimum counts as 1
    high = np.maximum(high, low * 1.01)
    with np.errstate(invalid="ignore"):  # unknown rows are NaN here and answered 0.5 below
        half_width = np.log(high / low) / 2
        offset = np.abs(np.log(np.maximum(ask, 1.0)) - (np.log(low) + half_width))
        fit = np.maximum(0.0, 1.0 - 0.5 * offset / half_width)
    return np.where(known, fit, 0.5)


def ticket(context: PairContext) -> np.ndarray:
    query, table, pool = context.query, context.table, context.pool
    if "ticket_min_cny" in query:
        low, high = _number(query["ticket_min_cny"]), _number(query.get("ticket_max_cny"))
        return _ticket_fit(table.numbers("funding_ask_cny")[pool], low, high)
    ask = _number(query.get("funding_ask_cny"))
    return _ticket_fit(ask, table.numbers("ticket_min_cny")[pool], table.numbers("ticket_max_cny")[pool])


def _places(record: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        p
        for p in _as_list(record.get("districts")) + _as_list(record.get("district"))
        if p in AREAS or p == ANYWHERE
    )


@functools.lru_cache(maxsize=4096)
def _proximity(mine: tuple[str, ...], theirs: tuple[str, ...]) -> float:
    if not mine or not theirs:
        return 0.5
    if ANYWHERE in mine or ANYWHERE in theirs:
        return 1.0
    nearest = min(distance_km(a, b) for a in mine for b in theirs)
    return math.exp(-nearest / PROXIMITY_SCALE_KM)


def proximity(context: PairContext) -> np.ndarray:
    mine = _places(context.query)
    return _per_group(context, "places", _places, lambda theirs: _proximity(mine, theirs))


def capacity(context: PairContext) -> np.ndarray:
    table, pool = context.table, context.pool
    if table.kind is EntityKind.investor:
        since = context.now - dt.timedelta(days=QUARTER_DAYS)
        investments = context.history.investments
        recent = [sum(1 for when in investments.get(n, ()) if when >= since) for n in context.nodes()]
        return 1.0 - _share(np.asarray(recent, dtype=np.float64), table.numbers("deals_per_quarter")[pool])
    room = MATCHING[table.kind].room
    if room is None:
        return np.ones(len(pool))
    share = _share(table.numbers(room.count)[pool], table.numbers(room.total)[pool])
    return 1.0 - share if room.counts_used else share


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """part / whole within [0, 1]; 0 where the whole is missing or zero, a missing part counts 0."""
    stated = np.nan_to_num(whole) != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.clip(np.nan_to_num(part) / whole, 0.0, 1.0)
    return np.where(stated, share, 0.0)


def popularity(context: PairContext) -> np.ndarray:
    """Damped: the log keeps the most connected from drowning every other reason."""
    counts = np.asarray(context.history.relation_counts(context.nodes()), dtype=np.float64)
    return 1.0 - 1.0 / (1.0 + np.log1p(counts))


def recency(context: PairContext) -> np.ndarray:
    last, now = context.history.last_active, context.now
    return np.asarray(
        [
            0.0
            if (when := last.get(n)) is None
            else math.exp(-max((now - when).days, 0) / RECENCY_SCALE_DAYS)
            for n in context.nodes()
        ]
    )


def applied(context: PairContext) -> np.ndarray:
    """The candidate applied to the query (a space's applicants) or the other way round."""
    applications = context.applications
    ids = context.table.ids[context.pool].tolist()
    return np.fromiter((1.0 if i in applications else 0.0 for i in ids), np.float64, len(ids))


def _investor_signals(context: PairContext) -> QuerySignals:
    """The asking investor's column of each pool startup's signals, computed once per distinct
    industries, round and places in the pool."""
    if "investor signals" not in context.cache:
        assert context.investor_history is not None  # an investor asking for startups
        index, investor = context.investor_history
        codes, keys = context.table.groups("history signature", signature)
        in_pool = codes[context.pool]
        groups, rows = np.unique(in_pool, return_inverse=True)
        found = index.investor_signals(investor, [keys[g] for g in groups.tolist()])
        context.cache["investor signals"] = QuerySignals(
            **{part.name: getattr(found, part.name)[rows] for part in dataclasses.fields(QuerySignals)}
        )
    return context.cache["investor signals"]  # type: ignore[no-any-return]


def _collaborative(name: str) -> FeatureFn:
    """One of the query's collaborative signals, read at each pool row's column (0 when unindexed),
    or, when an investor asks for startups, its own column of each startup's signals."""

    def feature(context: PairContext) -> np.ndarray:
        if context.investor_history is not None:
            own: np.ndarray = getattr(_investor_signals(context), name)
            return own
        if context.collaborative is None:
            return np.zeros(len(context.pool))
        index, signals = context.collaborative
        values: np.ndarray = getattr(signals, name)
        columns = np.asarray([index.column.get(node, -1) for node in context.nodes()], dtype=np.int64)
        return np.where(columns >= 0, values[np.maximum(columns, 0)] if len(values) else 0.0, 0.0)

    return feature


def _activity(days: int) -> FeatureFn:
    """Deals in the ``days`` before the index's moment, damped like popularity."""

    def feature(context: PairContext) -> np.ndarray:
        if context.collaborative is None:
            return np.zeros(len(context.pool))
        counts = context.collaborative[0].recent_deals(context.nodes(), days)
        damped: np.ndarray = 1.0 - 1.0 / (1.0 + np.log1p(counts))
        return damped

    return feature


def recent_popularity(context: PairContext) -> np.ndarray:
    """The recent-popularity baseline's score: deals weighted by their age, over the busiest's."""
    if context.collaborative is None:
        return np.zeros(len(context.pool))
    return context.collaborative[0].recent_popularity(context.nodes())


def _geography(context: PairContext) -> dict[str, np.ndarray]:
    """Every geography feature of the pool at once (they share the investors' footprints)."""
    if "geography" not in context.cache:
        query_node = context.query_node or (context.asker_kind, int(context.query.get("id", 0)))
        codes, known = places(context.table)
        pool = list(zip(context.nodes(), [known[code] for code in codes[context.pool].tolist()], strict=True))
        query = (query_node, location_of(context.query))
        context.cache["geography"] = pair_geography(
            query, pool, context.history, context.place_of, context.now
        )
    return context.cache["geography"]  # type: ignore[no-any-return]


def _geography_feature(name: str) -> FeatureFn:
    return lambda context: _geography(context)[name]


FEATURES: dict[str, FeatureFn] = {
    "semantic": lambda c: np.clip(c.semantic, 0.0, 1.0),
    "lexical": lambda c: np.clip(c.lexical, 0.0, 1.0),
    "industry": industry,
    "stage": stage,
    "ticket": ticket,
    "proximity": proximity,
    "capacity": capacity,
    "popularity": popularity,
    "recency": recency,
    "graph_proximity": lambda c: c.graph_proximity,
    "graph_overlap": lambda c: c.graph_overlap,
    "applied": applied,
    "segment_popularity": _collaborative("segment_popularity"),
    "peer_investors": _collaborative("peer_investors"),
    "industry_share": _collaborative("industry_share"),
    "stage_share": _collaborative("stage_share"),
    "place_share": _collaborative("place_share"),
    "activity_90": _activity(90),
    "activity_365": _activity(365),
    "recent_popularity": recent_popularity,
    "co_investment": _collaborative("co_investment"),
    **{name: _geography_feature(name) for name in GEOGRAPHY_FEATURES},
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)


def feature_matrix(context: PairContext, names: tuple[str, ...] = FEATURE_NAMES) -> np.ndarray:
    """(len(pool), len(names)) float64 matrix of the named features."""
    if len(context.pool) == 0:
        return np.zeros((0, len(names)))
    return np.column_stack([FEATURES[name](context).astype(np.float64) for name in names])
