"""A vector index per candidate kind: exact below a size threshold, HNSW above it.

Vectors arrive L2-normalised, so the inner product is the cosine. External ids are database row
ids; the index maps them to dense internal slots (faiss positions) with two numpy arrays, which
keeps every translation vectorised: a 10 % filter over a million candidates is a 0.2 ms gather,
where a dict or a faiss hash map costs 4-60 ms.

Exact mode is a plain ``IndexFlatIP``: a replaced vector is overwritten in place and a removal
compacts the flat storage at once. HNSW cannot remove, so in HNSW mode a replaced or removed
slot becomes a tombstone, excluded from every search by an ID selector, and the graph is rebuilt
only when tombstones pass a quarter of the slots; that rebuild is amortised over as many updates.

Both modes keep the vectors only inside faiss (the HNSW storage is a flat array): re-ranking and
exact scans read them through a zero-copy view instead of holding a second copy.

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
import zipfile
from collections.abc import Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache, cached_property
from pathlib import Path
from typing import IO, Any, Final

import faiss
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from models.files import write_atomically

Ids = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float32]
Hit = tuple[int, float]

# The faiss 1.15 stubs lack SearchParametersHNSW and the PyCallbackIO classes, and type
# IDSelectorBitmap with the two-argument C signature instead of the wrapper taking one array.
_faiss: Any = faiss

MAX_ID: Final = 2**31 - 1  # ids index a direct-address table: database INTEGER keys fit
_MAPPING_VERSIONS = itertools.count()
_FORMAT: Final = "citypartner-vector-index"
_VERSION: Final = 1


class IndexConfig(BaseModel):
    """How an index searches and when it compacts: a policy of the process using it, not stored
    with the index (unlike the graph's build parameters, which the stored graph was made with).

    Parameters
    ----------
    compact_fraction : float
        An HNSW graph is rebuilt without its tombstones once they pass this share of its slots.
    beam_per_result : float
        A filtered graph walk's beam (efSearch) per result wanted, divided by the share of slots
        the filter admits. Measured at 200k x 384 (``benchmarks/index_scale.py``): a walk needs
        about 0.25 k / s to meet k admitted vectors when a share s is admitted; 0.4 leaves a
        margin, and a walk that still strands is scanned.
    exact_scan_factor : float
        A filter admitting E of n vectors is scanned exactly rather than walked while
        E**2 <= this * k * n: the scan costs ~E inner products, the walk ~k n / E (its beam).
        Measured crossover at 1M x 128, k = 100: E ~ 30k, ~3 ms each.
    parallel_scan_min : int
        An exact scan over at least this many eligible vectors is split across ``scan_threads``
        (faiss releases the GIL): at 1M x 128 one query's scan of 140k eligible vectors took
        11.7 ms on one core and 6.4 ms on two; below ~30k the split gains under a millisecond.
    scan_threads : int
        Threads a split scan uses; by default the cores, at most 4.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    compact_fraction: float = Field(default=0.25, gt=0, le=1)
    beam_per_result: float = Field(default=0.4, gt=0)
    exact_scan_factor: float = Field(default=9.0, ge=0)
    parallel_scan_min: int = Field(default=50_000, ge=0)
    scan_threads: int = Field(default_factory=lambda: min(os.cpu_count() or 1, 4), ge=1)


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


class IdColumn:
    """A fixed array of external ids (a table's id column) over which filters come as masks.

    A search turns a mask over it into eligible slots with one gather through a slot -> position
    map kept here, where a list of allowed ids costs a lookup and a scatter: at a million rows
    and hundreds of thousands admitted, about two milliseconds a query.
    """

    def __init__(self, ids: Ids) -> None:
        self.ids = ids
        self.slot_positions: Ids | None = None
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
    ef_search : int
        The least beam of a graph walk (a filtered walk widens it).
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
        ef_search: int = 64,
        config: IndexConfig | None = None,
    ) -> None:
        if min(dim, hnsw_m, ef_construction, ef_search) < 1 or exact_threshold < 0:
            raise ValueError("dim, hnsw_m, ef_* must be positive and exact_threshold non-negative")
        self._dim = dim
        self.config = config or IndexConfig()
        self._params = {
            "exact_threshold": exact_threshold,
            "hnsw_m": hnsw_m,
            "ef_construction": ef_construction,
            "ef_search": ef_search,
        }
        self._index: faiss.Index = faiss.IndexFlatIP(dim)
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

    def __len__(self) -> int:
        return self._live

    def __contains__(self, id: object) -> bool:
        if isinstance(id, bool) or not isinstance(id, int | np.integer) or not 0 <= id <= MAX_ID:
            return False
        return bool(self._lookup(np.array([id], np.int64))[0] >= 0)

    def upsert(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
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
            self._append(ext[fresh], vecs[fresh])

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
            if self._index.ntotal != self._live:
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
        ext = _lenient_ids(ids)
        with self._lock.reading():
            slots = self._lookup(ext)
            if (slots < 0).any():
                raise KeyError(f"ids not in the index: {ext[slots < 0].tolist()}")
            return self._stored()[slots]

    def save(self, path: Path) -> None:
        """Write atomically: a crash leaves the previous file, never a torn one."""
        with self._lock.reading():
            write_atomically(Path(path), self._write_archive)

    @classmethod
    def load(cls, path: Path, *, config: IndexConfig | None = None) -> VectorIndex:
        with zipfile.ZipFile(path) as archive:
            header = json.loads(archive.read("header.json"))
            if header.get("format") != _FORMAT or header.get("version") != _VERSION:
                raise ValueError(f"{path} is not a version {_VERSION} vector index")
            with archive.open("ext_of.npy") as stream:
                ext_of = np.lib.format.read_array(stream, allow_pickle=False)
            with archive.open("index.faiss") as stream:
                index = faiss.read_index(_faiss.PyCallbackIOReader(stream.read))
        params = {name: int(v) for name, v in header["params"].items()}
        loaded = cls(int(header["dim"]), config=config, **params)
        loaded._restore(index, ext_of)
        return loaded

    # -- id mapping ------------------------------------------------------------------------

    def _ext_of(self) -> Ids:
        return self._ext_buf[: self._index.ntotal]

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
        start = self._index.ntotal
        self._ext_buf = _grown(self._ext_buf, start + len(ext))
        self._slot_of = _grown(self._slot_of, int(ext.max()) + 1)
        self._index.add(vecs)
        _leave_room(self._index)
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

    def _flat(self) -> faiss.IndexFlat:
        """The flat array holding the vectors: the index itself, or the HNSW graph's storage."""
        if isinstance(self._index, faiss.IndexHNSW):
            storage = faiss.downcast_index(self._index.storage)
            assert isinstance(storage, faiss.IndexFlat)
            return storage
        assert isinstance(self._index, faiss.IndexFlat)
        return self._index

    def _stored(self) -> Floats:
        """Zero-copy view of every slot's vector; valid only until the next mutation."""
        flat = self._flat()
        if flat.ntotal == 0:
            return np.empty((0, self._dim), np.float32)
        view = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * self._dim)
        return view.reshape(flat.ntotal, self._dim)

    def _new_index(self, size: int) -> faiss.Index:
        if size <= self._params["exact_threshold"]:
            return faiss.IndexFlatIP(self._dim)
        index = faiss.IndexHNSWFlat(self._dim, self._params["hnsw_m"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self._params["ef_construction"]
        return index

    def _rebuild(self, size: int | None = None) -> None:
        """Rebuild from the live vectors, dropping tombstones; exact or HNSW by ``size``."""
        slots = np.flatnonzero(self._ext_of() >= 0)
        ext = self._ext_of()[slots]
        vectors = self._stored()[slots]
        # Replacing the index first frees the old one before the new graph grows.
        self._index = self._new_index(len(ext) if size is None else size)
        self._index.add(vectors)
        _leave_room(self._index)
        self._reset_mapping(ext)

    def _compact_if_needed(self) -> None:
        if self._index.ntotal - self._live > self.config.compact_fraction * self._index.ntotal:
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
                mask = None if self._live == self._index.ntotal else self._ext_of() >= 0
                self._all_live = _Eligible(self._live, mask)
            return self._all_live
        # One spare entry past the slots takes the -1s of unknown ids in the same scatter, sparing
        # a pass that drops them: at a million allowed ids every pass costs about a millisecond.
        mask = np.zeros(self._index.ntotal + 1, bool)
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
            positions = np.full(self._index.ntotal, len(column.ids), np.int64)
            positions[slots[known]] = np.flatnonzero(known)
            column.slot_positions, column.mapped_version = positions, self._mapping_version
        mask = np.append(allowed.mask, False)[column.slot_positions]
        return _Eligible(int(np.count_nonzero(mask)), mask)

    def _search_slots(self, q: Floats, k: int, eligible: _Eligible) -> tuple[Floats, Ids]:
        total, config = self._index.ntotal, self.config
        if not self.is_approximate or eligible.count**2 <= config.exact_scan_factor * k * total:
            return self._exact_search(q, k, eligible)
        beam = math.ceil(config.beam_per_result * k * total / eligible.count)
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
        if eligible.slots is None:
            return self._flat().search(q, k)
        slots, threads = eligible.slots, self.config.scan_threads
        if len(slots) < max(self.config.parallel_scan_min, threads * k) or threads == 1:
            return self._scan(q, k, slots)
        parts = list(
            _scan_threads(threads).map(lambda part: self._scan(q, k, part), np.array_split(slots, threads))
        )
        scores = np.concatenate([part_scores for part_scores, _ in parts], axis=1)
        found = np.concatenate([part_found for _, part_found in parts], axis=1)
        # Best first, equal scores in slot order: the answer does not depend on how the scan was split.
        order = np.lexsort((found, -scores), axis=1)[:, :k]
        return np.take_along_axis(scores, order, axis=1), np.take_along_axis(found, order, axis=1)

    def _scan(self, q: Floats, k: int, slots: Ids) -> tuple[Floats, Ids]:
        """The top ``k`` of ``slots`` for each query, touching only their vectors (a bitmap selector
        on the flat index would test every slot, twice as slow at 200k and worse as it grows)."""
        scores = np.empty((len(q), k), np.float32)
        found = np.empty((len(q), k), np.int64)
        stored = self._stored()
        ptr = faiss.swig_ptr
        # The trailing 0 (ld_ids) makes every query read the same slot list.
        _faiss.knn_inner_products_by_idx(
            ptr(q),
            ptr(stored),
            ptr(slots),
            self._dim,
            len(q),
            len(stored),
            len(slots),
            k,
            ptr(scores),
            ptr(found),
            0,
        )
        return scores, found

    def _hnsw_search(self, q: Floats, k: int, eligible: _Eligible, *, beam: int) -> tuple[Floats, Ids]:
        params = _faiss.SearchParametersHNSW()
        params.efSearch = max(self._params["ef_search"], k, beam)
        params.sel = eligible.selector
        return self._index.search(q, k, params=params)

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

    def _write_archive(self, stream: IO[bytes]) -> None:
        header = {"format": _FORMAT, "version": _VERSION, "dim": self._dim, "params": self._params}
        # Stored, not deflated: vectors do not compress, and deflate would triple the save time.
        with zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("header.json", json.dumps(header))
            with archive.open("ext_of.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, self._ext_of(), allow_pickle=False)
            # Streamed: serialize_index would first copy the whole index into memory.
            with archive.open("index.faiss", "w", force_zip64=True) as member:
                faiss.write_index(self._index, _faiss.PyCallbackIOWriter(member.write))

    def _restore(self, index: faiss.Index, ext_of: np.ndarray) -> None:
        kind_ok = isinstance(index, faiss.IndexHNSWFlat | faiss.IndexFlat)
        if not kind_ok or index.metric_type != faiss.METRIC_INNER_PRODUCT or index.d != self._dim:
            raise ValueError("stored faiss index does not match the header")
        if ext_of.dtype != np.int64 or ext_of.shape != (index.ntotal,):
            raise ValueError("stored id map does not match the faiss index")
        live = ext_of[ext_of >= 0]
        if len(np.unique(live)) != len(live) or (len(live) and live.max() > MAX_ID):
            raise ValueError("stored id map has duplicate or out-of-range ids")
        _leave_room(index)
        self._index = index
        self._slot_of = np.full(int(live.max()) + 1 if len(live) else 0, -1, np.int64)
        self._ext_buf = ext_of
        slots = np.flatnonzero(ext_of >= 0)
        self._slot_of[ext_of[slots]] = slots
        self._live = len(slots)
        self._mapping_changed()


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


def _bitmap_selector(mask: npt.NDArray[np.bool_]) -> faiss.IDSelector:
    # A bitmap answers membership with one load and no hashing, and packs from numpy in
    # microseconds; IDSelectorBatch builds a C++ hash set, 13 ms for 100k ids.
    selector: faiss.IDSelector = _faiss.IDSelectorBitmap(np.packbits(mask, bitorder="little"))
    return selector
