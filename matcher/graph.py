"""The relation graph: who invested in, admitted, mentored or placed whom, and features on it.

Nodes are profiles, ``(kind, row id)``; an undirected edge joins two profiles once a
relation kind (by default the realised outcomes) has happened between them. Its weight is
the number of such events, so a follow-on round strengthens an investor–startup edge.

Derived relations:

* co-investment: two investors sharing a portfolio startup (:meth:`RelationGraph.co_investors`);
* incubator alumni: two startups or persons admitted by the same space (two hops via the space).

History is kept: a later ``declined`` or ``withdrawn`` is not a relation kind and deletes
nothing; an investment that happened stays a fact. The only way to take an edge out is
erasure of a profile (:meth:`RelationGraph.remove_node`), which also drops every neighbour
left without any relation: a node exists exactly while it has one.

Which walk feature to call at recommendation time (figures: ``benchmarks/graph_features.py``):

* :meth:`RelationGraph.personalized_pagerank` solves over the whole graph: about 2 ms at
  the demo ecosystem's size, a few hundred ms at city scale (200k startups), so there it
  is for offline or batch use;
* :meth:`RelationGraph.two_hop_scores` is the same series cut after two hops, computed
  from the seeds outwards. Its cost is the seeds' degree plus, for each profile one hop
  away, its degree into the target kind, whatever the graph's size. Seeded as the matcher
  does (the query and profiles like it), partner targets are one hop from them and it
  stays well under a millisecond at city scale; seeding it with hubs (the query's own
  investors or spaces) walks their whole portfolios, which ``co_investors`` answers
  cheaper.

Not thread-safe: one writer, and readers not concurrent with it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import pairwise, repeat
from typing import Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from models.enums import REALISED_OUTCOMES, EntityKind, InteractionKind
from models.schemas import OUTCOME_PAIRS
from models.tables import Interaction

Node = tuple[EntityKind, int]
Vector = npt.NDArray[np.float64]
Slots = npt.NDArray[np.intp]


@dataclass(frozen=True)
class RelationEvent:
    """The slice of an interaction the graph needs."""

    actor_kind: EntityKind
    actor_id: int
    target_kind: EntityKind
    target_id: int
    kind: InteractionKind
    occurred_at: datetime
    amount_cny: int | None = None

    @classmethod
    def from_interaction(cls, row: Interaction) -> Self:
        actor, target = (row.actor_kind, row.actor_id), (row.target_kind, row.target_id)
        return cls(*actor, *target, row.kind, row.occurred_at, row.amount_cny)

    @property
    def actor(self) -> Node:
        return (self.actor_kind, self.actor_id)

    @property
    def target(self) -> Node:
        return (self.target_kind, self.target_id)


@dataclass(frozen=True, slots=True)
class Relation:
    """Everything the graph keeps about one pair (slots: there are hundreds of thousands)."""

    kind: InteractionKind  # the label for explanations: the first relation kind seen
    kinds: frozenset[InteractionKind]  # with the default kinds always {kind}: OUTCOME_PAIRS fixes it
    count: int  # the edge weight: all relation events of the pair
    first_at: datetime
    last_at: datetime
    amount_cny: int

    @classmethod
    def first(cls, event: RelationEvent) -> Relation:
        when = event.occurred_at
        return cls(event.kind, _ONLY[event.kind], 1, when, when, event.amount_cny or 0)

    def with_event(self, event: RelationEvent) -> Relation:
        return replace(
            self,
            kinds=self.kinds if event.kind in self.kinds else self.kinds | {event.kind},
            count=self.count + 1,
            first_at=min(self.first_at, event.occurred_at),
            last_at=max(self.last_at, event.occurred_at),
            amount_cny=self.amount_cny + (event.amount_cny or 0),
        )


_ONLY = {kind: frozenset({kind}) for kind in InteractionKind}  # shared by every pair with that kind


class RelationGraph:
    """Relations between profiles, kept current event by event, with ranking features."""

    def __init__(self, *, relation_kinds: frozenset[InteractionKind] = REALISED_OUTCOMES) -> None:
        self._relation_kinds = relation_kinds
        # Neighbours grouped by kind, so that "the investors of X" never scans X's alumni.
        self._adj: dict[Node, dict[EntityKind, dict[Node, Relation]]] = {}
        self._strength: dict[Node, int] = {}
        self._degree: dict[Node, int] = {}  # distinct neighbours, kept so features need no count
        self._co: dict[Node, dict[Node, int]] = {}
        self._edges = 0
        self._matrix = _WeightMatrix()

    @classmethod
    def from_events(
        cls,
        events: Iterable[RelationEvent],
        *,
        relation_kinds: frozenset[InteractionKind] = REALISED_OUTCOMES,
    ) -> Self:
        graph = cls(relation_kinds=relation_kinds)
        for event in events:
            graph.add(event)
        return graph

    # --- keeping current ------------------------------------------------------------------

    def add(self, event: RelationEvent) -> bool:
        """Record one event in O(degree of its startup); True if the graph changed.

        Events of other kinds are ignored. A repeated relation adds to the pair's count
        and widens its first/last dates.
        """
        if event.kind not in self._relation_kinds:
            return False
        _check_pair(event)
        a, b = event.actor, event.target
        old = self.relation(a, b)
        self._put(a, b, Relation.first(event) if old is None else old.with_event(event))
        if old is None:
            self._edges += 1
            for node in (a, b):
                self._degree[node] = self._degree.get(node, 0) + 1
        for node in (a, b):
            self._strength[node] = self._strength.get(node, 0) + 1
        if event.kind is InteractionKind.invested and (old is None or event.kind not in old.kinds):
            self._link_co_investors(a, b)
        self._matrix.bump(a, b)
        return True

    def remove_node(self, node: Node) -> None:
        """Erase a profile: the node, its edges, its co-investments, and neighbours left bare."""
        if node not in self._adj:
            return
        self._unlink_co_investors(node)
        edges = list(self._items(node))
        orphans = [nbr for nbr, relation in edges if self._detach(nbr, node, relation)]
        for gone in (node, *orphans):
            del self._adj[gone], self._strength[gone], self._degree[gone]
        self._edges -= len(edges)
        self._matrix.remove([(node, nbr, relation.count) for nbr, relation in edges], [node, *orphans])

    def _put(self, a: Node, b: Node, relation: Relation) -> None:
        self._adj.setdefault(a, {}).setdefault(b[0], {})[b] = relation
        self._adj.setdefault(b, {}).setdefault(a[0], {})[a] = relation

    def _detach(self, node: Node, gone: Node, relation: Relation) -> bool:
        """Drop ``gone`` from ``node``'s neighbours; True if ``node`` has none left."""
        by_kind = self._adj[node]
        del by_kind[gone[0]][gone]
        if not by_kind[gone[0]]:
            del by_kind[gone[0]]
        self._strength[node] -= relation.count
        self._degree[node] -= 1
        return not by_kind

    def _investors_of(self, startup: Node) -> list[Node]:
        investors = self._adj.get(startup, {}).get(EntityKind.investor, {})
        return [investor for investor, rel in investors.items() if InteractionKind.invested in rel.kinds]

    def _link_co_investors(self, investor: Node, startup: Node) -> None:
        for other in self._investors_of(startup):
            if other != investor:
                self._bump_co(investor, other, 1)
                self._bump_co(other, investor, 1)

    def _unlink_co_investors(self, node: Node) -> None:
        for other in self._co.pop(node, {}):
            self._bump_co(other, node, -self._co[other][node])
        investors = self._investors_of(node)
        for i, investor in enumerate(investors):
            for other in investors[i + 1 :]:
                self._bump_co(investor, other, -1)
                self._bump_co(other, investor, -1)

    def _bump_co(self, investor: Node, other: Node, change: int) -> None:
        shared = self._co.setdefault(investor, {})
        shared[other] = shared.get(other, 0) + change
        if not shared[other]:
            del shared[other]
            if not shared:
                del self._co[investor]

    # --- looking up -----------------------------------------------------------------------

    def __contains__(self, node: object) -> bool:
        return node in self._adj

    def number_of_nodes(self) -> int:
        return len(self._adj)

    def number_of_edges(self) -> int:
        return self._edges

    def relation(self, a: Node, b: Node) -> Relation | None:
        return self._adj.get(a, {}).get(b[0], {}).get(b)

    def neighbours(self, node: Node, kind: EntityKind | None = None) -> set[Node]:
        return {nbr for nbr, _ in self._items(node, kind)}

    def degree(self, node: Node) -> int:
        return self._degree.get(node, 0)

    def degrees(self, nodes: Iterable[Node]) -> list[int]:
        """:meth:`degree` of each node, 0 outside the graph."""
        return list(map(self._degree.get, nodes, repeat(0)))

    def co_investors(self, investor: Node) -> dict[Node, int]:
        """Investors sharing at least one portfolio startup, with how many they share."""
        return dict(self._co.get(investor, {}))

    def co_investments(self, investor: Node, other: Node) -> int:
        """How many portfolio startups the two investors share (one lookup, no copy)."""
        return self._co.get(investor, {}).get(other, 0)

    def _items(self, node: Node, kind: EntityKind | None = None) -> Iterator[tuple[Node, Relation]]:
        by_kind = self._adj.get(node, {})
        groups = by_kind.values() if kind is None else [by_kind.get(kind, {})]
        for group in groups:
            yield from group.items()

    # --- link features --------------------------------------------------------------------

    def common_neighbours(self, a: Node, b: Node) -> set[Node]:
        return self.neighbours(a) & self.neighbours(b)

    def adamic_adar(self, a: Node, b: Node) -> float:
        """Shared neighbours, each counting less the more relations it has (as networkx's index)."""
        return sum(1 / math.log(self.degree(shared)) for shared in self.common_neighbours(a, b))

    # --- walks ----------------------------------------------------------------------------

    def personalized_pagerank(
        self,
        seeds: Mapping[Node, float],
        *,
        alpha: float = 0.85,
        candidate_kind: EntityKind | None = None,
        max_iter: int = 50,
        tol: float = 1e-6,
    ) -> dict[Node, float]:
        """PageRank restarting at the normalised seeds, weighted by relation counts.

        Seeds absent from the graph are ignored; empty if none is present. Accurate to
        ``tol`` in total (L1) unless ``max_iter`` sparse products were not enough. The first
        query after new events folds them into the matrix: one sparse sum, O(edges) in C.
        """
        restart = self._restart(seeds)
        if not restart:
            return {}
        matrix = self._matrix.ready(self._adj)
        x = matrix.solve(matrix.vector(restart), alpha, max_iter, tol)
        return matrix.scores(x, candidate_kind)

    def prepare(self) -> None:
        """Build the sparse matrix now, so that the first PageRank query does not pay for it."""
        self._matrix.ready(self._adj)

    def two_hop_scores(
        self, seeds: Mapping[Node, float], candidate_kind: EntityKind | None = None, *, alpha: float = 0.85
    ) -> dict[Node, float]:
        """Personalised PageRank's series cut after two hops: ``(1-α)(p + αpP + α²pP²)``.

        A lower bound of :meth:`personalized_pagerank` that keeps its ranking near the seeds
        (the investors of similar startups, of startups sharing the query's space), at a
        cost set by the seeds' neighbourhood, not by the graph's size (see the module notes).
        """
        restart = self._restart(seeds)
        hop1 = self._step(restart)
        hop2 = self._step(hop1, candidate_kind)
        scores: defaultdict[Node, float] = defaultdict(float)
        for hops, mass in enumerate((restart, hop1, hop2)):
            factor = (1 - alpha) * alpha**hops
            for node, value in mass.items():
                if candidate_kind is None or node[0] is candidate_kind:
                    scores[node] += factor * value
        return dict(scores)

    def _restart(self, seeds: Mapping[Node, float]) -> dict[Node, float]:
        if any(weight < 0 for weight in seeds.values()):
            raise ValueError("seed weights must not be negative")
        present = {node: weight for node, weight in seeds.items() if node in self._adj and weight > 0}
        total = sum(present.values())
        return {node: weight / total for node, weight in present.items()}

    def _step(self, mass: Mapping[Node, float], kind: EntityKind | None = None) -> dict[Node, float]:
        """One random-walk step of ``mass``, keeping only what lands on ``kind``."""
        moved: defaultdict[Node, float] = defaultdict(float)
        for node, value in mass.items():
            share = value / self._strength[node]
            for nbr, relation in self._items(node, kind):
                moved[nbr] += share * relation.count
        return moved

    # --- explanations ---------------------------------------------------------------------

    def relation_path(self, a: Node, b: Node, *, max_hops: int = 4) -> list[Node] | None:
        """A shortest path of relations from ``a`` to ``b``, or None if longer than ``max_hops``.

        Bidirectional search, always growing the smaller frontier: two searches of depth
        hops/2 instead of one of depth hops through investor and space hubs.
        """
        if a not in self._adj or b not in self._adj:
            return None
        if a == b:
            return [a]
        parents: tuple[dict[Node, Node | None], dict[Node, Node | None]] = ({a: None}, {b: None})
        frontiers = [[a], [b]]
        for _ in range(max_hops):
            side = 0 if len(frontiers[0]) <= len(frontiers[1]) else 1
            mine, theirs = parents[side], parents[1 - side]
            frontiers[side], meeting = self._grow(frontiers[side], mine, theirs)
            if meeting is not None:
                near, far = _trace(meeting[0], mine), _trace(meeting[1], theirs)
                path = near[::-1] + far
                return path if side == 0 else path[::-1]
            if not frontiers[side]:
                return None
        return None

    def _grow(
        self, frontier: list[Node], mine: dict[Node, Node | None], theirs: Mapping[Node, Node | None]
    ) -> tuple[list[Node], tuple[Node, Node] | None]:
        """One breadth-first level; stops at the first edge reaching the other search."""
        grown: list[Node] = []
        for node in frontier:
            for nbr, _ in self._items(node):
                if nbr in theirs:
                    return grown, (node, nbr)
                if nbr not in mine:
                    mine[nbr] = node
                    grown.append(nbr)
        return grown, None

    def explain_path(self, path: Sequence[Node]) -> list[tuple[Node, InteractionKind, Node]]:
        """Each hop of a path with the relation it stands for."""
        hops = []
        for a, b in pairwise(path):
            relation = self.relation(a, b)
            if relation is None:
                raise ValueError(f"no relation between {a} and {b}")
            hops.append((a, relation.kind, b))
        return hops


