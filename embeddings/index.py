"""A vector index per candidate kind: exact below a size threshold, HNSW over quantised codes above it.

Vectors arrive L2-normalised, so the inner product is the cosine. External ids are database row
ids; the index maps them to dense internal slots (faiss positions) with two numpy arrays, which
keeps every translation vectorised: a 10 % filter over a million candidates is a 0.2 ms gather,
where a dict or a faiss hash map costs 4-60 ms.

Exact mode is a plain ``IndexFlatIP``: a replaced vector is overwritten in place and a removal
compacts the flat storage at once. HNSW cannot remove, so in HNSW mode a replaced or removed
slot becomes a tombstone, excluded from every search by an ID selector, and the graph is rebuilt
only when tombstones pass a quarter of the slots; that rebuild is amortised over as many updates.

The graph walks over scalar-quantised codes (int8 by default: a quarter of the float size) and
re-scores what it finds exactly against the full-precision vectors, which live beside it, row per
slot. A saved index is a directory (graph, ids, vectors and a manifest of their sizes and hashes);
loading memory-maps the graph (faiss ``IO_FLAG_MMAP_IFC``) and the vectors (numpy), so every process
on a host that loads the same directory shares one copy of their pages, and a search touches only
the vector rows it re-scores. A memory-mapped graph is read-only: vectors added after the load are
kept privately and scanned exactly beside it (the delta), until there are ``delta_limit`` of them and
the process copies the graph into private memory to add them, or a compaction rebuilds it.

Filtered search always returns min(k, eligible) hits: a filter admitting few vectors is scanned
exactly (cheaper than the graph there); a wider one walks the graph with a beam widened in
proportion to the filter's selectivity, and any query whose walk still strands short of k is
scanned.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Final, Literal

import faiss
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from models.files import file_sha256, replace_directory, verified_manifest

Ids = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float32]
Hit = tuple[int, float]

# The faiss 1.15 stubs lack SearchParametersHNSW and the PyCallbackIO classes, and type
# IDSelectorBitmap with the two-argument C signature instead of the wrapper taking one array.
_faiss: Any = faiss

MAX_ID: Final = 2**31 - 1  # ids index a direct-address table: database INTEGER keys fit
_MAPPING_VERSIONS = itertools.count()
_FORMAT: Final = "citypartner-vector-index"
# 3: the least beam is a search policy (IndexConfig.least_beam), no longer a stored build parameter.
SCHEMA_VERSION: Final = 3
_MANIFEST: Final = "manifest.json"
_GRAPH_FILE: Final = "index.faiss"
_IDS_FILE: Final = "ids.npy"
_VECTORS_FILE: Final = "vectors.npy"
_SQ_TYPES: Final[dict[str, Any]] = {
    "int8": faiss.ScalarQuantizer.QT_8bit,
    "fp16": faiss.ScalarQuantizer.QT_fp16,
}
GraphCodes = Literal["int8", "fp16"]


class IndexFileMismatchError(ValueError):
    """A saved index whose files do not match their manifest: it must be rebuilt, never read."""


class IndexConfig(BaseModel):
    """How an index searches, compacts and codes its graph: a policy of the process using it, not
    stored with the index (unlike the graph's build parameters, which the stored graph was made
    with). A loaded graph keeps the codes it was built with until it is rebuilt.

    Parameters
    ----------
    compact_fraction : float
        An HNSW graph is rebuilt without its tombstones once they pass this share of its slots.
    beam_per_result : float
        A filtered graph walk's beam (efSearch) is the unfiltered walk's, B = max(least_beam,
        rescore_multiple * k), times this and divided by the share s of slots the filter admits.
        Measured at 200k x 384 (``benchmarks/index_scale.py``): a walk needs about 0.25 k / s to
        meet k admitted vectors; 0.2 B / s (0.4 k / s at k >= 50) leaves a margin, and a walk that
        still strands is scanned. Scaling B rather than k keeps small-k walks as wide as k = 50's:
        at 100k x 384 a 0.4 k / s beam found 0.83-0.92 of the exact top 10 for k = 10 (1-10 %
        admitted) where k = 50's found 0.99-1.00.
    exact_scan_factor : float
        A search admitting E vectors is scanned exactly rather than walked while E <= this * B,
        B the beam the walk would take (``beam_per_result``): a vector scanned costs about a
        tenth of a beam entry walked. Measured at 1M x 384 (``benchmarks/index_scale.py
        --sweep``, 2026-12-07): a 1 % filter walked with a beam of 2,000 at k = 10 took 14.91 ms
        p50 (7.5 us an entry), the exact scan of its 10,000 vectors at k = 50 7.47 ms (0.75 us a
        vector). Counting k instead of the beam walked that filter at k = 10 for twice the cost.
    parallel_scan_min : int
        An exact scan over at least this many eligible vectors is split across ``scan_threads``
        (faiss releases the GIL): at 1M x 128 one query's scan of 140k eligible vectors took
        11.7 ms on one core and 6.4 ms on two; below ~30k the split gains under a millisecond.
    scan_threads : int
        Threads a split scan uses; by default the cores, at most 4.
    graph_codes : {"int8", "fp16"}
        How the graph stores the vectors it walks over: one byte a dimension (scalar-quantised,
        trained on the vectors the graph is built from) or two. Hits are re-scored exactly either
        way. Measured at 200k x 384 (``benchmarks/index_scale.py``): int8 holds 693 bytes a
        vector in the process against the float graph's 1,789, builds faster (146 s against
        181 s), and after the re-score finds the float graph's top 10 (0.998-0.999 of it).
    rescore_multiple : float
        A graph walk's beam (efSearch) holds at least this many hits per result wanted; every
        hit of the beam is re-scored against the full-precision vectors and the best kept:
        quantisation misorders near-ties, and the extra hits let the true ones back in. Reading
        a beam's rows costs microseconds beside the walk that found them.
    least_beam : int
        The least beam of a graph walk, whatever k (a filtered walk's is widened by
        ``beam_per_result``): recall@10 depends on the beam, not on k. Measured at 1M x 384
        (``benchmarks/index_scale.py --sweep``, M 32, ef_construction 80): k = 10 found 0.995 of
        the exact top 10 with a beam of 64, 0.996 with 100; 100 is the beam of k = 50.
    delta_limit : int
        Vectors added after a memory-mapped load are scanned exactly beside the shared graph;
        past this many, the graph is copied into private memory and they join it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    compact_fraction: float = Field(default=0.25, gt=0, le=1)
    beam_per_result: float = Field(default=0.2, gt=0)
    exact_scan_factor: float = Field(default=10.0, ge=0)
    parallel_scan_min: int = Field(default=50_000, ge=0)
    scan_threads: int = Field(default_factory=lambda: min(os.cpu_count() or 1, 4), ge=1)
    graph_codes: GraphCodes = "int8"
    rescore_multiple: float = Field(default=2.0, ge=1)
    least_beam: int = Field(default=100, ge=1)
    delta_limit: int = Field(default=10_000, ge=0)


