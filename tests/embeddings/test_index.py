"""VectorIndex behaviour: exact and HNSW modes, updates, filtered search, persistence."""

from __future__ import annotations

import threading
from pathlib import Path
from unittest import mock

import faiss
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from embeddings.index import IdColumn, IndexConfig, IndexFileMismatchError, MaskedIds, VectorIndex

DIM = 32
THRESHOLD = 50  # tiny, so a few hundred vectors exercise the HNSW mode
# Every filtered HNSW search goes through the graph, not the small-set exact scan.
GRAPH_ONLY = IndexConfig(exact_scan_factor=0.0)
Vectors = npt.NDArray[np.float32]


def unit_vectors(count: int, seed: int, dim: int = DIM) -> Vectors:
    vectors = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return np.asarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), dtype=np.float32)


def brute_force(ids: list[int], vectors: Vectors, query: Vectors, k: int) -> list[int]:
    scores = vectors @ query
    order = sorted(range(len(ids)), key=lambda n: (-scores[n], ids[n]))
    return [ids[n] for n in order[:k]]


def build(
    count: int, *, approximate: bool, seed: int = 0, config: IndexConfig | None = None
) -> tuple[VectorIndex, dict[int, Vectors]]:
    """Ids 1000, 1003, ... so that external ids never coincide with internal slots."""
    ids = [1000 + 3 * n for n in range(count)]
    vectors = unit_vectors(count, seed)
    index = VectorIndex(DIM, exact_threshold=THRESHOLD if approximate else 10 * count, config=config)
    index.upsert(ids, vectors)
    assert index.is_approximate == approximate
    return index, dict(zip(ids, vectors, strict=True))


def reference(
    stored: dict[int, Vectors], query: Vectors, k: int, allowed: set[int] | None = None
) -> list[int]:
    ids = sorted(stored if allowed is None else set(stored) & allowed)
    if not ids:
        return []
    return brute_force(ids, np.stack([stored[i] for i in ids]), query, k)


def recall(index: VectorIndex, stored: dict[int, Vectors], queries: Vectors, k: int = 10) -> float:
    found = sum(len({i for i, _ in index.search(q, k)} & set(reference(stored, q, k))) for q in queries)
    return found / (k * len(queries))


@pytest.fixture(params=[False, True], ids=["exact", "hnsw"])
def approximate(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def test_exact_search_equals_brute_force() -> None:
    index, stored = build(300, approximate=False)
    for query in unit_vectors(20, seed=1):
        hits = index.search(query, 10)
        assert [i for i, _ in hits] == reference(stored, query, 10)
        assert [s for _, s in hits] == pytest.approx([float(stored[i] @ query) for i, _ in hits], abs=1e-5)


def test_hnsw_recall_at_10_is_at_least_095() -> None:
    index, stored = build(500, approximate=True)
    assert recall(index, stored, unit_vectors(50, seed=1)) >= 0.95


def test_search_batch_matches_single_searches(approximate: bool) -> None:
    index, _ = build(200, approximate=approximate)
    queries = unit_vectors(5, seed=1)
    assert index.search_batch(queries, 7) == [index.search(q, 7) for q in queries]


def test_ties_are_ordered_by_id() -> None:
    index = VectorIndex(DIM)
    same = unit_vectors(1, seed=3)
    index.upsert([9, 3, 5], np.repeat(same, 3, axis=0))
    assert [i for i, _ in index.search(same[0], 3)] == [3, 5, 9]


def test_upsert_replaces_the_vector(approximate: bool) -> None:
    index, stored = build(200, approximate=approximate)
    target = next(iter(stored))
    query = unit_vectors(1, seed=99)[0]
    index.upsert(np.array([target]), query[None, :])
    assert len(index) == 200
    [(best, score)] = index.search(query, 1)
    assert best == target
    assert score == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(index.vectors_of([target])[0], query)


def test_repeated_updates_keep_results_correct() -> None:
    """Churn passes the tombstone limit several times, so the graph is compacted on the way."""
    index, stored = build(200, approximate=True)
    ids = list(stored)
    for round_ in range(8):
        changed = ids[round_ * 25 : round_ * 25 + 25]
        fresh = unit_vectors(len(changed), seed=100 + round_)
        index.upsert(changed, fresh)
        stored.update(zip(changed, fresh, strict=True))
    assert len(index) == 200
    np.testing.assert_allclose(index.vectors_of(ids), np.stack([stored[i] for i in ids]))
    assert recall(index, stored, unit_vectors(30, seed=1)) >= 0.95


def test_remove_takes_effect_at_once(approximate: bool, tmp_path: Path) -> None:
    index, stored = build(200, approximate=approximate)
    gone = list(stored)[:10]
    assert index.remove([*gone, 5, 10**12]) == 10
    assert index.remove(gone) == 0
    assert len(index) == 190
    assert all(i not in index for i in gone)
    with pytest.raises(KeyError):
        index.vectors_of(gone[:1])
    index.save(tmp_path / "index.vec")
    for searcher in (index, VectorIndex.load(tmp_path / "index.vec")):
        for id_ in gone:
            assert id_ not in {i for i, _ in searcher.search(stored[id_], 20)}
            allowed = [id_, *list(stored)[50:55]]
            assert id_ not in {i for i, _ in searcher.search(stored[id_], 20, allowed=allowed)}


def test_removing_most_vectors_compacts_back_to_exact() -> None:
    index, stored = build(200, approximate=True)
    gone = list(stored)[:170]
    index.remove(gone)
    for id_ in gone:
        del stored[id_]
    assert not index.is_approximate
    for query in unit_vectors(10, seed=1):
        assert [i for i, _ in index.search(query, 10)] == reference(stored, query, 10)


def test_compaction_keeps_results() -> None:
    index, stored = build(400, approximate=True)
    gone = list(stored)[::3]  # a third: past the tombstone limit
    index.remove(gone)
    for id_ in gone:
        del stored[id_]
    assert index.is_approximate
    assert len(index) == len(stored)
    queries = unit_vectors(30, seed=1)
    assert recall(index, stored, queries) >= 0.95
    assert not {i for q in queries for i, _ in index.search(q, 50)} & set(gone)


def test_crossing_the_threshold_keeps_every_id() -> None:
    index = VectorIndex(DIM, exact_threshold=THRESHOLD)
    vectors = unit_vectors(120, seed=0)
    index.upsert(range(40), vectors[:40])
    assert not index.is_approximate
    index.upsert(range(40, 120), vectors[40:])
    assert index.is_approximate
    assert len(index) == 120
    assert all(i in index for i in range(120))
    np.testing.assert_allclose(index.vectors_of(list(range(120))), vectors)
    assert [index.search(v, 1)[0][0] for v in vectors] == list(range(120))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), k=st.integers(1, 30), approximate=st.booleans())
