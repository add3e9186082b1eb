"""VectorIndex at scale against a plain ``IndexFlatIP`` baseline, in the same run.

    .venv/bin/python benchmarks/index_scale.py [--sizes 200000,1000000] [--dims 384,256]

For each size and dimension: build time, resident-memory growth, single-query latency p50/p99 for
k=50 unfiltered and under a random 10 % and 1 % allowed-filter, recall@10 against exact search,
then the cost of 1k updates, 1k removals, a save and a load.

The synthetic vectors are clustered around a low-dimensional latent space, as sentence embeddings
are. Independent Gaussian vectors (``--data iid``) are a degenerate worst case: in 384 dimensions a
query's nearest neighbour is hardly nearer than a random vector, and no graph index finds it.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import faiss
import numpy as np
import numpy.typing as npt

from embeddings.index import VectorIndex

Floats = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64]
Hits = list[int]
Searcher = Callable[[Floats, Ids | None], Hits]
Filters = dict[str, list[Ids | None]]
T = TypeVar("T")

K = 50
LATENT_DIM = 32
CLUSTERS = 2_000
FILTERS = {"unfiltered": None, "10% filter": 0.10, "1% filter": 0.01}


@dataclass(frozen=True)
class Synthetic:
    """Clustered points in a random ``LATENT_DIM``-dimensional subspace plus isotropic noise."""

    basis: Floats
    centres: Floats
    iid: bool

    @classmethod
    def make(cls, dim: int, iid: bool, rng: np.random.Generator) -> Synthetic:
        basis = rng.standard_normal((LATENT_DIM, dim), dtype=np.float32)
        return cls(basis, rng.standard_normal((CLUSTERS, LATENT_DIM), dtype=np.float32), iid)

    def sample(self, count: int, rng: np.random.Generator) -> Floats:
        dim = self.basis.shape[1]
        out = np.empty((count, dim), np.float32)
        for start in range(0, count, 100_000):  # chunks bound the temporaries at 1M x 384
            rows = min(100_000, count - start)
            noise = rng.standard_normal((rows, dim), dtype=np.float32)
            if not self.iid:
                latent = self.centres[rng.integers(CLUSTERS, size=rows)]
                latent += 0.6 * rng.standard_normal((rows, LATENT_DIM), dtype=np.float32)
                noise = latent @ self.basis + 2.0 * noise
            out[start : start + rows] = noise / np.linalg.norm(noise, axis=1, keepdims=True)
        return out


def rss_bytes() -> int:
    gc.collect()
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def percentiles_ms(samples: list[float]) -> str:
    p50, p99 = np.percentile(samples, [50, 99]) * 1000
    return f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"


def per_query_filters(
    queries: int, fraction: float | None, ids: Ids, rng: np.random.Generator
) -> list[Ids | None]:
    """One allowed-set per query, cycling through 20 random draws (1M-id draws are slow to make)."""
    if fraction is None:
        return [None] * queries
    drawn = [np.sort(rng.choice(ids, int(len(ids) * fraction), replace=False)) for _ in range(20)]
    return [drawn[n % len(drawn)] for n in range(queries)]


def flat_searcher(flat: faiss.IndexFlatIP) -> Searcher:
    """The baseline: ids are positions, a filter becomes a bitmap selector per query."""

    def search(query: Floats, allowed: Ids | None) -> Hits:
        params = faiss.SearchParameters()
        if allowed is not None:
            mask = np.zeros(flat.ntotal, bool)
            mask[allowed] = True
            bits = np.packbits(mask, bitorder="little")  # must outlive the search: faiss keeps a pointer
            params.sel = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
        _, labels = flat.search(query[None, :], K, params=params)
        return [int(i) for i in labels[0] if i >= 0]

    return search


def index_searcher(index: VectorIndex) -> Searcher:
    def search(query: Floats, allowed: Ids | None) -> Hits:
        return [i for i, _ in index.search(query, K, allowed=allowed)]

    return search


def timed_build(build: Callable[[], T]) -> tuple[T, float, int]:
    before = rss_bytes()
    start = time.perf_counter()
    built = build()
    return built, time.perf_counter() - start, rss_bytes() - before


def report_searches(name: str, search: Searcher, queries: Floats, filters: Filters) -> None:
    for label, allowed in filters.items():
        samples = []
        for query, subset in zip(queries, allowed, strict=False):
            start = time.perf_counter()
            search(query, subset)
            samples.append(time.perf_counter() - start)
        print(f"  {name:12s} {label:11s} {percentiles_ms(samples)}")


def report_recall(search: Searcher, exact: Searcher, queries: Floats, filters: Filters) -> None:
    for label, allowed in filters.items():
        found = [
            len(set(search(q, subset)[:10]) & set(exact(q, subset)[:10]))
            for q, subset in zip(queries, allowed, strict=False)
        ]
        print(f"  recall@10    {label:11s} {np.mean(found) / 10:.3f}")


def report_maintenance(index: VectorIndex, data: Floats, rng: np.random.Generator) -> None:
    changed = rng.choice(len(data), 1_000, replace=False)
    start = time.perf_counter()
    index.upsert(changed, data[rng.permutation(changed)])
    upserted = time.perf_counter() - start
    start = time.perf_counter()
    index.remove(changed.tolist())
    removed = time.perf_counter() - start
    print(f"  maintenance  upsert 1k existing {upserted * 1000:.0f} ms, remove 1k {removed * 1000:.0f} ms")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "kind.index"
        start = time.perf_counter()
        index.save(path)
        saved = time.perf_counter() - start
        start = time.perf_counter()
        VectorIndex.load(path)
        loaded = time.perf_counter() - start
        size_mb = path.stat().st_size / 2**20
    print(f"  persistence  save {saved:.1f} s, load {loaded:.1f} s, {size_mb:.0f} MiB")


def run(size: int, dim: int, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    model = Synthetic.make(dim, args.data == "iid", rng)
    data, queries = model.sample(size, rng), model.sample(args.queries, rng)
    ids = np.arange(size, dtype=np.int64)
    filters = {
        label: per_query_filters(len(queries), fraction, ids, rng) for label, fraction in FILTERS.items()
    }
    print(f"\n== {size:,} x {dim} ({args.data}) ==")
    flat, flat_s, flat_rss = timed_build(lambda: _flat(data))
    index, index_s, index_rss = timed_build(lambda: _vector_index(data, ids, args))
    print(f"  build        IndexFlatIP {flat_s:.1f} s, +{flat_rss / 2**20:.0f} MiB RSS")
    mode = "HNSW" if index.is_approximate else "exact"
    print(f"  build        VectorIndex {index_s:.1f} s, +{index_rss / 2**20:.0f} MiB RSS ({mode})")
    exact, approx = flat_searcher(flat), index_searcher(index)
    report_searches("IndexFlatIP", exact, queries, filters)
    report_searches("VectorIndex", approx, queries, filters)
    report_recall(approx, exact, queries[: args.recall_queries], filters)
    del flat  # freed before the save, which streams the whole index
    report_maintenance(index, data, rng)


def _flat(data: Floats) -> faiss.IndexFlatIP:
    flat = faiss.IndexFlatIP(data.shape[1])
    flat.add(data)
    return flat


def _vector_index(data: Floats, ids: Ids, args: argparse.Namespace) -> VectorIndex:
    index = VectorIndex(
        data.shape[1], hnsw_m=args.hnsw_m, ef_construction=args.ef_construction, ef_search=args.ef_search
    )
    index.upsert(ids, data)
    return index


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="200000", help="comma-separated index sizes")
    parser.add_argument("--dims", default="384,256", help="comma-separated vector dimensions")
    parser.add_argument("--data", choices=["clustered", "iid"], default="clustered")
    parser.add_argument("--queries", type=int, default=300, help="latency samples per filter")
    parser.add_argument("--recall-queries", type=int, default=200)
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=40)
    parser.add_argument("--ef-search", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)
    print(f"faiss {faiss.__version__}, {args.threads} threads, load average {os.getloadavg()[0]:.1f}")
    started = time.perf_counter()
    for size in map(int, args.sizes.split(",")):
        for dim in map(int, args.dims.split(",")):
            run(size, dim, args)
    print(f"\ntotal {time.perf_counter() - started:.0f} s, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