class _ReadWriteLock:
    """Searches share the index; a mutation has it alone.

    A waiting writer stops new readers from entering, so updates are not starved by a steady
    stream of searches.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and self._writers_waiting == 0)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            self._cond.wait_for(lambda: not self._writing and self._readers == 0)
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class _Eligible:
    """The slots a search may return: every slot (``mask`` None) or those set in ``mask``.

    The graph walk needs a selector and the exact scan a slot list; each is built on first use.
    """

    def __init__(self, count: int, mask: npt.NDArray[np.bool_] | None) -> None:
        self.count = count
        self.mask = mask

    @cached_property
    def selector(self) -> faiss.IDSelector | None:
        return None if self.mask is None else _bitmap_selector(self.mask)

    @cached_property
    def slots(self) -> Ids | None:
        return None if self.mask is None else np.flatnonzero(self.mask)


class _FullVectors:
    """The full-precision vector of every graph slot, by slot: the rows of a saved file, memory-
    mapped read-only (so processes loading the same file share its pages, and only the rows read
    are brought in), then the rows appended since, held privately."""

    def __init__(self, dim: int, *, shared: Floats | None = None, private: Floats | None = None) -> None:
        """``private``: rows this store takes over (not copied), so no caller may write them later."""
        self._shared = np.empty((0, dim), np.float32) if shared is None else shared
        self._private = np.empty((0, dim), np.float32) if private is None else private
        self._private_count = len(self._private)

    def __len__(self) -> int:
        return len(self._shared) + self._private_count

    def append(self, vectors: Floats) -> None:
        """Copy ``vectors`` in, or take them over when they are the first private rows and read-only
        (rows nobody writes): a bulk load's copy of a catalogue's vectors was its build's peak."""
        if not self._private_count and not vectors.flags.writeable:
            self._private = vectors
            self._private_count = len(vectors)
            return
        end = self._private_count + len(vectors)
        if end > len(self._private):
            grown = np.empty((max(end, 2 * len(self._private)), self._private.shape[1]), np.float32)
            grown[: self._private_count] = self._private[: self._private_count]
            self._private = grown
        self._private[self._private_count : end] = vectors
        self._private_count = end

    def rows(self, slots: Ids) -> Floats:
        shared = slots < len(self._shared)
        if shared.all():
            return np.asarray(self._shared[slots])
        out = np.empty((len(slots), self._private.shape[1]), np.float32)
        out[shared] = self._shared[slots[shared]]
        out[~shared] = self._private[slots[~shared] - len(self._shared)]
        return out

    def segments(self) -> list[tuple[int, Floats]]:
        """(first slot, contiguous rows) of each non-empty part, in slot order."""
        parts = [(0, self._shared), (len(self._shared), self._private[: self._private_count])]
        return [(start, rows) for start, rows in parts if len(rows)]


class IdColumn:
    """A fixed array of external ids (a table's id column) over which filters come as masks.

    A search turns a mask over it into eligible slots with one gather through a slot -> position
    map kept here, where a list of allowed ids costs a lookup and a scatter: at a million rows
    and hundreds of thousands admitted, about two milliseconds a query.
    """

    def __init__(self, ids: Ids) -> None:
        self.ids = ids
        self.slot_positions: Ids | None = None
        # Whether each slot holds the id at its own position (an index built in the column's
        # order): a mask over the column is then the slots' mask as it is, with no gather.
        self.in_slot_order = False
        self.mapped_version = -1


