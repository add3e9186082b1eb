"""Pair features, computed for one query against a pool of candidates at once.

Every feature lies in [0, 1] with 1 = best fit, so that weights are comparable and a
person can read a contribution as "how much this reason counted".
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matcher.catalog import History, KindTable, _as_list
from matcher.graph import Node
from models.enums import EntityKind
from models.taxonomy import ANYWHERE, AREAS, code_similarity, distance_km, stage_distance

PROXIMITY_SCALE_KM = 15.0
RECENCY_SCALE_DAYS = 180.0
INVESTOR_QUARTER_DAYS = 91
MAX_STAGE_GAP = 4


@dataclass
class PairContext:
    """Everything the features of one query need; the pool is positions in ``table``."""

    query_kind: EntityKind
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
    cache: dict[str, Any] = field(default_factory=dict)

    def records(self) -> list[Mapping[str, Any]]:
        if "records" not in self.cache:
            self.cache["records"] = [self.table.records[at] for at in self.pool]
        return self.cache["records"]  # type: ignore[no-any-return]

    def nodes(self) -> list[Node]:
        if "nodes" not in self.cache:
            self.cache["nodes"] = [(self.table.kind, int(row_id)) for row_id in self.table.ids[self.pool]]
        return self.cache["nodes"]  # type: ignore[no-any-return]


FeatureFn = Callable[[PairContext], np.ndarray]


def _industries(record: Mapping[str, Any]) -> list[str]:
    return _as_list(record.get("industries")) or _as_list(record.get("industry"))


def industry(context: PairContext) -> np.ndarray:
    mine = frozenset(_industries(context.query))
    return np.asarray([code_similarity(mine, frozenset(_industries(r))) for r in context.records()])


@functools.lru_cache(maxsize=4096)
def _stage_fit(stage: Any, stages: tuple[Any, ...]) -> float:
    if stage is None or not stages:
        return 0.5  # nothing stated: neither a fit nor a misfit
    gap = min(stage_distance(stage, other) for other in stages)
    return max(0.0, 1.0 - gap / MAX_STAGE_GAP)


def stage(context: PairContext) -> np.ndarray:
    query, records = context.query, context.records()
    if "stage" in query:
        return np.asarray([_stage_fit(query["stage"], tuple(_as_list(r.get("stages")))) for r in records])
    stages = tuple(_as_list(query.get("stages")))
    return np.asarray([_stage_fit(r.get("stage"), stages) for r in records])


def _ticket_fit(ask: Any, low: Any, high: Any) -> float:
    """1 at the geometric centre of the range, 0.5 at its edges; 0.5 when unknown."""
    if ask is None or not ask or high is None:
        return 0.5
    low = max(float(low or 0), 1.0)
    high = max(float(high), low * 1.01)
    half_width = math.log(high / low) / 2
    offset = abs(math.log(max(float(ask), 1.0)) - (math.log(low) + half_width))
    return float(max(0.0, 1.0 - 0.5 * offset / half_width))


def ticket(context: PairContext) -> np.ndarray:
    query, records = context.query, context.records()
    if "ticket_min_cny" in query:
        return np.asarray(
            [
                _ticket_fit(r.get("funding_ask_cny"), query["ticket_min_cny"], query.get("ticket_max_cny"))
                for r in records
            ]
        )
    ask = query.get("funding_ask_cny")
    return np.asarray([_ticket_fit(ask, r.get("ticket_min_cny"), r.get("ticket_max_cny")) for r in records])


def _places(record: Mapping[str, Any]) -> list[str]:
    return [
        p
        for p in _as_list(record.get("districts")) + _as_list(record.get("district"))
        if p in AREAS or p == ANYWHERE
    ]


def _proximity(mine: list[str], theirs: list[str]) -> float:
    if not mine or not theirs:
        return 0.5
    if ANYWHERE in mine or ANYWHERE in theirs:
        return 1.0
    nearest = min(distance_km(a, b) for a in mine for b in theirs)
    return math.exp(-nearest / PROXIMITY_SCALE_KM)


def proximity(context: PairContext) -> np.ndarray:
    mine = _places(context.query)
    return np.asarray([_proximity(mine, _places(r)) for r in context.records()], dtype=np.float64)


def _free_share(record: Mapping[str, Any], history: History, node: Node, now: dt.datetime) -> float:
    kind = node[0]
    if kind is EntityKind.space:
        return _share(record.get("seats_vacant"), record.get("seats_total"))
    if kind is EntityKind.practice_base:
        return _share(record.get("slots_free"), record.get("slots_total"))
    if kind is EntityKind.mentor:
        return 1.0 - _share(record.get("current_mentees"), record.get("max_mentees"))
    if kind is EntityKind.investor:
        since = now - dt.timedelta(days=INVESTOR_QUARTER_DAYS)
        recent = sum(1 for when in history.investments.get(node, ()) if when >= since)
        return 1.0 - _share(recent, record.get("deals_per_quarter"))
    return 1.0


def _share(part: Any, whole: Any) -> float:
    if not whole:
        return 0.0
    return float(min(1.0, max(0.0, (part or 0) / whole)))


def capacity(context: PairContext) -> np.ndarray:
    return np.asarray(
        [
            _free_share(r, context.history, n, context.now)
            for r, n in zip(context.records(), context.nodes(), strict=True)
        ]
    )


def popularity(context: PairContext) -> np.ndarray:
    """Damped: the log keeps the most connected from drowning every other reason."""
    counts = np.asarray([context.history.relation_count(n) for n in context.nodes()], dtype=np.float64)
    return 1.0 - 1.0 / (1.0 + np.log1p(counts))


def recency(context: PairContext) -> np.ndarray:
    last = context.history.last_active
    ages = [(context.now - last[n]).days if n in last else None for n in context.nodes()]
    return np.asarray([0.0 if a is None else math.exp(-max(a, 0) / RECENCY_SCALE_DAYS) for a in ages])


def applied(context: PairContext) -> np.ndarray:
    """The candidate applied to the query (a space's applicants) or the other way round."""
    if context.query_node is None:
        return np.zeros(len(context.pool))
    query_node, applicants = context.query_node, context.history.applicants
    mine = applicants.get(query_node, set())
    return np.asarray(
        [1.0 if n in mine or query_node in applicants.get(n, ()) else 0.0 for n in context.nodes()]
    )


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
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)


def feature_matrix(context: PairContext, names: tuple[str, ...] = FEATURE_NAMES) -> np.ndarray:
    """(len(pool), len(names)) float64 matrix of the named features."""
    if len(context.pool) == 0:
        return np.zeros((0, len(names)))
    return np.column_stack([FEATURES[name](context).astype(np.float64) for name in names])
