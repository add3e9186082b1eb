"""The relation graph against brute force and against networkx's own functions."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections import Counter
from collections.abc import Iterable

import networkx as nx
import numpy as np
import pytest

from matcher.graph import Node, RelationEvent, RelationGraph
from models.enums import EntityKind, InteractionKind
from models.schemas import OUTCOME_PAIRS
from models.tables import Interaction

K = EntityKind
I = InteractionKind  # noqa: E741
T0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
POOL = {K.startup: 40, K.person: 20, K.investor: 12, K.mentor: 8, K.space: 5, K.practice_base: 4, K.post: 4}


def event(actor: Node, target: Node, kind: I, day: int = 0, amount: int | None = None) -> RelationEvent:
    return RelationEvent(actor[0], actor[1], target[0], target[1], kind, T0 + dt.timedelta(days=day), amount)


def random_events(seed: int, count: int = 300) -> list[RelationEvent]:
    """Valid relation events, with repeats, over a small ecosystem."""
    rng = random.Random(seed)
    pairs = [(kind, a, t) for kind, allowed in OUTCOME_PAIRS.items() for a, t in allowed]
    events = []
    for day in range(count):
        kind, actor, target = rng.choice(pairs)
        events.append(
            event((actor, rng.randrange(POOL[actor])), (target, rng.randrange(POOL[target])), kind, day)
        )
    return events


def as_networkx(events: Iterable[RelationEvent]) -> nx.Graph:
    """The graph the events describe, built independently: weight = number of events."""
    weights = Counter(frozenset((e.actor, e.target)) for e in events)
    graph = nx.Graph()
    graph.add_weighted_edges_from((*pair, weight) for pair, weight in weights.items())
    return graph


def brute_co_investors(events: Iterable[RelationEvent], investor: Node) -> dict[Node, int]:
    portfolios: dict[Node, set[Node]] = {}
    for e in events:
        if e.kind is I.invested:
            portfolios.setdefault(e.actor, set()).add(e.target)
    mine = portfolios.get(investor, set())
    shared = {other: len(mine & theirs) for other, theirs in portfolios.items() if other != investor}
    return {other: count for other, count in shared.items() if count}


def all_nodes() -> list[Node]:
    return [(kind, n) for kind, size in POOL.items() for n in range(size)]


@pytest.fixture
def events() -> list[RelationEvent]:
    return random_events(seed=7)


# --- edges --------------------------------------------------------------------------------


def test_only_relation_kinds_make_edges() -> None:
    graph = RelationGraph()
    investor, startup = (K.investor, 1), (K.startup, 2)
    for kind in (I.viewed, I.saved, I.contacted, I.meeting, I.applied, I.declined, I.withdrawn):
        assert graph.add(event(investor, startup, kind)) is False
    assert graph.number_of_nodes() == graph.number_of_edges() == 0
    assert graph.add(event(investor, startup, I.invested)) is True
    assert graph.neighbours(investor) == {startup}
    assert (graph.number_of_nodes(), graph.number_of_edges()) == (2, 1)


def test_a_later_decline_or_withdrawal_deletes_no_history() -> None:
    graph = RelationGraph()
    investor, startup = (K.investor, 1), (K.startup, 2)
    graph.add(event(investor, startup, I.invested))
    graph.add(event(startup, investor, I.withdrawn, day=3))
    graph.add(event(investor, startup, I.declined, day=4))
    assert graph.neighbours(startup) == {investor}


def test_repeated_events_accumulate_weight_and_keep_first_and_last_dates() -> None:
    graph = RelationGraph()
    investor, startup = (K.investor, 1), (K.startup, 2)
    for day, amount in ((5, 1_000_000), (1, None), (9, 3_000_000)):
        assert graph.add(event(investor, startup, I.invested, day, amount)) is True
    relation = graph.relation(startup, investor)
    assert relation is not None
    assert (relation.count, relation.amount_cny) == (3, 4_000_000)
    assert (relation.first_at, relation.last_at) == (T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=9))
    assert graph.number_of_edges() == 1


def test_custom_relation_kinds() -> None:
    graph = RelationGraph(relation_kinds=frozenset({I.meeting}))
    assert graph.add(event((K.investor, 1), (K.startup, 2), I.invested)) is False
    assert graph.add(event((K.investor, 1), (K.startup, 2), I.meeting)) is True
    assert graph.co_investors((K.investor, 1)) == {}


@pytest.mark.parametrize(
    ("actor", "target"),
    [((K.startup, 1), (K.investor, 2)), ((K.mentor, 1), (K.investor, 2)), ((K.investor, 1), (K.investor, 1))],
)
def test_pairs_the_schemas_refuse_are_refused(actor: Node, target: Node) -> None:
    with pytest.raises(ValueError, match="cannot"):
        RelationGraph().add(event(actor, target, I.invested))


def test_event_from_an_interaction_row() -> None:
    row = Interaction(
        actor_kind=K.space, actor_id=3, target_kind=K.person, target_id=9, kind=I.admitted, occurred_at=T0
    )
    assert RelationEvent.from_interaction(row) == event((K.space, 3), (K.person, 9), I.admitted)


def test_neighbours_by_kind_and_degree(events: list[RelationEvent]) -> None:
    graph, reference = RelationGraph.from_events(events), as_networkx(events)
    for node in reference:
        assert graph.neighbours(node) == set(reference[node])
        assert graph.neighbours(node, K.investor) == {n for n in reference[node] if n[0] is K.investor}
        assert graph.degree(node) == reference.degree(node)
    assert graph.number_of_edges() == reference.number_of_edges()
    assert (K.startup, 10_000) not in graph
    assert graph.neighbours((K.startup, 10_000)) == set()


# --- co-investment ------------------------------------------------------------------------


def test_co_investors_are_kept_incrementally(events: list[RelationEvent]) -> None:
    graph = RelationGraph()
    investors = [(K.investor, n) for n in range(POOL[K.investor])]
    for seen, e in enumerate(events, start=1):
        graph.add(e)
        if seen % 25 == 0:
            for investor in investors:
                assert graph.co_investors(investor) == brute_co_investors(events[:seen], investor)
    assert any(graph.co_investors(investor) for investor in investors)


def test_a_follow_on_round_is_not_a_second_shared_startup() -> None:
    graph = RelationGraph()
    a, b, startup = (K.investor, 1), (K.investor, 2), (K.startup, 3)
    for investor in (a, b, a, b):
        graph.add(event(investor, startup, I.invested))
    assert graph.co_investors(a) == {b: 1}


# --- erasure ------------------------------------------------------------------------------


@pytest.mark.parametrize("erased", [(K.startup, 3), (K.investor, 2), (K.space, 1), (K.person, 4)])
def test_remove_node_leaves_nothing_of_it(events: list[RelationEvent], erased: Node) -> None:
    graph = RelationGraph.from_events(events)
    graph.prepare()  # erase from a built matrix too, not only from the adjacency
    assert erased in graph
    graph.remove_node(erased)
    rest = [e for e in events if erased not in (e.actor, e.target)]
    expected = RelationGraph.from_events(rest)

    assert erased not in graph
    assert graph.degree(erased) == 0
    assert all(erased not in graph.neighbours(node) for node in all_nodes())
    assert all(erased not in graph.co_investors(node) for node in all_nodes())
    assert all(graph.co_investors(node) == expected.co_investors(node) for node in all_nodes())
    assert [node for node in all_nodes() if node in graph] == [
        node for node in all_nodes() if node in expected
    ]
    assert graph.number_of_edges() == expected.number_of_edges()
    seeds = dict.fromkeys(all_nodes(), 1.0)
    scores = graph.personalized_pagerank(seeds, max_iter=500, tol=1e-12)
    assert erased not in scores
    assert scores == pytest.approx(expected.personalized_pagerank(seeds, max_iter=500, tol=1e-12), abs=1e-9)
    assert graph.personalized_pagerank({erased: 1.0}) == {}
    assert all(graph.relation_path(erased, node) is None for node in all_nodes())


def test_removing_an_unknown_node_does_nothing(events: list[RelationEvent]) -> None:
    graph = RelationGraph.from_events(events)
    graph.remove_node((K.startup, 10_000))
    assert graph.number_of_edges() == as_networkx(events).number_of_edges()


def test_an_erased_profile_can_relate_again() -> None:
    graph = RelationGraph()
    investor, startup = (K.investor, 1), (K.startup, 2)
    graph.add(event(investor, startup, I.invested))
    graph.prepare()
    graph.remove_node(startup)
    assert graph.number_of_nodes() == 0  # the investor had no other relation
    graph.add(event(investor, startup, I.invested))
    assert graph.personalized_pagerank({startup: 1.0}, max_iter=500, tol=1e-12) == pytest.approx(
        {startup: 1 / 1.85, investor: 0.85 / 1.85}
    )


# --- link features ------------------------------------------------------------------------


def test_common_neighbours_and_adamic_adar_equal_networkx(events: list[RelationEvent]) -> None:
    graph, reference = RelationGraph.from_events(events), as_networkx(events)
    pairs = list(itertools.combinations(sorted(reference), 2))
    expected = {(a, b): score for a, b, score in nx.adamic_adar_index(reference, pairs)}
    for a, b in pairs:
        assert graph.common_neighbours(a, b) == set(nx.common_neighbors(reference, a, b))
        assert graph.adamic_adar(a, b) == pytest.approx(expected[a, b])
    assert any(score > 0 for score in expected.values())


# --- walks --------------------------------------------------------------------------------


def networkx_ppr(events: Iterable[RelationEvent], seeds: dict[Node, float]) -> dict[Node, float]:
    reference = as_networkx(events)
    personalization = {node: seeds.get(node, 0.0) for node in reference}
    return dict(nx.pagerank(reference, alpha=0.85, personalization=personalization, tol=1e-13, max_iter=2000))


def test_personalized_pagerank_equals_networkx(events: list[RelationEvent]) -> None:
    graph = RelationGraph.from_events(events)
    seeds = {(K.startup, 1): 2.0, (K.startup, 5): 1.0, (K.investor, 3): 0.5, (K.startup, 10_000): 9.0}
    scores = graph.personalized_pagerank(seeds, max_iter=1000, tol=1e-12)
    expected = networkx_ppr(events, seeds)
    assert scores.keys() <= expected.keys()
    assert all(scores.get(node, 0.0) == pytest.approx(value, abs=1e-4) for node, value in expected.items())
    assert sum(scores.values()) == pytest.approx(1.0)


def test_default_iterations_are_close_enough_for_ranking(events: list[RelationEvent]) -> None:
    graph = RelationGraph.from_events(events)
    seeds = {(K.startup, 1): 1.0}
    expected = networkx_ppr(events, seeds)
    scores = graph.personalized_pagerank(seeds)
    assert all(scores.get(node, 0.0) == pytest.approx(value, abs=1e-4) for node, value in expected.items())


def test_personalized_pagerank_is_restricted_to_the_target_kind(events: list[RelationEvent]) -> None:
    graph = RelationGraph.from_events(events)
    seeds = {(K.startup, 1): 1.0, (K.startup, 2): 1.0}
    everything = graph.personalized_pagerank(seeds)
    investors = graph.personalized_pagerank(seeds, candidate_kind=K.investor)
    assert investors
    assert investors == {node: score for node, score in everything.items() if node[0] is K.investor}


def test_personalized_pagerank_without_a_present_seed_is_empty(events: list[RelationEvent]) -> None:
    graph = RelationGraph.from_events(events)
    assert graph.personalized_pagerank({}) == {}
    assert graph.personalized_pagerank({(K.startup, 10_000): 1.0}) == {}
    assert graph.personalized_pagerank({(K.startup, 1): 0.0}) == {}
    with pytest.raises(ValueError, match="negative"):
        graph.personalized_pagerank({(K.startup, 1): -1.0})


@pytest.mark.parametrize("later", [5, 400])  # few: pending corrections; many: folded into the matrix
def test_personalized_pagerank_stays_exact_as_events_arrive(later: int) -> None:
    events = random_events(seed=3, count=200)
    graph = RelationGraph.from_events(events)
    seeds = {(K.startup, 1): 1.0, (K.person, 2): 1.0}
    graph.personalized_pagerank(seeds)
    erased = (K.investor, 5)
    before = events + random_events(seed=4, count=later)
    after = random_events(seed=5, count=later)  # may relate the erased investor again
    for e in before[len(events) :]:
        graph.add(e)
    graph.remove_node(erased)
    for e in after:
        graph.add(e)
    current = [e for e in before if erased not in (e.actor, e.target)] + after
    expected = networkx_ppr(current, seeds)
    scores = graph.personalized_pagerank(seeds, max_iter=1000, tol=1e-12)
    assert all(scores.get(node, 0.0) == pytest.approx(value, abs=1e-6) for node, value in expected.items())


def test_two_hop_scores_are_pagerank_cut_after_two_hops(events: list[RelationEvent]) -> None:
    graph, reference = RelationGraph.from_events(events), as_networkx(events)
    nodes = list(reference)
    weights = nx.to_numpy_array(reference, nodelist=nodes)
    walk = weights / weights.sum(axis=0)  # column-stochastic: walk[v, u] = P(u → v)
    seeds = {(K.startup, 1): 3.0, (K.investor, 2): 1.0}
    p = np.array([seeds.get(node, 0.0) for node in nodes]) / 4.0
    series = 0.15 * (p + 0.85 * walk @ p + 0.85**2 * walk @ walk @ p)
    expected = {node: value for node, value in zip(nodes, series, strict=True) if value > 0}

    assert graph.two_hop_scores(seeds) == pytest.approx(expected)
    investors = graph.two_hop_scores(seeds, K.investor)
    assert investors == pytest.approx({n: v for n, v in expected.items() if n[0] is K.investor})
    full = graph.personalized_pagerank(seeds, candidate_kind=K.investor, max_iter=1000, tol=1e-12)
    assert all(value <= full[node] + 1e-12 for node, value in investors.items())
    assert graph.two_hop_scores({(K.startup, 10_000): 1.0}) == {}


# --- explanations -------------------------------------------------------------------------


def test_relation_path_is_a_shortest_path_within_max_hops(events: list[RelationEvent]) -> None:
    graph, reference = RelationGraph.from_events(events), as_networkx(events)
    lengths = dict(nx.all_pairs_shortest_path_length(reference))
    for a, b in itertools.combinations(sorted(reference)[::3], 2):
        hops = lengths[a].get(b)
        path = graph.relation_path(a, b, max_hops=4)
        if hops is None or hops > 4:
            assert path is None
            continue
        assert path is not None
        assert (path[0], path[-1], len(path) - 1) == (a, b, hops)
        assert all(reference.has_edge(u, v) for u, v in itertools.pairwise(path))
        assert graph.relation_path(a, b, max_hops=hops - 1) is None


def test_relation_path_edge_cases(events: list[RelationEvent]) -> None:
    graph = RelationGraph.from_events(events)
    node = events[0].actor
    assert graph.relation_path(node, node) == [node]
    assert graph.relation_path(node, (K.startup, 10_000)) is None
    assert graph.relation_path(events[0].target, node, max_hops=1) == [events[0].target, node]


def test_explain_path_labels_each_hop() -> None:
    graph = RelationGraph()
    query, peer, investor, space = (K.startup, 1), (K.startup, 2), (K.investor, 3), (K.space, 4)
    graph.add(event(space, query, I.admitted))
    graph.add(event(space, peer, I.admitted))
    graph.add(event(investor, peer, I.invested))
    path = graph.relation_path(query, investor)
    assert path == [query, space, peer, investor]
    assert graph.explain_path(path) == [
        (query, I.admitted, space),
        (space, I.admitted, peer),
        (peer, I.invested, investor),
    ]
    with pytest.raises(ValueError, match="no relation"):
        graph.explain_path([query, investor])