class MaskedIds:
    """The ids of ``column`` where ``mask`` is set."""

    def __init__(self, column: IdColumn, mask: npt.NDArray[np.bool_]) -> None:
        if mask.shape != column.ids.shape:
            raise ValueError(f"mask: {mask.shape[0]} entries for {len(column.ids)} ids")
        self.column = column
        self.mask = mask


class VectorIndex:
    """Inner-product index over external int ids with in-place updates and filtered search.

    Parameters
    ----------
    dim : int
        The vectors' dimension.
    exact_threshold : int
        Up to this many vectors the index is a flat array searched exactly; beyond, an HNSW graph.
    hnsw_m : int
        The graph's neighbours per node (faiss ``M``).
    ef_construction : int
        The beam used while building the graph.
    config : IndexConfig
        How searches choose between a walk and a scan, split scans, and when to compact.
    """

    def __init__(
        self,
        dim: int,
        *,
        exact_threshold: int = 20_000,
        hnsw_m: int = 32,
        ef_construction: int = 80,
        config: IndexConfig | None = None,
    ) -> None:
        if min(dim, hnsw_m, ef_construction) < 1 or exact_threshold < 0:
            raise ValueError("dim, hnsw_m, ef_construction must be positive and exact_threshold non-negative")
        self._dim = dim
        self.config = config or IndexConfig()
        self._params = {
            "exact_threshold": exact_threshold,
            "hnsw_m": hnsw_m,
            "ef_construction": ef_construction,
        }
        self._index: faiss.Index = faiss.IndexFlatIP(dim)
        # The full-precision vectors behind a graph; an exact index is its own full-precision store.
        self._vectors: _FullVectors | None = None
        self._graph_shared = False  # memory-mapped from a saved file, so read-only
        self._ext_buf: Ids = np.empty(0, np.int64)  # slot -> external id, -1 = tombstone
        self._slot_of: Ids = np.empty(0, np.int64)  # external id -> slot, -1 = absent
        self._live = 0
        self._all_live: _Eligible | None = None  # what an unfiltered search may return, cached
        self._mapping_version = next(_MAPPING_VERSIONS)  # new whenever an id moves to another slot
        self._lock = _ReadWriteLock()

    # -- public interface ------------------------------------------------------------------

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def is_approximate(self) -> bool:
        return isinstance(self._index, faiss.IndexHNSW)

    @property
    def graph_bytes(self) -> int:
        """Bytes the search structure holds in memory: an HNSW graph's links and codes (not its
        full-precision vectors, a shared memory-mapped file once saved), or the flat array."""
        index = self._index
        return hnsw_bytes(index) if isinstance(index, faiss.IndexHNSW) else index.ntotal * self._dim * 4

    @property
    def is_shared(self) -> bool:
        """Whether the graph is memory-mapped from a saved file (and so shared with other loaders)."""
        return self._graph_shared

    def __len__(self) -> int:
        return self._live

    def __contains__(self, id: object) -> bool:
        if isinstance(id, bool) or not isinstance(id, int | np.integer) or not 0 <= id <= MAX_ID:
            return False
        return bool(self._lookup(np.array([id], np.int64))[0] >= 0)

    def upsert(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Add or replace the vectors of ``ids``. A graph may keep a read-only ``vectors`` as its
        full-precision rows rather than a copy, so nothing may write them through another handle."""
        ext = _checked_ids(ids)
        vecs = self._checked_vectors(vectors, len(ext))
        if not len(ext):
            return
        with self._lock.writing():
            old = self._lookup(ext)
            if self.is_approximate:
                self._tombstone(old[old >= 0])
                self._append(ext, vecs)
                self._compact_if_needed()
                return
            replaced = old >= 0
            self._stored()[old[replaced]] = vecs[replaced]
            fresh = ~replaced
            if self._live + np.count_nonzero(fresh) > self._params["exact_threshold"]:
                # Migrate before appending, so a bulk load goes straight into the graph.
                self._rebuild(size=self._live + int(np.count_nonzero(fresh)))
            # A bulk load is all fresh: not copying it spares its size at the peak of a build.
            self._append(ext[fresh], vecs if fresh.all() else vecs[fresh])

    def remove(self, ids: Iterable[int]) -> int:
        ext = _lenient_ids(ids)
        with self._lock.writing():
            slots = np.unique(self._lookup(ext))
            slots = slots[slots >= 0]
            if self.is_approximate:
                self._tombstone(slots)
                self._compact_if_needed()
            else:
                self._remove_flat(slots)
            return len(slots)

    def compact(self) -> None:
        """Drop removed vectors from storage now; an erased profile's vector must not linger
        behind a tombstone until the next automatic compaction."""
        with self._lock.writing():
            if self._slot_count() != self._live:
                self._rebuild()

    def search(
        self, query: np.ndarray, k: int, *, allowed: np.ndarray | Collection[int] | MaskedIds | None = None
    ) -> list[Hit]:
        return self.search_batch(np.reshape(query, (1, -1)), k, allowed=allowed)[0]

    def search_batch(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | Collection[int] | MaskedIds | None = None
    ) -> list[list[Hit]]:
        """Top ``k`` per query, best first; exactly ``min(k, |allowed ∩ stored|)`` hits each.

        ``allowed`` is a collection of ids, or a :class:`MaskedIds` (a mask over an id column).
        """
        q = self._checked_vectors(queries, None)
        if isinstance(allowed, MaskedIds):
            with self._lock.reading():
                return self._search_eligible(q, k, self._eligible_masked(allowed))
        allowed_ids = None if allowed is None else _lenient_ids(allowed)
        with self._lock.reading():
            return self._search_eligible(q, k, self._eligible(allowed_ids))

    def _search_eligible(self, q: Floats, k: int, eligible: _Eligible) -> list[list[Hit]]:
        want = min(k, eligible.count)
        if want <= 0:
            return [[] for _ in range(len(q))]
        scores, slots = self._search_slots(q, want, eligible)
        return [self._hits(s, i) for s, i in zip(scores, slots, strict=True)]

    def vectors_of(self, ids: Sequence[int]) -> Floats:
        """The full-precision vectors of ``ids``, reading only their rows."""
        ext = _lenient_ids(ids)
        with self._lock.reading():
            slots = self._lookup(ext)
            if (slots < 0).any():
                raise KeyError(f"ids not in the index: {ext[slots < 0].tolist()}")
            return self._rows(slots)

    def save(self, path: Path) -> None:
        """Write the directory ``path`` whole or not at all: a crash leaves the previous one, or
        none (which a loader treats as "rebuild"), never a torn one.

        The saving process then reads its full-precision vectors from the saved file, as a loader
        would, instead of holding them privately.
        """
        with self._lock.reading():
            replace_directory(Path(path), self._write_files)
            if self._vectors is not None:
                saved = np.load(Path(path) / _VECTORS_FILE, mmap_mode="r")
                # The same rows as before: a concurrent reader sees one store or the other, both right.
                self._vectors = _FullVectors(self._dim, shared=saved)

    @classmethod
    def load(cls, path: Path, *, config: IndexConfig | None = None) -> VectorIndex:
        """Memory-map the index saved at ``path``.

        Raises :class:`IndexFileMismatchError` (naming the file and why) when a file is missing or does
        not match the manifest's size, hash or schema version; nothing of it is then read.
        """
        folder = Path(path)
        manifest = _verified_manifest(folder)
        ext_of = np.load(folder / _IDS_FILE, mmap_mode="c", allow_pickle=False)
        approximate = _VECTORS_FILE in manifest["files"]
        # Only the graph is mapped: an exact index is small and is rewritten in place.
        flags = faiss.IO_FLAG_MMAP_IFC if approximate else 0
        index = faiss.read_index(str(folder / _GRAPH_FILE), flags)
        vectors = np.load(folder / _VECTORS_FILE, mmap_mode="r") if approximate else None
        params = {name: int(v) for name, v in manifest["params"].items()}
        loaded = cls(int(manifest["dim"]), config=config, **params)
        loaded._restore(index, ext_of, vectors)
        return loaded

    @classmethod
    def load_part(
        cls, path: Path, kept: Collection[int] | np.ndarray, *, config: IndexConfig | None = None
    ) -> VectorIndex:
        """Only the vectors of the ids ``kept`` from the index saved at ``path``, indexed anew in
        this process (a shard's part): the saved graph is not read, and the saved vectors are read
        a block at a time, so the others' rows are never held or mapped here (mapping them
        counted every page the gather touched: the whole file, at two shards and more).

        Raises :class:`IndexFileMismatchError` as :meth:`load` does.
        """
        folder = Path(path)
        manifest = _verified_manifest(folder)
        dim = int(manifest["dim"])
        ext_of = np.load(folder / _IDS_FILE, allow_pickle=False)
        slots = np.flatnonzero((ext_of >= 0) & np.isin(ext_of, _lenient_ids(kept)))
        if _VECTORS_FILE in manifest["files"]:
            rows = _read_rows(folder / _VECTORS_FILE, slots, dim)
        else:  # an exact index: small, and its graph holds its vectors
            flat = faiss.read_index(str(folder / _GRAPH_FILE))
            if not isinstance(flat, faiss.IndexFlat):
                raise IndexFileMismatchError(f"{folder}: an exact index without a flat graph")
            rows = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * dim).reshape(flat.ntotal, dim)[slots]
        if len(rows) != len(slots):
            raise IndexFileMismatchError(f"{folder}: the vectors do not match the id map")
        part = cls(dim, config=config, **{name: int(v) for name, v in manifest["params"].items()})
        rows.flags.writeable = False  # the part's own rows: its graph keeps them, not a copy
        part.upsert(ext_of[slots], rows)
        return part

    # -- id mapping ------------------------------------------------------------------------

    def _slot_count(self) -> int:
        return self._index.ntotal if self._vectors is None else len(self._vectors)

    def _ext_of(self) -> Ids:
        return self._ext_buf[: self._slot_count()]

    def _lookup(self, ext: Ids) -> Ids:
        """Slots of external ids, -1 where unknown (including out-of-range ids)."""
        if not len(ext) or (ext.min() >= 0 and ext.max() < len(self._slot_of)):
            return self._slot_of[ext]  # the common case, in one gather
        known = (ext >= 0) & (ext < len(self._slot_of))
        slots = np.full(len(ext), -1, np.int64)
        slots[known] = self._slot_of[ext[known]]
        return slots

    def _append(self, ext: Ids, vecs: Floats) -> None:
        if not len(ext):
            return
        start = self._slot_count()
        self._ext_buf = _grown(self._ext_buf, start + len(ext))
        self._slot_of = _grown(self._slot_of, int(ext.max()) + 1)
        self._store(vecs)
        self._ext_buf[start : start + len(ext)] = ext
        self._slot_of[ext] = np.arange(start, start + len(ext))
        self._live += len(ext)
        self._mapping_changed()

    def _tombstone(self, slots: Ids) -> None:
        ext_of = self._ext_of()
        self._slot_of[ext_of[slots]] = -1
        ext_of[slots] = -1
        self._live -= len(slots)
        self._mapping_changed()

    def _mapping_changed(self) -> None:
        self._all_live = None
        self._mapping_version = next(_MAPPING_VERSIONS)

    def _reset_mapping(self, ext: Ids) -> None:
        """Slots become 0..len(ext)-1 in order; every id not in ``ext`` must already be absent."""
        self._ext_buf = ext
        self._slot_of[ext] = np.arange(len(ext))
        self._live = len(ext)
        self._mapping_changed()

    # -- storage ---------------------------------------------------------------------------

    def _store(self, vecs: Floats) -> None:
        """Add vectors at the next slots: to the graph (and its full-precision rows), or only to
        the delta beside a shared graph until the delta outgrows ``delta_limit``."""
        if self._vectors is None:
            self._index.add(vecs)
            return
        self._vectors.append(vecs)
        self._add_to_graph(vecs)

    def _add_to_graph(self, vecs: Floats) -> None:
        """Add the full-precision store's newest rows, ``vecs``, to the graph, or leave them in the
        delta while the graph is shared and the delta within its limit."""
        if self._graph_shared:
            if self._slot_count() - self._index.ntotal <= self.config.delta_limit:
                return
            # A mapped graph cannot grow (faiss aborts the process), so this process takes a copy.
            self._index = faiss.deserialize_index(faiss.serialize_index(self._index))
            self._graph_shared = False
            vecs = self._rows(np.arange(self._index.ntotal, self._slot_count()))
        if not self._index.is_trained:
            self._index.train(vecs)
        self._index.add(vecs)
        _leave_room(self._index)

    def _stored(self) -> Floats:
        """Zero-copy view of an exact index's vectors; valid only until the next mutation."""
        flat = self._index
        assert isinstance(flat, faiss.IndexFlat)
        if flat.ntotal == 0:
            return np.empty((0, self._dim), np.float32)
        view = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * self._dim)
        return view.reshape(flat.ntotal, self._dim)

    def _rows(self, slots: Ids) -> Floats:
        return self._stored()[slots] if self._vectors is None else self._vectors.rows(slots)

    def _segments(self) -> list[tuple[int, Floats]]:
        return [(0, self._stored())] if self._vectors is None else self._vectors.segments()

    def _new_index(self, size: int) -> faiss.Index:
        if size <= self._params["exact_threshold"]:
            return faiss.IndexFlatIP(self._dim)
        index = faiss.IndexHNSWSQ(
            self._dim, _SQ_TYPES[self.config.graph_codes], self._params["hnsw_m"], faiss.METRIC_INNER_PRODUCT
        )
        index.hnsw.efConstruction = self._params["ef_construction"]
        return index

    def _rebuild(self, size: int | None = None) -> None:
        """Rebuild from the live vectors, dropping tombstones; exact or HNSW by ``size``."""
        slots = np.flatnonzero(self._ext_of() >= 0)
        ext = self._ext_of()[slots]
        vectors = self._rows(slots)
        # Replacing the index first frees the old one before the new graph grows.
        self._index = self._new_index(len(ext) if size is None else size)
        self._graph_shared = False
        if not self.is_approximate:
            self._vectors = None
            self._index.add(vectors)
        else:
            # The gathered rows are this index's own copy: the store takes them over.
            self._vectors = _FullVectors(self._dim, private=vectors)
            if len(ext):
                self._add_to_graph(vectors)
        self._reset_mapping(ext)

    def _compact_if_needed(self) -> None:
        total = self._slot_count()
        if total - self._live > self.config.compact_fraction * total:
            self._rebuild()

    def _remove_flat(self, slots: Ids) -> None:
        if not len(slots):
            return
        gone = np.zeros(self._index.ntotal, bool)
        gone[slots] = True
        ext_of = self._ext_of()
        self._slot_of[ext_of[gone]] = -1
        # IndexFlat.remove_ids keeps the survivors in order, so the mapping shifts the same way.
        self._index.remove_ids(_bitmap_selector(gone))
        self._reset_mapping(ext_of[~gone])

    # -- search ----------------------------------------------------------------------------

    def _eligible(self, allowed: Ids | None) -> _Eligible:
        if allowed is None:
            if self._all_live is None:
                # Concurrent readers may both fill the cache; they build the same thing.
                mask = None if self._live == self._slot_count() else self._ext_of() >= 0
                self._all_live = _Eligible(self._live, mask)
            return self._all_live
        # One spare entry past the slots takes the -1s of unknown ids in the same scatter, sparing
        # a pass that drops them: at a million allowed ids every pass costs about a millisecond.
        mask = np.zeros(self._slot_count() + 1, bool)
        # Tombstones are absent from the id table, so the mask admits live slots only.
        mask[self._lookup(allowed)] = True
        mask = mask[:-1]
        return _Eligible(int(np.count_nonzero(mask)), mask)

    def _eligible_masked(self, allowed: MaskedIds) -> _Eligible:
        """One gather through the column's slot -> position map (rebuilt when ids moved)."""
        column = allowed.column
        if column.slot_positions is None or column.mapped_version != self._mapping_version:
            slots = self._lookup(column.ids)
            known = slots >= 0
            # A slot whose id is not in the column reads the spare entry past the mask, False.
            positions = np.full(self._slot_count(), len(column.ids), np.int64)
            positions[slots[known]] = np.flatnonzero(known)
            column.slot_positions, column.mapped_version = positions, self._mapping_version
            column.in_slot_order = len(positions) <= len(column.ids) and bool(
                (positions == np.arange(len(positions))).all()
            )
        if column.in_slot_order:  # at a million rows, the gather cost ~2 ms a query
            mask = allowed.mask[: self._slot_count()]
        else:
            mask = np.append(allowed.mask, False)[column.slot_positions]
        return _Eligible(int(np.count_nonzero(mask)), mask)

    def _search_slots(self, q: Floats, k: int, eligible: _Eligible) -> tuple[Floats, Ids]:
        total, config = self._slot_count(), self.config
        unfiltered = max(config.least_beam, math.ceil(config.rescore_multiple * k))
        beam = max(unfiltered, math.ceil(config.beam_per_result * unfiltered * total / eligible.count))
        if not self.is_approximate or eligible.count <= config.exact_scan_factor * beam:
            return self._exact_search(q, k, eligible)
        scores, slots = self._hnsw_search(q, k, eligible, beam=beam)
        # A walk strands short of k admitted vectors when the admitted ones lie away from the
        # query (a filter on industry or city keeps whole regions of the space; a query from
        # another kind lands between them). A wider beam seldom reaches them (at 1M startups,
        # twice the beam left as many walks stranded), so those queries are scanned at once.
        short = np.count_nonzero(slots >= 0, axis=1) < k
        if short.any():
            scores[short], slots[short] = self._exact_search(q[short], k, eligible)
        return scores, slots

    def _exact_search(self, q: Floats, k: int, eligible: _Eligible) -> tuple[Floats, Ids]:
        if eligible.slots is None and self._vectors is None:
            return self._index.search(q, k)
        slots = np.arange(self._slot_count()) if eligible.slots is None else eligible.slots
        threads = self.config.scan_threads
        if len(slots) < max(self.config.parallel_scan_min, threads * k) or threads == 1:
            return self._scan(q, k, slots)
        parts = _scan_threads(threads).map(
            lambda part: self._scan(q, k, part), np.array_split(slots, threads)
        )
        return _best(list(parts), k)

    def _scan(self, q: Floats, k: int, slots: Ids) -> tuple[Floats, Ids]:
        """The top ``k`` of ``slots`` (ascending) for each query, touching only their vectors (a
        bitmap selector on the flat index would test every slot, twice as slow at 200k and worse as
        it grows), part by part of the full-precision store."""
        parts = []
        for start, rows in self._segments():
            lo, hi = np.searchsorted(slots, [start, start + len(rows)])
            if hi > lo:
                scores, found = _scan_rows(q, k, rows, slots[lo:hi] - start)
                parts.append((scores, np.where(found >= 0, found + start, -1)))
        return parts[0] if len(parts) == 1 else _best(parts, k)

    def _hnsw_search(self, q: Floats, k: int, eligible: _Eligible, *, beam: int) -> tuple[Floats, Ids]:
        """Walk the graph with a beam of ``beam`` hits, re-score them all, keep the best ``k`` by
        their exact scores, and merge in the delta's, scanned exactly."""
        graph_slots = self._index.ntotal
        fetch = min(beam, graph_slots)
        params = _faiss.SearchParametersHNSW()
        params.efSearch = fetch
        params.sel = eligible.selector
        _, found = self._index.search(q, fetch, params=params)
        best = self._rescored(q, k, found)
        delta = np.arange(graph_slots, self._slot_count())
        if eligible.mask is not None:
            delta = delta[eligible.mask[graph_slots:]]
        return _best([best, self._scan(q, k, delta)], k) if len(delta) else best

    def _rescored(self, q: Floats, k: int, found: Ids) -> tuple[Floats, Ids]:
        """The best ``k`` of each query's ``found`` slots (trailing -1s: none) by exact inner product."""
        fetch = found.shape[1]
        valid = found >= 0
        rows = self._rows(np.where(valid, found, 0).ravel())
        # Each query reads only its own fetched rows: ids are positions in ``rows``, one row of them a query.
        positions = np.where(valid, np.arange(found.size).reshape(found.shape), -1)
        scores, picked = _scan_rows(q, k, rows, positions, per_query=fetch)
        return scores, np.where(picked >= 0, found.ravel()[picked], -1)

    def _hits(self, scores: Floats, slots: Ids) -> list[Hit]:
        found = slots >= 0
        ext = self._ext_of()[slots[found]]
        scores = scores[found]
        order = np.lexsort((ext, -scores))  # score descending, then id ascending
        return [(int(e), float(s)) for e, s in zip(ext[order], scores[order], strict=True)]

    # -- validation ------------------------------------------------------------------------

    def _checked_vectors(self, vectors: np.ndarray, rows: int | None) -> Floats:
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[1] != self._dim or (rows is not None and len(vecs) != rows):
            expected = f"({'n' if rows is None else rows}, {self._dim})"
            raise ValueError(f"expected vectors of shape {expected}, got {vecs.shape}")
        return vecs

    # -- persistence -----------------------------------------------------------------------

    def _write_files(self, folder: Path) -> None:
        """The graph, the ids and (behind a graph) the full-precision vectors, then the manifest
        of their sizes and hashes, written last so that a partial directory has none."""
        faiss.write_index(self._index, str(folder / _GRAPH_FILE))
        np.save(folder / _IDS_FILE, self._ext_of(), allow_pickle=False)
        if self._vectors is not None:
            _save_rows(folder / _VECTORS_FILE, self._vectors.segments(), self._dim)
        files = {
            path.name: {"size": path.stat().st_size, "sha256": file_sha256(path)}
            for path in sorted(folder.iterdir())
        }
        manifest = {
            "format": _FORMAT,
            "schema_version": SCHEMA_VERSION,
            "dim": self._dim,
            "params": self._params,
            "files": files,
        }
        (folder / _MANIFEST).write_text(json.dumps(manifest, indent=1))

    def _restore(self, index: faiss.Index, ext_of: np.ndarray, vectors: np.ndarray | None) -> None:
        kind_ok = isinstance(index, faiss.IndexHNSWSQ if vectors is not None else faiss.IndexFlat)
        if not kind_ok or index.metric_type != faiss.METRIC_INNER_PRODUCT or index.d != self._dim:
            raise ValueError("stored faiss index does not match the manifest")
        slots = index.ntotal if vectors is None else len(vectors)
        if vectors is not None and (vectors.dtype != np.float32 or vectors.shape != (slots, self._dim)):
            raise ValueError("stored vectors do not match the manifest")
        if ext_of.dtype != np.int64 or ext_of.shape != (slots,) or slots < index.ntotal:
            raise ValueError("stored id map does not match the faiss index")
        live = ext_of[ext_of >= 0]
        if len(np.unique(live)) != len(live) or (len(live) and live.max() > MAX_ID):
            raise ValueError("stored id map has duplicate or out-of-range ids")
        self._index = index
        self._graph_shared = vectors is not None
        self._vectors = None if vectors is None else _FullVectors(self._dim, shared=vectors)
        self._slot_of = np.full(int(live.max()) + 1 if len(live) else 0, -1, np.int64)
        self._ext_buf = ext_of
        slots_live = np.flatnonzero(ext_of >= 0)
        self._slot_of[ext_of[slots_live]] = slots_live
        self._live = len(slots_live)
        self._mapping_changed()