def test_filtered_search_returns_min_k_eligible(data: st.DataObject, k: int, approximate: bool) -> None:
    index, stored = _filter_fixture(approximate)
    ids = sorted(stored)
    size = data.draw(st.sampled_from([0, 1, k - 1, k, k + 1, 3 * k, 150, len(ids)]), label="size")
    allowed = set(data.draw(st.permutations(ids), label="order")[: max(size, 0)])
    noise = data.draw(st.sets(st.integers(-5, 10**6)), label="unknown ids")  # unknown ids are ignored
    query = unit_vectors(1, seed=data.draw(st.integers(0, 10**6), label="seed"))[0]
    requested = allowed | noise
    hits = index.search(query, k, allowed=np.array(sorted(requested), dtype=np.int64))
    eligible = requested & set(stored)
    assert len(hits) == min(k, len(eligible))
    assert {i for i, _ in hits} <= eligible
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    if not approximate:
        assert [i for i, _ in hits] == reference(stored, query, k, requested)


_FILTER_FIXTURES: dict[bool, tuple[VectorIndex, dict[int, Vectors]]] = {}


def _filter_fixture(approximate: bool) -> tuple[VectorIndex, dict[int, Vectors]]:
    """Built once per mode: hypothesis runs the test body many times. Ten ids are removed so
    tombstones are in play."""
    if approximate not in _FILTER_FIXTURES:
        index, stored = build(400, approximate=approximate, config=GRAPH_ONLY)
        gone = list(stored)[::40]
        index.remove(gone)
        _FILTER_FIXTURES[approximate] = (index, {i: v for i, v in stored.items() if i not in gone})
    return _FILTER_FIXTURES[approximate]


def test_filtered_search_accepts_sets_and_small_sets_are_exact() -> None:
    index, stored = build(400, approximate=True)
    query = unit_vectors(1, seed=5)[0]
    allowed = set(list(stored)[::7])
    assert [i for i, _ in index.search(query, 10, allowed=allowed)] == reference(stored, query, 10, allowed)
    assert index.search(query, 10, allowed=set()) == []


