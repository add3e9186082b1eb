"""Lexical rows held compactly: each row's features (int32) and weights in float16.

A distinct listing's TF-IDF row holds ~500 features. As a float32 CSR matrix that is 8 bytes a
feature, ~4 KB a startup before the postings derived from it, which alone is a real catalogue's
whole 4 KB budget a profile. Weights in float16 take 6 bytes a feature. A weight is in [0, 1]
(rows are L2-normalised), where float16 keeps 11 significant bits: a relative error of at most
2^-11 (4.9e-4) per weight, and at most that on a score summed from them, since products of
non-negative weights carry their errors in proportion. scipy has no float16 matrices, so
scoring gathers the rows' entries itself.
"""

from __future__ import annotations

import functools
from typing import Any, Final, Literal

import numpy as np
import scipy.sparse as sp

LexicalWeights = Literal["float16", "float32"]
WEIGHT_DTYPES: Final[dict[str, type[np.floating[Any]]]] = {"float16": np.float16, "float32": np.float32}


class CompactRows:
    """Rows of a sparse matrix (CSR layout) whose weights are in ``dtype``."""

    def __init__(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, columns: int) -> None:
        self.data = data
        self.indices = indices
        self.indptr = indptr
        self.columns = columns

    @classmethod
    def from_matrix(cls, matrix: sp.csr_matrix, weights: LexicalWeights) -> CompactRows:
        """``matrix``'s rows, holding its arrays where their dtypes are already these (no copy
        of a catalogue's rows at a build's peak): ``matrix`` must not be changed afterwards."""
        csr = sp.csr_matrix(matrix)
        csr.sum_duplicates()
        return cls(
            csr.data.astype(WEIGHT_DTYPES[weights], copy=False),
            csr.indices.astype(np.int32, copy=False),
            csr.indptr.astype(np.int64, copy=False),
            csr.shape[1],
        )

    @classmethod
    def run_of(cls, matrix: sp.csr_matrix, first: int, count: int, weights: LexicalWeights) -> CompactRows:
        """Rows ``first`` to ``first + count`` of ``matrix`` (canonical: sorted, no duplicates),
        holding its arrays in place where their dtypes are already these (scipy would copy a
        slice of less than half an array): ``matrix`` must not be changed afterwards."""
        start, end = int(matrix.indptr[first]), int(matrix.indptr[first + count])
        return cls(
            matrix.data[start:end].astype(WEIGHT_DTYPES[weights], copy=False),
            matrix.indices[start:end].astype(np.int32, copy=False),
            (matrix.indptr[first : first + count + 1] - start).astype(np.int64),
            matrix.shape[1],
        )

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.indptr) - 1, self.columns

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.data.dtype

    def entries(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """Row ``row``'s features and their weights (float32), read in place."""
        start, end = int(self.indptr[row]), int(self.indptr[row + 1])
        return self.indices[start:end], self.data[start:end].astype(np.float32)

    def row(self, row: int) -> sp.csr_matrix:
        """Row ``row`` as a one-row float32 matrix."""
        indices, weights = self.entries(row)
        return sp.csr_matrix((weights, indices, np.asarray([0, len(indices)])), shape=(1, self.columns))

    def _gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The entries of ``rows`` in order (their offsets into data and indices), and each row's count."""
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        counts = ends - starts
        offsets = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        return offsets, counts

    @functools.cached_property
    def _float32_matrix(self) -> sp.csr_matrix:
        """The rows as a scipy matrix over these very arrays: a memory-mapped store stays shared,
        and rows held in place in a larger matrix (:meth:`run_of`) are not copied out of it,
        as scipy's constructor copies a slice of less than half an array. Only the row offsets
        are narrowed to the features' dtype (as the constructor does)."""
        if int(self.indptr[-1]) > np.iinfo(self.indices.dtype).max:
            return sp.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape, copy=False)
        matrix = sp.csr_matrix(self.shape, dtype=self.data.dtype)
        # The rows are canonical (sorted, no duplicates), as the empty matrix's flags say.
        matrix.data, matrix.indices = self.data, self.indices
        matrix.indptr = self.indptr.astype(self.indices.dtype)
        return matrix

    def dot(self, rows: np.ndarray, dense: np.ndarray) -> np.ndarray:
        """Inner products of ``rows`` with the dense vector ``dense`` (float32), as float64.

        Float32 rows go through scipy, which gathers the rows and sums their products in C (in
        float32, as the float32 CSR store before these rows did): the gather below makes a dozen
        passes over arrays as long as the rows' entries, 15 % of the instructions of an answer
        in the served mix (``benchmarks/serve_cpu.py``). Float16 rows, which scipy cannot hold,
        are gathered here and summed in float64.
        """
        if self.dtype == np.float32:
            return np.asarray(self._float32_matrix[rows] @ dense, dtype=np.float64)
        offsets, counts = self._gather(np.asarray(rows, dtype=np.int64))
        products = self.data.take(offsets).astype(np.float32) * dense.take(self.indices.take(offsets))
        owner = np.repeat(np.arange(len(counts)), counts)
        return np.bincount(owner, weights=products, minlength=len(counts))

    def take(self, rows: np.ndarray) -> CompactRows:
        """The rows ``rows``, in that order, as rows of their own."""
        offsets, counts = self._gather(np.asarray(rows, dtype=np.int64))
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return CompactRows(self.data.take(offsets), self.indices.take(offsets), indptr, self.columns)

    def stacked(self, matrix: sp.csr_matrix) -> CompactRows:
        """These rows, then ``matrix``'s."""
        added = CompactRows.from_matrix(matrix, "float16" if self.dtype == np.float16 else "float32")
        return CompactRows(
            np.concatenate([self.data, added.data]),
            np.concatenate([self.indices, added.indices]),
            np.concatenate([self.indptr, added.indptr[1:] + self.indptr[-1]]),
            max(self.columns, added.columns),
        )

    def matrix(self) -> sp.csr_matrix:
        """The rows as a float32 CSR matrix (a copy: for a compaction's derivations, not queries)."""
        return sp.csr_matrix((self.data.astype(np.float32), self.indices, self.indptr), shape=self.shape)

    def toarray(self) -> np.ndarray:
        return self.matrix().toarray()