def _verified_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of ``folder``, once every file it lists has its size and hash."""
    manifest = verified_manifest(
        folder / _MANIFEST,
        file_format=_FORMAT,
        schema_version=SCHEMA_VERSION,
        file_path=lambda name: folder / name,
        mismatch=IndexFileMismatchError,
    )
    if not isinstance(manifest.get("dim"), int) or not isinstance(manifest.get("params"), dict):
        raise IndexFileMismatchError(f"{folder / _MANIFEST}: no dimension or build parameters")
    if not {_GRAPH_FILE, _IDS_FILE} <= manifest["files"].keys():
        raise IndexFileMismatchError(f"{folder / _MANIFEST}: lists no graph or ids file")
    return manifest


def _read_rows(path: Path, slots: Ids, dim: int, block: int = 65_536) -> Floats:
    """Rows ``slots`` (ascending) of the ``.npy`` at ``path``, read a block of rows at a time."""
    found = np.empty((len(slots), dim), np.float32)
    with path.open("rb") as stream:
        version = np.lib.format.read_magic(stream)
        read_header = (
            np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        )
        shape, fortran_order, dtype = read_header(stream)
        if fortran_order or dtype != np.float32 or len(shape) != 2 or shape[1] != dim:
            raise IndexFileMismatchError(f"{path}: not rows of {dim} float32")
        if len(slots) and slots[-1] >= shape[0]:
            raise IndexFileMismatchError(f"{path}: fewer rows than the id map")
        offset = stream.tell()
        bounds = np.searchsorted(slots, np.arange(0, shape[0] + block, block))
        for start, (low, high) in zip(range(0, shape[0], block), itertools.pairwise(bounds), strict=True):
            if high > low:
                stream.seek(offset + start * dim * 4)
                rows = np.fromfile(stream, np.float32, min(block, shape[0] - start) * dim).reshape(-1, dim)
                found[low:high] = rows[slots[low:high] - start]
    return found


def _save_rows(path: Path, segments: list[tuple[int, Floats]], dim: int) -> None:
    """One ``.npy`` of the segments' rows in order, streamed (no concatenated copy)."""
    count = sum(len(rows) for _, rows in segments)
    with path.open("wb") as stream:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False}
        np.lib.format.write_array_header_2_0(stream, {**header, "shape": (count, dim)})
        for _, rows in segments:
            for start in range(0, len(rows), 65_536):
                stream.write(np.ascontiguousarray(rows[start : start + 65_536]).tobytes())