def test_short_graph_results_fall_back_to_exact() -> None:
    """If the graph walk strands short of k admitted vectors, an exact scan fills the answer."""
    index, stored = build(300, approximate=True, config=GRAPH_ONLY)
    query = unit_vectors(1, seed=5)[0]
    allowed = set(list(stored)[:60])

    def stranded(q: Vectors, k: int, *_: object, **__: object) -> tuple[Vectors, npt.NDArray[np.int64]]:
        return np.zeros((len(q), k), np.float32), np.full((len(q), k), -1, np.int64)

    with mock.patch.object(VectorIndex, "_hnsw_search", side_effect=stranded, autospec=False):
        hits = index.search(query, 20, allowed=allowed)
    assert [i for i, _ in hits] == reference(stored, query, 20, allowed)


@pytest.mark.parametrize(("admitted", "walked"), [(600, False), (1500, True)])
def test_the_walk_or_scan_rule_counts_the_walk_s_beam(admitted: int, walked: bool) -> None:
    """At k = 10 the beam is 100 wherever a filter admits at least a fifth: 600 of 3,000 admitted
    cost less to scan than a 100-entry walk (a scanned vector ~ a tenth of a walked entry), where
    counting k walked them (600**2 > 9 * 10 * 3,000); 1,500 are walked. Exact either way."""
    index, stored = build(3000, approximate=True)
    query = unit_vectors(1, seed=11)[0]
    allowed = set(list(stored)[:admitted])
    walk = VectorIndex._hnsw_search
    with mock.patch.object(VectorIndex, "_hnsw_search", autospec=True, side_effect=walk) as spied:
        hits = index.search(query, 10, allowed=allowed)
    assert spied.called == walked
    if not walked:
        assert [i for i, _ in hits] == reference(stored, query, 10, allowed)


def test_a_stranded_walk_is_scanned_at_once() -> None:
    """A wider beam seldom reaches admitted vectors lying away from the query: no second walk."""
    index, stored = build(300, approximate=True, config=IndexConfig(exact_scan_factor=0.5))
    query = unit_vectors(1, seed=5)[0]
    allowed = set(list(stored)[:60])

    def stranded(q: Vectors, k: int, *_: object, **__: object) -> tuple[Vectors, npt.NDArray[np.int64]]:
        return np.zeros((len(q), k), np.float32), np.full((len(q), k), -1, np.int64)

    with mock.patch.object(VectorIndex, "_hnsw_search", side_effect=stranded, autospec=False) as walk:
        hits = index.search(query, 20, allowed=allowed)
    assert walk.call_count == 1
    assert [i for i, _ in hits] == reference(stored, query, 20, allowed)


@pytest.mark.parametrize("threads", [2, 3])
def test_a_scan_split_across_threads_answers_as_one_scan(threads: int) -> None:
    """Chunks' answers merge into the exact top k, ties (repeated vectors) in id order."""
    index, stored = build(
        600, approximate=False, config=IndexConfig(parallel_scan_min=0, scan_threads=threads)
    )
    repeated = unit_vectors(1, seed=8)
    ties = [1000 + 3 * n for n in range(0, 600, 50)]
    index.upsert(ties, np.repeat(repeated, len(ties), axis=0))
    stored |= dict.fromkeys(ties, repeated[0])
    allowed = set(list(stored)[::2]) | set(ties)
    queries = np.concatenate([repeated, unit_vectors(4, seed=9)])
    parts: list[int] = []
    scan = VectorIndex._scan

    def recorded(self: VectorIndex, q: Vectors, k: int, slots: npt.NDArray[np.int64]) -> object:
        parts.append(len(slots))  # list.append is atomic: the parts run on the scan threads
        return scan(self, q, k, slots)

    with mock.patch.object(VectorIndex, "_scan", recorded):
        split = index.search_batch(queries, 15, allowed=allowed)
    assert len(parts) == threads  # the config's split was taken
    assert sum(parts) == len(allowed)
    assert [[i for i, _ in hits] for hits in split] == [reference(stored, q, 15, allowed) for q in queries]
    assert split == index.search_batch(queries, 15, allowed=allowed)


def test_a_mask_over_an_id_column_filters_as_the_ids_it_selects(approximate: bool) -> None:
    """The column holds ids the index lacks; ids move slots on update, vanish on removal. Built
    in the column's order, the mask is read as the slots' own; once ids move, through the map."""
    index, stored = build(400, approximate=approximate)
    column = IdColumn(np.asarray([*stored, 5, 7], dtype=np.int64))
    rng = np.random.default_rng(4)
    queries = unit_vectors(3, seed=6)

    def agrees() -> None:
        for share in (0.02, 0.3, 1.0):
            mask = rng.random(len(column.ids)) < share
            masked = index.search_batch(queries, 12, allowed=MaskedIds(column, mask))
            assert masked == index.search_batch(queries, 12, allowed=column.ids[mask])

    agrees()
    assert column.in_slot_order
    moved = list(stored)[::9]
    index.upsert(moved, unit_vectors(len(moved), seed=7))
    agrees()
    index.remove(list(stored)[1::3])
    agrees()
    assert not column.in_slot_order
    agrees()
    index.compact()
    agrees()


