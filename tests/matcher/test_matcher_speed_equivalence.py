"""The shortcuts taken for a cheaper recommendation give what the plain computations give."""

from __future__ import annotations

import random

import numpy as np
import pytest

from matcher.graph import Node, RelationGraph
from matcher.rerank import ExposureTracker, mmr_order, mmr_picks
from models.enums import EntityKind
from tests.matcher.test_graph import all_nodes, random_events


def plain_mmr(scores: np.ndarray, vectors: np.ndarray, k: int, relevance_weight: float) -> list[int]:
    """Maximal marginal relevance written out in full, every step over the whole list."""
    chosen: list[int] = []
    redundancy = np.zeros(len(scores))
    available = np.ones(len(scores), dtype=bool)
    for _ in range(min(k, len(scores))):
        value = relevance_weight * scores - (1.0 - relevance_weight) * redundancy
        value[~available] = -np.inf
        best = int(np.argmax(value))
        chosen.append(best)
        available[best] = False
        redundancy = np.maximum(redundancy, vectors @ vectors[best])
    return chosen


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("relevance_weight", [0.0, 0.5, 0.8])
def test_mmr_picks_equal_the_plain_greedy_order(seed: int, relevance_weight: float) -> None:
    rng = np.random.default_rng(seed)
    count = int(rng.integers(1, 35))
    vectors = rng.normal(size=(count, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = np.round(rng.random(count), 2)  # rounded: ties, which must go to the lower index
    expected = plain_mmr(scores, vectors, count, relevance_weight)

    assert list(mmr_picks(scores, vectors, relevance_weight=relevance_weight)) == expected
    assert mmr_order(scores, vectors, 5, relevance_weight=relevance_weight) == expected[:5]


def test_mmr_without_diversity_or_vectors_is_the_score_order() -> None:
    scores = np.asarray([0.2, 0.9, 0.2, 0.5])
    assert list(mmr_picks(scores, np.ones((4, 2)), relevance_weight=1.0)) == [1, 3, 0, 2]
    assert list(mmr_picks(scores, np.zeros((4, 0)))) == [1, 3, 0, 2]
    assert list(mmr_picks(np.zeros(0), np.zeros((0, 2)))) == []
    assert mmr_order(scores, np.ones((4, 2)), 0) == []


@pytest.mark.parametrize("seed", range(30))
def test_first_equals_demoting_the_whole_list(seed: int) -> None:
    rng = random.Random(seed)
    tracker = ExposureTracker(cap=0.3, warmup=3)
    for _ in range(10):
        tracker.record(tuple(rng.sample(range(12), 4)))
    items = rng.sample(range(12), rng.randrange(13))
    k = rng.randrange(1, 12)
    read: list[int] = []

    def counted(item: int) -> int:
        read.append(item)
        return item

    assert tracker.first(iter(items), counted, k) == tracker.demote(items, list(items))[:k]
    assert len(read) <= len(items)


@pytest.mark.parametrize("erased", [None, (EntityKind.startup, 3), (EntityKind.investor, 2)])
def test_kept_degrees_count_distinct_neighbours(erased: Node | None) -> None:
    graph = RelationGraph.from_events(random_events(seed=11))
    nodes = all_nodes()
    if erased is not None:
        graph.remove_node(erased)
    assert graph.degrees(nodes) == [len(graph.neighbours(node)) for node in nodes]
    assert all(graph.degree(node) == len(graph.neighbours(node)) for node in nodes)
