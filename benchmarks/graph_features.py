"""Relation-graph build time and per-query feature latency, against networkx, in the same run.

    .venv/bin/python benchmarks/graph_features.py [--scale demo|city|both] [--seed 42]

demo: the demo ecosystem (5k startups, 400 investors, 300 mentors, 150 spaces, 10k edges);
city: 200k startups, 4k investors, 3k mentors, 1.5k spaces, 400k edges. Both synthetic, with
popular investors, mentors and spaces (Zipf-like), so that hubs exist as in real deal flow.
A query is "investors of startups like yours": ten startups as seeds, investors as targets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

from matcher.graph import Node, RelationEvent, RelationGraph
from models.enums import EntityKind, InteractionKind

K = EntityKind
T0 = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
# Share of edges per relation, and who is on the other side of the startup.
MIX = (
    (InteractionKind.invested, K.investor, 0.5),
    (InteractionKind.admitted, K.space, 0.3),
    (InteractionKind.mentored, K.mentor, 0.2),
)


@dataclass(frozen=True)
class Scale:
    name: str
    startups: int
    partners: dict[EntityKind, int]
    edges: int
    ppr_queries: int
    nx_queries: int


SCALES = {
    "demo": Scale("demo", 5_000, {K.investor: 400, K.mentor: 300, K.space: 150}, 10_000, 300, 10),
    "city": Scale("city", 200_000, {K.investor: 4_000, K.mentor: 3_000, K.space: 1_500}, 400_000, 30, 2),
}


def synthetic_events(scale: Scale, rng: np.random.Generator) -> list[RelationEvent]:
    events: list[RelationEvent] = []
    for kind, partner, share in MIX:
        count = int(scale.edges * share)
        popularity = 1 / np.arange(1, scale.partners[partner] + 1) ** 0.8
        partners = rng.choice(scale.partners[partner], size=count, p=popularity / popularity.sum())
        startups = rng.integers(scale.startups, size=count)
        days = rng.integers(1500, size=count)
        events += [
            RelationEvent(partner, p, K.startup, s, kind, T0 + dt.timedelta(days=d))
            for p, s, d in zip(partners.tolist(), startups.tolist(), days.tolist(), strict=True)
        ]
    random.Random(0).shuffle(events)
    return events


def latency(call: Callable[[int], object], runs: int) -> str:
    """p50 / p99 of ``call(i)`` for i in range(runs), in milliseconds of wall and of CPU time.

    CPU time is what the call costs; wall time adds whatever else the machine runs.
    """
    wall, cpu = [], []
    for i in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        call(i)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    (w50, w99), (c50, c99) = (np.percentile(np.array(t) * 1e3, [50, 99]) for t in (wall, cpu))
    return f"wall p50 {w50:7.3f} p99 {w99:7.3f} | cpu p50 {c50:7.3f} p99 {c99:7.3f} ms (n={runs})"


def top(scores: dict[Node, float], k: int = 10) -> set[Node]:
    return set(sorted(scores, key=scores.__getitem__, reverse=True)[:k])


def run(scale: Scale, seed: int) -> None:
    rng = np.random.default_rng(seed)
    events = synthetic_events(scale, rng)
    start = time.perf_counter()
    graph = RelationGraph.from_events(events)
    built = time.perf_counter() - start
    start = time.perf_counter()
    graph.prepare()
    prepared = time.perf_counter() - start
    print(f"== {scale.name}: {graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges")
    print(f"build from {len(events)} events {built:.2f} s; sparse matrix {prepared:.2f} s")

    startups = [node for node in ((K.startup, n) for n in range(scale.startups)) if node in graph]
    partners = [
        node for node in ((K.investor, n) for n in range(scale.partners[K.investor])) if node in graph
    ]
    seeds = [query_seeds(graph, random.Random(i).sample(startups, 10)) for i in range(1000)]
    pairs = [random.Random(-i).sample(startups, 2) for i in range(1000)]
    exact = [
        graph.personalized_pagerank(s, candidate_kind=K.investor, tol=1e-10, max_iter=500) for s in seeds[:30]
    ]

    walks(graph, scale, seeds, exact)
    print(f"Adamic–Adar (startup pairs)     {latency(lambda i: graph.adamic_adar(*pairs[i]), 1000)}")
    co_investors = latency(lambda i: graph.co_investors(partners[i % 100]), 1000)
    print(f"co-investors                    {co_investors}")
    path = latency(lambda i: graph.relation_path(pairs[i][0], partners[i % 100]), 1000)
    print(f"relation path (≤4 hops)         {path}")
    compare(events, seeds[: scale.nx_queries], exact)
    incremental(graph, scale, seeds[0], rng)


def query_seeds(graph: RelationGraph, startups: list[Node]) -> dict[Node, float]:
    """As the matcher seeds: the query startup, and nine startups like it (as embeddings would give)."""
    query, *similar = startups
    return {query: 1.0} | dict.fromkeys(similar, 0.5)


def hub_seeds(graph: RelationGraph, seeds: dict[Node, float]) -> dict[Node, float]:
    """The query's own relations as seeds too: two hops from them pass through whole portfolios."""
    query = next(iter(seeds))
    return seeds | dict.fromkeys(graph.neighbours(query), 1.0)