def test_a_mask_must_match_its_column() -> None:
    with pytest.raises(ValueError, match="mask: 2 entries for 3 ids"):
        MaskedIds(IdColumn(np.arange(3, dtype=np.int64)), np.ones(2, bool))


def test_save_load_round_trip(approximate: bool, tmp_path: Path) -> None:
    index, _ = build(300, approximate=approximate)
    index.remove([1000, 1003])
    path = tmp_path / "kind.vec"
    index.save(path)
    loaded = VectorIndex.load(path)
    queries = unit_vectors(10, seed=1)
    assert loaded.is_approximate == approximate
    assert (len(loaded), loaded.dim) == (len(index), index.dim)
    assert loaded.search_batch(queries, 10) == index.search_batch(queries, 10)
    allowed = np.arange(1000, 1300, 2)
    filtered = index.search_batch(queries, 10, allowed=allowed)
    assert loaded.search_batch(queries, 10, allowed=allowed) == filtered
    loaded.upsert([5], queries[:1])
    assert loaded.search(queries[0], 1)[0][0] == 5


@pytest.mark.parametrize(
    "config",
    [
        IndexConfig(),
        IndexConfig(compact_fraction=0.5, scan_threads=3),
        IndexConfig(graph_codes="fp16", rescore_multiple=3.5, delta_limit=7),
    ],
)
def test_index_config_round_trips_through_json_and_python(config: IndexConfig) -> None:
    assert IndexConfig.model_validate_json(config.model_dump_json()) == config
    assert IndexConfig.model_validate(config.model_dump()) == config


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"beam": 1.0}, "beam"),
        ({"compact_fraction": 0}, "compact_fraction"),
        ({"beam_per_result": -1}, "beam_per_result"),
        ({"scan_threads": 0}, "scan_threads"),
        ({"graph_codes": "int4"}, "graph_codes"),
        ({"rescore_multiple": 0.5}, "rescore_multiple"),
        ({"delta_limit": -1}, "delta_limit"),
    ],
)
def test_index_config_refuses_a_bad_key_or_value_naming_it(data: dict[str, float], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        IndexConfig.model_validate(data)


def test_tombstones_are_compacted_past_the_configured_fraction() -> None:
    eager, stored = build(300, approximate=True, config=IndexConfig(compact_fraction=0.05))
    lazy, _ = build(300, approximate=True)
    gone = list(stored)[:30]  # a tenth of the slots
    for index in (eager, lazy):
        index.remove(gone)
    assert (eager._index.ntotal, lazy._index.ntotal) == (270, 300)


def test_a_loaded_index_takes_the_config_it_is_loaded_with(tmp_path: Path) -> None:
    """The config is the process's policy, not the file's: a save keeps none of it."""
    index, _ = build(100, approximate=True, config=GRAPH_ONLY)
    index.save(tmp_path / "kind.vec")
    assert VectorIndex.load(tmp_path / "kind.vec").config == IndexConfig()
    assert VectorIndex.load(tmp_path / "kind.vec", config=GRAPH_ONLY).config == GRAPH_ONLY


def _graph_sizes(index: VectorIndex) -> tuple[int, int, int, int]:
    graph = index._index
    assert isinstance(graph, faiss.IndexHNSWSQ)
    # faiss's stubs leave out the offsets and the codes.
    codes = faiss.downcast_index(graph.storage).codes  # type: ignore[attr-defined]
    offsets = graph.hnsw.offsets  # type: ignore[attr-defined]
    return graph.ntotal, graph.hnsw.levels.size(), offsets.size(), codes.size()


def test_room_left_in_the_graph_changes_no_size_and_no_answer() -> None:
    index, _ = build(300, approximate=True)
    queries = unit_vectors(10, seed=1)
    assert _graph_sizes(index) == (300, 300, 301, 300 * DIM)  # int8 codes: a byte a dimension
    index.upsert([5000], queries[:1])
    assert _graph_sizes(index) == (301, 301, 302, 301 * DIM)
    assert index.search(queries[0], 1)[0][0] == 5000


def test_failed_save_leaves_the_previous_file(tmp_path: Path) -> None:
    index, stored = build(100, approximate=True)
    path = tmp_path / "kind.vec"
    index.save(path)
    before = index.search(next(iter(stored.values())), 5)
    index.upsert([7], unit_vectors(1, seed=9))

    def crash(*_: object) -> None:
        raise OSError("disk full")

    with mock.patch("faiss.write_index", side_effect=crash), pytest.raises(OSError):
        index.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["kind.vec"]  # no temp file left behind
    survivor = VectorIndex.load(path)
    assert 7 not in survivor
    assert survivor.search(next(iter(stored.values())), 5) == before


def test_load_rejects_a_foreign_file(tmp_path: Path) -> None:
    path = tmp_path / "not-an-index.vec"
    path.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip archive
    with pytest.raises(IndexFileMismatchError, match=r"not-an-index\.vec"):
        VectorIndex.load(path)


def test_searches_run_while_updates_happen() -> None:
    index, stored = build(300, approximate=True)
    queries = unit_vectors(20, seed=1)
    errors: list[BaseException] = []

    def search_loop() -> None:
        try:
            for _ in range(30):
                assert len(index.search_batch(queries, 10)) == 20
        except BaseException as error:  # re-raised in the main thread
            errors.append(error)

    threads = [threading.Thread(target=search_loop) for _ in range(3)]
    for thread in threads:
        thread.start()
    for round_ in range(20):
        index.upsert(list(stored)[round_ * 10 : round_ * 10 + 10], unit_vectors(10, seed=round_))
    for thread in threads:
        thread.join()
    assert not errors
    assert len(index) == 300


def test_membership_and_validation() -> None:
    index = VectorIndex(DIM)
    assert index.search(unit_vectors(1, seed=0)[0], 5) == []
    index.upsert([1, 2], unit_vectors(2, seed=0))
    assert 1 in index
    assert "1" not in index
    assert -1 not in index
    assert 2**70 not in index
    with pytest.raises(ValueError, match="shape"):
        index.upsert([3], unit_vectors(1, seed=0, dim=DIM + 1))
    with pytest.raises(ValueError, match="duplicate"):
        index.upsert([3, 3], unit_vectors(2, seed=0))
    with pytest.raises(ValueError, match="ids must lie"):
        index.upsert([-3], unit_vectors(1, seed=0))
    assert len(index) == 2


def test_empty_index_round_trips(tmp_path: Path) -> None:
    index = VectorIndex(DIM)
    index.upsert([4], unit_vectors(1, seed=0))
    assert index.remove(i for i in [4, 5]) == 1
    index.save(tmp_path / "empty.vec")
    loaded = VectorIndex.load(tmp_path / "empty.vec")
    assert len(loaded) == 0
    assert loaded.search(unit_vectors(1, seed=1)[0], 3, allowed=[4]) == []


def clustered_vectors(count: int, dim: int, seed: int) -> Vectors:
    """Points around 300 centres in an 8-dimensional subspace, plus isotropic noise: embeddings'
    structure (independent Gaussian vectors have no near neighbours for a graph to find)."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((8, dim), dtype=np.float32)
    centres = rng.standard_normal((300, 8), dtype=np.float32)
    latent = centres[rng.integers(300, size=count)] + 0.6 * rng.standard_normal((count, 8), dtype=np.float32)
    vectors = latent @ basis + 1.0 * rng.standard_normal((count, dim), dtype=np.float32)
    return np.asarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), dtype=np.float32)


def test_the_default_graph_above_the_switch_finds_095_of_the_exact_top_10() -> None:
    """30k clustered vectors, past the default 20k switch to a graph: the default build and search
    settings find at least 0.95 of the exact top 10, unfiltered and under a 10 % filter (walked)."""
    vectors = clustered_vectors(30_200, 64, seed=5)
    stored, queries = vectors[:30_000], vectors[30_000:]
    index = VectorIndex(64)
    index.upsert(np.arange(len(stored)), stored)
    assert index.is_approximate
    allowed = np.flatnonzero(np.random.default_rng(6).random(len(stored)) < 0.1)
    for subset in (None, allowed):
        candidates = stored if subset is None else stored[subset]
        exact = np.argsort(-(queries @ candidates.T), axis=1)[:, :10]
        truth = exact if subset is None else subset[exact]
        found = [{i for i, _ in hits} for hits in index.search_batch(queries, 10, allowed=subset)]
        overlap = sum(len(hits & set(true.tolist())) for hits, true in zip(found, truth, strict=True))
        assert overlap / truth.size >= 0.95, "unfiltered" if subset is None else "10 % filter"