def _scan_rows(q: Floats, k: int, rows: Floats, positions: Ids, *, per_query: int = 0) -> tuple[Floats, Ids]:
    """The top ``k`` rows of ``positions`` (a -1 ends a query's list) for each query, by inner product.

    ``per_query`` 0: every query reads the same positions; otherwise query i reads
    ``positions[i]`` (a row of ``per_query`` of them).
    """
    scores = np.empty((len(q), k), np.float32)
    found = np.empty((len(q), k), np.int64)
    positions = np.ascontiguousarray(positions, dtype=np.int64)
    ptr = faiss.swig_ptr
    _faiss.knn_inner_products_by_idx(
        ptr(q),
        ptr(rows),
        ptr(positions),
        q.shape[1],
        len(q),
        len(rows),
        per_query or positions.size,
        k,
        ptr(scores),
        ptr(found),
        per_query,
    )
    return scores, found


def _best(parts: list[tuple[Floats, Ids]], k: int) -> tuple[Floats, Ids]:
    """The best ``k`` of several top-k lists of the same queries."""
    scores = np.concatenate([part_scores for part_scores, _ in parts], axis=1)
    found = np.concatenate([part_found for _, part_found in parts], axis=1)
    # Best first, equal scores in slot order: the answer does not depend on how a scan was split.
    order = np.lexsort((found, -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(found, order, axis=1)


def _checked_ids(ids: Sequence[int] | np.ndarray) -> Ids:
    ext = _lenient_ids(ids)
    if len(ext) and (ext.min() < 0 or ext.max() > MAX_ID):
        raise ValueError(f"ids must lie in [0, {MAX_ID}]")
    if len(np.unique(ext)) != len(ext):
        raise ValueError("duplicate ids in one upsert")
    return ext


def _lenient_ids(ids: Iterable[int] | np.ndarray) -> Ids:
    if isinstance(ids, np.ndarray):
        arr = ids
    elif isinstance(ids, Collection):
        arr = np.fromiter(ids, np.int64, len(ids))
    else:
        arr = np.fromiter(ids, np.int64)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"ids must be a 1-d sequence of integers, got {arr.dtype} {arr.shape}")
    return arr.astype(np.int64, copy=False)


def _grown(table: Ids, size: int) -> Ids:
    """``table`` with room for ``size`` entries, new ones -1; doubles so appends stay amortised O(1)."""
    if size <= len(table):
        return table
    grown = np.full(max(size, 2 * len(table)), -1, np.int64)
    grown[: len(table)] = table
    return grown


def one_thread_per_search() -> None:
    """Let faiss run a search on the calling thread alone, as a server answering one query at a
    time wants. Its OpenMP team costs more than it saves on a one-query search: a flat search of
    13k x 384 took 32 ms with two threads and 1.4 ms with one on the 2-core machine, the
    waiting threads' wake-ups on a loaded machine. Large scans are split by
    :func:`_scan_threads` instead, which this does not touch."""
    faiss.omp_set_num_threads(1)


@cache
def _scan_threads(count: int) -> ThreadPoolExecutor:
    """Shared by every index of the same ``scan_threads``: scans are short, and a process needs
    no more threads than cores."""
    return ThreadPoolExecutor(count, thread_name_prefix="vector-scan")


def _leave_room(index: faiss.Index) -> None:
    """Give an HNSW index's arrays spare capacity now rather than on the next add.

    faiss keeps the graph and the vectors in std::vectors that a bulk add or a load leaves
    exactly full, so the next single add, typically a user's text edit, reallocated and copied
    them all: 80 ms at 200k vectors, about half a second at 1M. Growing each by one grows its
    capacity the usual way (doubling); shrinking back keeps that capacity, which a std::vector
    never gives up on a shrinking resize. When there is room already, this costs microseconds.
    """
    if not isinstance(index, faiss.IndexHNSW):
        return
    storage = faiss.downcast_index(index.storage)
    hnsw = index.hnsw
    # faiss's stubs leave out the graph's neighbour lists and offsets and the storage's codes.
    arrays = (hnsw.levels, hnsw.neighbors, hnsw.offsets, storage.codes)  # type: ignore[attr-defined]
    for array in arrays:
        size = array.size()
        array.resize(size + 1)
        array.resize(size)


def hnsw_bytes(index: faiss.IndexHNSW) -> int:
    """What an HNSW graph holds in memory: its links, levels and offsets, and its storage's codes."""
    # faiss's stubs leave out the graph's arrays.
    hnsw: Any = index.hnsw
    links = 4 * hnsw.neighbors.size() + 4 * hnsw.levels.size() + 8 * hnsw.offsets.size()
    return int(links) + index.storage.ntotal * index.storage.sa_code_size()


def _bitmap_selector(mask: npt.NDArray[np.bool_]) -> faiss.IDSelector:
    # A bitmap answers membership with one load and no hashing, and packs from numpy in
    # microseconds; IDSelectorBatch builds a C++ hash set, 13 ms for 100k ids.
    selector: faiss.IDSelector = _faiss.IDSelectorBitmap(np.packbits(mask, bitorder="little"))
    return selector