def walks(
    graph: RelationGraph, scale: Scale, seeds: list[dict[Node, float]], exact: list[dict[Node, float]]
) -> None:
    def ppr(i: int) -> dict[Node, float]:
        return graph.personalized_pagerank(seeds[i], candidate_kind=K.investor)

    print(f"personalised PageRank (tol 1e-6) {latency(ppr, scale.ppr_queries)}")
    error = max(max(abs(v - exact[i].get(n, 0.0)) for n, v in ppr(i).items()) for i in range(len(exact)))
    print(f"  max |default − converged (1e-10)| over investors: {error:.1e}")
    two_hop(graph, "query + similar", seeds)
    two_hop(graph, "+ query's relations", [hub_seeds(graph, s) for s in seeds])


def two_hop(graph: RelationGraph, name: str, seeds: list[dict[Node, float]]) -> None:
    print(f"two-hop, {name:20} {latency(lambda i: graph.two_hop_scores(seeds[i], K.investor), 1000)}")
    truth = [
        graph.personalized_pagerank(s, candidate_kind=K.investor, tol=1e-10, max_iter=500) for s in seeds[:30]
    ]
    shared = [len(top(graph.two_hop_scores(seeds[i], K.investor)) & top(truth[i])) for i in range(30)]
    print(f"  top-10 investors shared with converged PageRank: {np.mean(shared) / 10:.0%}")


def compare(
    events: Sequence[RelationEvent], seeds: list[dict[Node, float]], exact: list[dict[Node, float]]
) -> None:
    """networkx's pagerank, and plain scipy power iteration, on the same graph and seeds."""
    reference = nx.Graph()
    for e in events:
        weight = reference.get_edge_data(e.actor, e.target, {"weight": 0})["weight"]
        reference.add_edge(e.actor, e.target, weight=weight + 1)
    errors = []

    def networkx_query(i: int) -> None:
        personalization = {node: seeds[i].get(node, 0.0) for node in reference}
        scores = nx.pagerank(reference, personalization=personalization, tol=1e-10, max_iter=500)
        errors.append(max(abs(scores[n] - exact[i].get(n, 0.0)) for n in scores if n[0] is K.investor))

    print(f"nx.pagerank(personalization=)   {latency(networkx_query, len(seeds))}")
    print(f"  max |ours − networkx| over investors, both converged: {max(errors):.1e}")
    power_iteration(reference, seeds)


def power_iteration(reference: nx.Graph, seeds: list[dict[Node, float]]) -> None:
    """The textbook alternative: x ← αWD⁻¹x + (1-α)p on a CSR matrix, until L1 change < 1e-6."""
    nodes = list(reference)
    walk = nx.to_scipy_sparse_array(reference, nodelist=nodes, format="csc")
    walk = (walk / walk.sum(axis=0)).tocsr()
    index = {node: i for i, node in enumerate(nodes)}
    steps = []

    def query(i: int) -> None:
        p = np.zeros(len(nodes))
        p[[index[node] for node in seeds[i]]] = 1 / len(seeds[i])
        x, change = p, 1.0
        while change >= 1e-6:
            following = 0.85 * (walk @ x) + 0.15 * p
            x, change = following, float(np.abs(following - x).sum())
            steps.append(i)

    print(
        f"scipy power iteration (1e-6)    {latency(query, len(seeds))}; {len(steps) // len(seeds)} products"
    )


def incremental(
    graph: RelationGraph, scale: Scale, seeds: dict[Node, float], rng: np.random.Generator
) -> None:
    """Events arriving on a prepared graph: corrections folded in by the next query, no rebuild."""
    arriving = synthetic_events(Scale("new", scale.startups, scale.partners, 1_000, 0, 0), rng)
    print(f"add (matrix prepared)           {latency(lambda i: graph.add(arriving[i]), 900)}")

    def add_then_query(i: int) -> None:
        graph.add(arriving[900 + i])
        graph.personalized_pagerank(seeds, candidate_kind=K.investor)

    print(f"add, then PageRank (fold + solve) {latency(add_then_query, min(100, scale.ppr_queries))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["demo", "city", "both"], default="both")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    for name in ("demo", "city") if args.scale == "both" else (args.scale,):
        run(SCALES[name], args.seed)


if __name__ == "__main__":
    main()