def _check_pair(event: RelationEvent) -> None:
    # The schemas refuse these already; a row breaking them would corrupt the co-investments.
    if event.actor == event.target:
        raise ValueError(f"{event.actor} cannot relate to itself")
    allowed = OUTCOME_PAIRS.get(event.kind)
    if allowed is not None and (event.actor_kind, event.target_kind) not in allowed:
        raise ValueError(f"'{event.kind}' cannot go {event.actor_kind}→{event.target_kind}")


def _trace(node: Node, parents: Mapping[Node, Node | None]) -> list[Node]:
    """``node`` and its ancestors up to where its search started."""
    path = [node]
    while (parent := parents[path[-1]]) is not None:
        path.append(parent)
    return path


class _WeightMatrix:
    """The symmetric weight matrix W as CSR, and its normalised form for the walk.

    Building the CSR from the adjacency is O(edges) in Python, seconds at city scale, so
    arriving events do not rebuild it: they append corrections (and new slots) that the
    next query folds in with one sparse sum in C. Erased nodes keep their slot, emptied,
    until more than half the slots are dead and the next query re-indexes from scratch.
    """

    def __init__(self) -> None:
        self._built = False
        self._slot: dict[Node, int] = {}
        self._nodes: list[Node] = []  # by slot; an erased node's slot stays until re-indexing
        self._kinds: list[int] = []  # by slot: the node's kind as its position in EntityKind
        self._dead: list[int] = []
        self._weights = _csr([], [], [], 0)
        self._scaled = self._weights
        self._root: Vector = np.zeros(0)
        self._inverse_root: Vector = np.zeros(0)
        self._pending: list[tuple[int, int, float]] = []
        self._kind_slots: dict[EntityKind | None, Slots] | None = None

    def ready(self, adj: Mapping[Node, Mapping[EntityKind, Mapping[Node, Relation]]]) -> Self:
        if not self._built:
            self._build(adj)
        elif self._pending:
            self._fold()
        return self

    def _build(self, adj: Mapping[Node, Mapping[EntityKind, Mapping[Node, Relation]]]) -> None:
        self._nodes = list(adj)
        self._slot = {node: i for i, node in enumerate(self._nodes)}
        self._kinds = [_KIND_CODES[node[0]] for node in self._nodes]
        self._pending, self._dead, self._kind_slots, self._built = [], [], None, True
        rows: list[int] = []
        cols: list[int] = []
        weights: list[float] = []
        for node, by_kind in adj.items():
            row = self._slot[node]
            for group in by_kind.values():
                rows.extend([row] * len(group))
                cols.extend(self._slot[nbr] for nbr in group)
                weights.extend(float(relation.count) for relation in group.values())
        self._normalise(_csr(weights, rows, cols, len(self._nodes)))

    def _fold(self) -> None:
        rows, cols, weights = zip(*self._pending, strict=True)
        self._pending = []
        size = len(self._nodes)
        weights_now = _resized(self._weights, size) + _csr(weights, rows, cols, size)
        weights_now.eliminate_zeros()
        self._normalise(weights_now)

    def _normalise(self, weights: sp.csr_array) -> None:
        """Keep W, D^½ and S = D^-½ W D^-½ (D: each node's total weight) for the solver."""
        self._weights = weights
        self._root = np.sqrt(np.asarray(weights.sum(axis=1), dtype=np.float64))
        self._inverse_root = np.divide(1.0, self._root, out=np.zeros_like(self._root), where=self._root > 0)
        rows = np.repeat(np.arange(weights.shape[0]), np.diff(weights.indptr))
        self._scaled = weights.copy()  # scaled in place: 7× cheaper than two diagonal products
        self._scaled.data *= self._inverse_root[rows] * self._inverse_root[weights.indices]

    def bump(self, a: Node, b: Node) -> None:
        if self._built:
            i, j = self._slot_of(a), self._slot_of(b)
            self._pending += [(i, j, 1.0), (j, i, 1.0)]

    def remove(self, edges: Iterable[tuple[Node, Node, int]], gone: Iterable[Node]) -> None:
        if not self._built:
            return
        for a, b, weight in edges:
            i, j = self._slot[a], self._slot[b]
            self._pending += [(i, j, -float(weight)), (j, i, -float(weight))]
        for node in gone:
            self._dead.append(self._slot.pop(node))
        self._kind_slots = None
        if 2 * len(self._slot) < len(self._nodes):
            self._built = False

    def _slot_of(self, node: Node) -> int:
        slot = self._slot.get(node)
        if slot is None:
            slot = self._slot[node] = len(self._nodes)
            self._nodes.append(node)
            self._kinds.append(_KIND_CODES[node[0]])
            self._kind_slots = None
        return slot

    def vector(self, mass: Mapping[Node, float]) -> Vector:
        x = np.zeros(len(self._nodes))
        x[[self._slot[node] for node in mass]] = list(mass.values())
        return x

    def solve(self, restart: Vector, alpha: float, max_iter: int, tol: float) -> Vector:
        """x = (1-α)(I - αWD⁻¹)⁻¹p, by conjugate gradients on the system's symmetric form.

        With x = D^½u it reads (I - αS)u = (1-α)D^-½p, and S's eigenvalues lie in [-1, 1],
        so the matrix is positive definite. Power iteration would need ~90 products for
        1e-6 here: the graph is bipartite (partners on one side, startups and persons on
        the other), so its error shrinks by only α a step; CG needs ~20. Stopping once
        ‖D^½r‖₁ ≤ (1-α)·tol bounds the L1 error of x by tol, as the walk's inverse has
        L1 norm at most 1/(1-α).
        """
        u = np.zeros_like(restart)
        r = (1 - alpha) * restart * self._inverse_root
        d = r.copy()
        rr = float(r @ r)
        for _ in range(max_iter):
            if np.abs(r * self._root).sum() <= (1 - alpha) * tol:
                break
            product = d - alpha * (self._scaled @ d)
            step = rr / float(d @ product)
            u += step * d
            r -= step * product
            rr, previous = float(r @ r), rr
            d = r + (rr / previous) * d
        return u * self._root

    def scores(self, x: Vector, kind: EntityKind | None) -> dict[Node, float]:
        slots = self._slots(kind)
        nodes = self._nodes
        return {nodes[i]: v for i, v in zip(slots.tolist(), x[slots].tolist(), strict=True) if v > 0}

    def _slots(self, kind: EntityKind | None) -> Slots:
        """The live slots of ``kind`` (of any kind for None), found by numpy, not a Python loop."""
        if self._kind_slots is None:
            codes = np.asarray(self._kinds, dtype=np.int8)
            codes[self._dead] = -1
            self._kind_slots = {k: np.flatnonzero(codes == code) for k, code in _KIND_CODES.items()}
            self._kind_slots[None] = np.flatnonzero(codes >= 0)
        return self._kind_slots[kind]


_KIND_CODES = {kind: code for code, kind in enumerate(EntityKind)}


def _csr(weights: Sequence[float], rows: Sequence[int], cols: Sequence[int], size: int) -> sp.csr_array:
    """Duplicates are summed: a pair's correction adds to its weight."""
    return sp.csr_array((weights, (rows, cols)), shape=(size, size))


def _resized(matrix: sp.csr_array, size: int) -> sp.csr_array:
    """``matrix`` padded with empty rows and columns to ``size`` × ``size``."""
    indptr = np.concatenate([matrix.indptr, np.full(size - matrix.shape[0], matrix.indptr[-1])])
    return sp.csr_array((matrix.data, matrix.indices, indptr), shape=(size, size))
