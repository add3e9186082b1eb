"""Lexical weights in float16: scores within 2^-11 of themselves, and the same recommendations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from matcher.catalog import Catalog
from matcher.config import MatcherConfig, RerankConfig, RetrievalConfig
from matcher.lexical_rows import CompactRows
from matcher.matcher import Matcher
from models.db import create_db_engine, session_factory
from models.enums import EntityKind
from tests.conftest import TEST_SECRET
from tests.doubles import HashingEncoder
from tests.factories import load_small_demo

FLOAT16_RELATIVE = 2.0**-11
DIRECTIONS = (
    (EntityKind.investor, EntityKind.startup),
    (EntityKind.startup, EntityKind.investor),
    (EntityKind.mentor, EntityKind.startup),
    (EntityKind.startup, EntityKind.space),
    (EntityKind.person, EntityKind.post),
)


def _rows(seed: int) -> sp.csr_matrix:
    """L2-normalised non-negative rows, as TF-IDF rows are."""
    rng = np.random.default_rng(seed)
    dense = np.where(rng.random((400, 300)) < 0.08, rng.random((400, 300)), 0).astype(np.float32)
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    return sp.csr_matrix(dense / np.where(norms == 0, 1, norms))


def test_float16_scores_are_within_their_rounding_of_the_exact_ones() -> None:
    matrix = _rows(1)
    rng = np.random.default_rng(2)
    dense = np.where(rng.random(300) < 0.2, rng.random(300), 0).astype(np.float32)
    rows = rng.integers(0, 400, 250)
    exact = np.asarray(matrix[rows] @ dense.astype(np.float64)).ravel()
    compact = CompactRows.from_matrix(matrix, "float16")
    assert compact.data.dtype == np.float16
    assert compact.indices.dtype == np.int32
    scores = compact.dot(rows, dense)
    assert np.all(np.abs(scores - exact) <= FLOAT16_RELATIVE * exact + 1e-7)
    assert np.any(scores != exact)  # the weights were rounded
    np.testing.assert_allclose(CompactRows.from_matrix(matrix, "float32").dot(rows, dense), exact, rtol=1e-6)


def test_float32_scores_are_the_float32_matrix_product() -> None:
    matrix = _rows(5)
    rng = np.random.default_rng(6)
    dense = np.where(rng.random(300) < 0.2, rng.random(300), 0).astype(np.float32)
    rows = rng.integers(0, 400, 250)
    compact = CompactRows.from_matrix(matrix, "float32")
    scores = compact.dot(rows, dense)
    assert scores.dtype == np.float64
    np.testing.assert_array_equal(scores, np.asarray(matrix[rows] @ dense, dtype=np.float64))
    assert compact.dot(np.zeros(0, dtype=np.int64), dense).shape == (0,)


def test_rows_held_in_place_are_scored_over_the_arrays_they_are_held_in() -> None:
    matrix = _rows(5)
    rng = np.random.default_rng(7)
    dense = rng.random(300).astype(np.float32)
    run = CompactRows.run_of(matrix, 30, 100, "float32")  # a quarter of the matrix: scipy would copy it
    rows = rng.integers(0, 100, 60)
    np.testing.assert_array_equal(run.dot(rows, dense), np.asarray(matrix[30:130][rows] @ dense, np.float64))
    assert np.shares_memory(run._float32_matrix.data, matrix.data)
    assert np.shares_memory(run._float32_matrix.indices, matrix.indices)


def test_taken_and_stacked_rows_read_as_the_matrix_rows() -> None:
    matrix = _rows(3)
    compact = CompactRows.from_matrix(matrix, "float32")
    order = np.array([5, 0, 399, 5, 17])
    np.testing.assert_array_equal(compact.take(order).toarray(), matrix[order].toarray())
    added = _rows(4)[:3]
    np.testing.assert_array_equal(compact.stacked(added).toarray(), sp.vstack([matrix, added]).toarray())
    indices, weights = compact.entries(17)
    np.testing.assert_array_equal(indices, matrix[17].indices)
    np.testing.assert_array_equal(compact.row(17).toarray(), matrix[17].toarray())
    assert weights.dtype == np.float32


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder: Path = tmp_path_factory.mktemp("float16")
    load_small_demo(f"sqlite:///{folder / 'demo.db'}", seed=11, secret=TEST_SECRET)
    return folder / "demo.db"


def _matcher(source: Path, weights: str) -> Matcher:
    engine = create_db_engine(f"sqlite:///{source}")
    with session_factory(engine)() as session:
        catalog = Catalog.from_database(session)
    engine.dispose()
    config = MatcherConfig(
        rerank=RerankConfig(exposure_cap=None), retrieval=RetrievalConfig(lexical_weights=weights)
    )
    return Matcher(encoder=HashingEncoder(), config=config).fit(catalog)


def test_float16_weights_recommend_as_float32_ones(demo: Path) -> None:
    """Every direction, 20 askers each: the same top 10 in the same order, and each shown
    candidate's lexical similarity within float16's rounding of the exact one."""
    exact, compact = _matcher(demo, "float32"), _matcher(demo, "float16")
    compared = 0
    for asker, candidate in DIRECTIONS:
        for row_id in exact.catalog_.tables[asker].ids[:20].tolist():
            wanted = exact.recommend(asker, row_id, candidate, k=10)
            got = compact.recommend(asker, row_id, candidate, k=10)
            assert [m.id for m in got] == [m.id for m in wanted], (asker, row_id)
            for one, other in zip(got, wanted, strict=True):
                lexical = other.features["lexical"]
                assert abs(one.features["lexical"] - lexical) <= FLOAT16_RELATIVE * lexical + 1e-6
            compared += len(wanted)
    assert compared > 500
