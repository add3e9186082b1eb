"""A saved VectorIndex: quantised graph re-scored exactly, memory-mapped loads shared between
processes, private changes after a load, and the manifest that keeps a damaged save from being read."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from embeddings.index import IndexConfig, IndexFileMismatchError, VectorIndex, _read_rows
from tests.embeddings.test_index import DIM, THRESHOLD, build, reference, unit_vectors


def _mapped_files() -> set[str]:
    with open("/proc/self/maps") as maps:
        return {line.split()[-1] for line in maps if len(line.split()) == 6}


def test_graph_hits_carry_their_exact_scores() -> None:
    index, stored = build(300, approximate=True)
    for query in unit_vectors(5, seed=3):
        for id, score in index.search(query, 10):
            assert score == pytest.approx(float(stored[id] @ query), abs=1e-6)


@pytest.mark.parametrize("codes", ["int8", "fp16"])
def test_either_graph_code_finds_the_exact_top_10(codes: str) -> None:
    config = IndexConfig.model_validate({"graph_codes": codes, "rescore_multiple": 4})
    index, stored = build(300, approximate=True, config=config)
    queries = unit_vectors(20, seed=2)
    found = sum(len({i for i, _ in index.search(q, 10)} & set(reference(stored, q, 10))) for q in queries)
    assert found >= 0.95 * 10 * len(queries)


def test_a_load_maps_the_graph_and_vectors_and_reads_no_private_copy(tmp_path: Path) -> None:
    index, stored = build(300, approximate=True)
    index.save(tmp_path / "kind.vec")
    loaded = VectorIndex.load(tmp_path / "kind.vec")
    assert loaded.is_shared
    mapped = _mapped_files()
    assert {str(tmp_path / "kind.vec" / name) for name in ("index.faiss", "vectors.npy")} <= mapped
    ids = list(stored)[:5]
    assert np.array_equal(loaded.vectors_of(ids), np.stack([stored[i] for i in ids]))


def test_the_saving_process_reads_its_vectors_from_the_saved_file(tmp_path: Path) -> None:
    index, stored = build(300, approximate=True)
    index.save(tmp_path / "kind.vec")
    assert str(tmp_path / "kind.vec" / "vectors.npy") in _mapped_files()
    query = unit_vectors(1, seed=4)[0]
    assert [i for i, _ in index.search(query, 10)] == reference(stored, query, 10)


def test_changes_after_a_load_stay_private_beside_the_shared_graph(tmp_path: Path) -> None:
    index, stored = build(300, approximate=True)
    index.save(tmp_path / "kind.vec")
    loaded = VectorIndex.load(tmp_path / "kind.vec", config=IndexConfig(delta_limit=50))
    added = dict(zip(range(1, 31), unit_vectors(30, seed=6), strict=True))
    replaced = dict(zip(list(stored)[:10], unit_vectors(10, seed=7), strict=True))
    gone = list(stored)[10:20]
    loaded.upsert(list(added), np.stack(list(added.values())))
    loaded.upsert(list(replaced), np.stack(list(replaced.values())))
    loaded.remove([*gone, 5])
    expected = {**{i: v for i, v in stored.items() if i not in gone}, **replaced, **added}
    del expected[5]
    assert loaded.is_shared
    assert loaded._index.ntotal == 300
    for query in unit_vectors(10, seed=8):
        assert [i for i, _ in loaded.search(query, 10)] == reference(expected, query, 10)
        allowed = set(list(expected)[::3])
        hits = loaded.search(query, 10, allowed=allowed)
        assert [i for i, _ in hits] == reference(expected, query, 10, allowed)
    assert VectorIndex.load(tmp_path / "kind.vec").search(unit_vectors(1, seed=8)[0], 300) == index.search(
        unit_vectors(1, seed=8)[0], 300
    )
    loaded.save(tmp_path / "kind.vec")
    reloaded = VectorIndex.load(tmp_path / "kind.vec")
    assert len(reloaded) == len(expected)
    assert all(i in reloaded for i in expected)


def test_a_delta_past_its_limit_moves_into_a_private_graph(tmp_path: Path) -> None:
    index, stored = build(300, approximate=True)
    index.save(tmp_path / "kind.vec")
    loaded = VectorIndex.load(tmp_path / "kind.vec", config=IndexConfig(delta_limit=20))
    added = dict(zip(range(1, 22), unit_vectors(21, seed=9), strict=True))
    loaded.upsert(list(added)[:20], np.stack(list(added.values())[:20]))
    assert loaded.is_shared
    loaded.upsert(list(added)[20:], np.stack(list(added.values())[20:]))
    assert not loaded.is_shared
    assert loaded._index.ntotal == 321
    for query in unit_vectors(10, seed=10):
        assert [i for i, _ in loaded.search(query, 10)] == reference({**stored, **added}, query, 10)


def test_compaction_after_a_load_drops_the_tombstones_into_a_private_graph(tmp_path: Path) -> None:
    index, stored = build(300, approximate=True)
    index.save(tmp_path / "kind.vec")
    loaded = VectorIndex.load(tmp_path / "kind.vec")
    loaded.remove(list(stored)[:20])
    loaded.compact()
    assert not loaded.is_shared
    assert loaded._index.ntotal == 280
    rest = dict(list(stored.items())[20:])
    query = unit_vectors(1, seed=11)[0]
    assert [i for i, _ in loaded.search(query, 10)] == reference(rest, query, 10)


@pytest.mark.parametrize("approximate", [False, True], ids=["exact", "hnsw"])
def test_a_part_loads_only_its_ids_vectors_unmapped_and_searches_as_they_alone(
    tmp_path: Path, approximate: bool
) -> None:
    index, stored = build(300, approximate=approximate)
    index.remove(list(stored)[:3])  # saved as tombstones (hnsw): never part of a part
    index.save(tmp_path / "kind.vec")
    del index  # the saving process maps what it saved
    kept = [i for n, i in enumerate(stored) if n % 3 != 1]
    part = VectorIndex.load_part(tmp_path / "kind.vec", [*kept, 7])  # 7: in no index
    live = kept[2:]
    assert len(part) == len(live)
    assert all(i in part for i in live)
    assert not any(i in part for i in [*list(stored)[:3], *(i for i in stored if i not in kept)])
    assert np.array_equal(part.vectors_of(live), np.stack([stored[i] for i in live]))
    assert not part.is_shared
    saved = {str(tmp_path / "kind.vec" / name) for name in ("index.faiss", "vectors.npy")}
    assert not saved & _mapped_files()
    own = {i: stored[i] for i in live}
    for query in unit_vectors(5, seed=12):
        assert [i for i, _ in part.search(query, 10)] == reference(own, query, 10)


def test_rows_read_a_block_at_a_time_are_the_saved_rows(tmp_path: Path) -> None:
    index, stored = build(300, approximate=True)
    index.save(tmp_path / "kind.vec")
    slots = np.asarray([0, 6, 7, 8, 20, 21, 299])
    rows = _read_rows(tmp_path / "kind.vec" / "vectors.npy", slots, DIM, block=7)
    assert np.array_equal(rows, np.stack(list(stored.values()))[slots])


def _saved(tmp_path: Path) -> Path:
    index, _ = build(THRESHOLD * 4, approximate=True)
    index.save(tmp_path / "kind.vec")
    return tmp_path / "kind.vec"


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-8])


def _flip_a_byte(path: Path) -> None:
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))


@pytest.mark.parametrize("name", ["index.faiss", "vectors.npy", "ids.npy"])
@pytest.mark.parametrize(("damage", "reason"), [(_truncate, "bytes"), (_flip_a_byte, "sha256")])
def test_a_file_unlike_its_manifest_is_refused_naming_it(
    tmp_path: Path, name: str, damage: Callable[[Path], None], reason: str
) -> None:
    folder = _saved(tmp_path)
    damage(folder / name)
    with pytest.raises(IndexFileMismatchError, match=rf"{re.escape(name)}: .*{reason}"):
        VectorIndex.load(folder)


def test_another_schema_version_or_a_missing_file_is_refused(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(
        json.dumps({**manifest, "schema_version": manifest["schema_version"] + 1})
    )
    with pytest.raises(IndexFileMismatchError, match="schema version"):
        VectorIndex.load(folder)
    (folder / "manifest.json").write_text(json.dumps({**manifest, "dim": None}))
    with pytest.raises(IndexFileMismatchError, match="no dimension"):
        VectorIndex.load(folder)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "ids.npy").unlink()
    with pytest.raises(IndexFileMismatchError, match=r"ids\.npy: missing"):
        VectorIndex.load(folder)


def test_an_exact_index_saves_no_vectors_file_and_is_not_shared(tmp_path: Path) -> None:
    index, _ = build(30, approximate=False)
    index.save(tmp_path / "kind.vec")
    assert sorted(p.name for p in (tmp_path / "kind.vec").iterdir()) == [
        "ids.npy",
        "index.faiss",
        "manifest.json",
    ]
    loaded = VectorIndex.load(tmp_path / "kind.vec")
    assert not loaded.is_shared
    loaded.upsert([1000], unit_vectors(1, seed=12))  # rewritten in place
    assert np.array_equal(loaded.vectors_of([1000])[0], unit_vectors(1, seed=12)[0])
    assert loaded.dim == DIM


def test_a_bulk_load_keeps_its_own_copy_of_the_callers_vectors() -> None:
    vectors = unit_vectors(300, seed=13)
    index = VectorIndex(DIM, exact_threshold=THRESHOLD)
    index.upsert(np.arange(300), vectors)
    kept = vectors.copy()
    vectors[:] = 0
    assert np.array_equal(index.vectors_of(list(range(300))), kept)


def test_a_bulk_load_of_read_only_vectors_keeps_them_and_finds_what_a_copy_finds() -> None:
    copied = VectorIndex(DIM, exact_threshold=THRESHOLD)
    copied.upsert(np.arange(300), unit_vectors(300, seed=13))
    vectors = unit_vectors(300, seed=13)
    vectors.flags.writeable = False
    kept = VectorIndex(DIM, exact_threshold=THRESHOLD)
    kept.upsert(np.arange(300), vectors)
    assert kept._vectors is not None
    assert any(np.shares_memory(rows, vectors) for _, rows in kept._vectors.segments())
    for query in unit_vectors(5, seed=14):
        assert kept.search(query, 10) == copied.search(query, 10)
    kept.upsert([300, 5], unit_vectors(2, seed=15))  # later rows go to a private copy
    assert np.array_equal(kept.vectors_of([300, 5]), unit_vectors(2, seed=15))
    assert np.array_equal(kept.vectors_of(list(range(6, 300))), vectors[6:])
