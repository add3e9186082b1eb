"""VectorIndex at scale against plain faiss baselines, in the same run.

    .venv/bin/python benchmarks/index_scale.py [--sizes 200000,1000000] [--dims 384,256]

For each size and dimension: build time, resident-memory growth, single-query latency p50/p99 for
k=50 unfiltered and under a random 10 % and 1 % allowed-filter, and recall@10 against exact float
search, for VectorIndex (a graph over int8 codes, hits re-scored exactly) and for a float HNSW
graph of the same parameters (``IndexHNSWFlat``, what VectorIndex was before; ``--no-float-graph``
skips it); ``IndexFlatIP`` gives the exact answers. Then memory after a save (the full-precision
vectors read back from the saved file), the proportional set size (PSS, from smaps_rollup) of one
and of two worker processes loading the saved index memory-mapped and answering queries, and the
cost of 1k updates, 1k removals, a save and a load.

``--sweep`` instead builds several graphs (``--graphs``, each codes:M:ef_construction) beside one
exact index and one float HNSW over the same vectors, searches each for k hits under a re-score
multiple (``--searches``, k:multiple pairs; the walk's beam is at least that many hits per result),
and prints one table row per graph and search: recall@10 against exact search and against the
float graph, single-thread p50/p99, build time and the graph's bytes per vector in the process.

The synthetic vectors are clustered around a low-dimensional latent space, as sentence embeddings
are. Independent Gaussian vectors (``--data iid``) are a degenerate worst case: in 384 dimensions a
query's nearest neighbour is hardly nearer than a random vector, and no graph index finds it.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import faiss
import numpy as np
import numpy.typing as npt

from embeddings.index import GraphCodes, IndexConfig, VectorIndex, hnsw_bytes

Floats = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64]
Hits = list[int]
Searcher = Callable[[Floats, Ids | None], Hits]
Filters = dict[str, list[Ids | None]]
TopTens = dict[str, list[set[int]]]
T = TypeVar("T")
_faiss: Any = faiss

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


def faiss_searcher(index: faiss.Index, ef_search: int | None = None, k: int = K) -> Searcher:
    """A baseline: ids are positions, a filter becomes a bitmap selector per query; a graph walks
    with a beam of ``ef_search`` widened by the filter's selectivity, as VectorIndex's is."""

    def search(query: Floats, allowed: Ids | None) -> Hits:
        # The faiss stubs lack SearchParametersHNSW.
        params: Any = faiss.SearchParameters() if ef_search is None else _faiss.SearchParametersHNSW()
        if ef_search is not None:
            share = 1.0 if allowed is None else len(allowed) / index.ntotal
            params.efSearch = max(ef_search, int(0.4 * k / share))
        if allowed is not None:
            mask = np.zeros(index.ntotal, bool)
            mask[allowed] = True
            bits = np.packbits(mask, bitorder="little")  # must outlive the search: faiss keeps a pointer
            params.sel = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
        _, labels = index.search(query[None, :], k, params=params)
        return [int(i) for i in labels[0] if i >= 0]

    return search


def index_searcher(index: VectorIndex, k: int = K) -> Searcher:
    def search(query: Floats, allowed: Ids | None) -> Hits:
        return [i for i, _ in index.search(query, k, allowed=allowed)]

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


def top10(search: Searcher, queries: Floats, filters: Filters) -> TopTens:
    """Each filter's top 10 per query, worked out once (an exact one at 1M takes a second)."""
    return {
        label: [set(search(q, subset)[:10]) for q, subset in zip(queries, allowed, strict=False)]
        for label, allowed in filters.items()
    }


def report_recall(name: str, found: TopTens, truth: TopTens) -> None:
    for label, answers in found.items():
        overlap = [len(answer & true) for answer, true in zip(answers, truth[label], strict=True)]
        print(f"  recall@10    {name:12s} {label:11s} {np.mean(overlap) / 10:.3f}")


def smaps_rollup_kib(pid: int | str = "self") -> dict[str, int]:
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        fields = (line.split() for line in rollup if line.rstrip().endswith("kB"))
        return {parts[0].rstrip(":"): int(parts[1]) for parts in fields}


def report_shared_workers(path: Path, queries: Floats, size: int) -> None:
    """PSS of one, then two, processes that load the saved index and answer ``queries``."""
    pss_by_count = {}
    for count in (1, 2):
        workers = [_start_worker(path, queries) for _ in range(count)]
        for worker in workers:
            assert worker.stdout is not None
            worker.stdout.readline()  # loaded and searched
        rollups = [smaps_rollup_kib(worker.pid) for worker in workers]
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.close()
            worker.wait()
        pss = sum(r["Pss"] for r in rollups) * 1024
        anonymous = sum(r["Anonymous"] for r in rollups) * 1024 / count
        rss = sum(r["Rss"] for r in rollups) * 1024 / count
        pss_by_count[count] = pss
        print(
            f"  {count} worker{'s' if count > 1 else ' '}    PSS {pss / 2**20:6.0f} MiB in all "
            f"({pss / count / size:.0f} B/vector each); per worker RSS {rss / 2**20:.0f} MiB, "
            f"private anonymous {anonymous / 2**20:.0f} MiB ({anonymous / size:.0f} B/vector)"
        )
    print(f"  shared       2 workers / 1 worker PSS {pss_by_count[2] / pss_by_count[1]:.2f}x")


def _start_worker(path: Path, queries: Floats) -> subprocess.Popen[str]:
    query_file = path.parent / "queries.npy"
    np.save(query_file, queries)
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.index_scale", "--worker", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )


def worker(path: Path) -> None:
    """Load the index at ``path``, answer the queries saved beside it, say so, and wait."""
    faiss.omp_set_num_threads(1)
    index = VectorIndex.load(path)
    for query in np.load(path.parent / "queries.npy"):
        index.search(query, K)
    print("ready", flush=True)
    sys.stdin.read()


def report_maintenance(index: VectorIndex, data: Floats, rng: np.random.Generator, folder: Path) -> None:
    changed = rng.choice(len(data), 1_000, replace=False)
    start = time.perf_counter()
    index.upsert(changed, data[rng.permutation(changed)])
    upserted = time.perf_counter() - start
    start = time.perf_counter()
    index.remove(changed.tolist())
    removed = time.perf_counter() - start
    print(f"  maintenance  upsert 1k existing {upserted * 1000:.0f} ms, remove 1k {removed * 1000:.0f} ms")
    path = folder / "again.index"
    start = time.perf_counter()
    index.save(path)
    saved = time.perf_counter() - start
    start = time.perf_counter()
    VectorIndex.load(path)
    loaded = time.perf_counter() - start
    size_mb = sum(file.stat().st_size for file in path.iterdir()) / 2**20
    print(f"  persistence  save {saved:.1f} s, load (hashes checked) {loaded:.1f} s, {size_mb:.0f} MiB")


def run(size: int, dim: int, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    model = Synthetic.make(dim, args.data == "iid", rng)
    data, queries = model.sample(size, rng), model.sample(args.queries, rng)
    ids = np.arange(size, dtype=np.int64)
    filters = {
        label: per_query_filters(len(queries), fraction, ids, rng) for label, fraction in FILTERS.items()
    }
    print(f"\n== {size:,} x {dim} ({args.data}, VectorIndex graph codes {args.graph_codes}) ==")
    flat, flat_s, flat_rss = timed_build(lambda: _flat(data))
    print(f"  build        {'IndexFlatIP':12s} {flat_s:6.1f} s, +{flat_rss / 2**20:5.0f} MiB RSS")
    exact = faiss_searcher(flat)
    report_searches("IndexFlatIP", exact, queries[:50], filters)
    recall_queries = queries[: args.recall_queries]
    truth = top10(exact, recall_queries, filters)
    if args.float_graph:
        graph, graph_s, graph_rss = timed_build(lambda: _float_graph(data, args))
        per_vector = graph_rss / size
        print(
            f"  build        {'float HNSW':12s} {graph_s:6.1f} s, "
            f"+{graph_rss / 2**20:5.0f} MiB RSS ({per_vector:.0f} B/vector)"
        )
        float_graph = faiss_searcher(graph, args.ef_search)
        report_searches("float HNSW", float_graph, queries, filters)
        float_found = top10(float_graph, recall_queries, filters)
        report_recall("float HNSW", float_found, truth)
    index, index_s, index_rss = timed_build(lambda: _vector_index(data, ids, args))
    mode = "HNSW" if index.is_approximate else "exact"
    print(
        f"  build        {'VectorIndex':12s} {index_s:6.1f} s, "
        f"+{index_rss / 2**20:5.0f} MiB RSS ({index_rss / size:.0f} B/vector, {mode})"
    )
    approx = index_searcher(index)
    built_config = index.config
    # The re-score's breadth is a search policy: the same graph is searched under each.
    for multiple in args.rescore_multiples:
        index.config = built_config.model_copy(update={"rescore_multiple": multiple})
        name = f"VI x{multiple:g}"
        report_searches(name, approx, queries, filters)
        found = top10(approx, recall_queries, filters)
        report_recall(name, found, truth)
        if args.float_graph:
            report_recall(f"{name} vs float", found, float_found)
    index.config = built_config
    if args.float_graph:
        del graph, float_graph
    del flat, exact  # freed before the save
    with tempfile.TemporaryDirectory(dir=args.work_dir) as folder:
        path = Path(folder) / "kind.index"
        before = rss_bytes()
        start = time.perf_counter()
        index.save(path)
        saved = time.perf_counter() - start
        after = rss_bytes()
        print(
            f"  save         {saved:.1f} s; RSS {(after - before) / 2**20:+.0f} MiB "
            f"(VectorIndex {(index_rss + after - before) / size:.0f} B/vector): "
            "its vectors are now read from the file"
        )
        report_shared_workers(path, queries, size)
        report_maintenance(index, data, rng, Path(folder))


@dataclass(frozen=True)
class GraphSpec:
    """A VectorIndex graph to build: its codes, neighbours per node and build beam."""

    codes: GraphCodes
    hnsw_m: int
    ef_construction: int

    @classmethod
    def parse(cls, text: str) -> GraphSpec:
        codes, hnsw_m, ef_construction = text.split(":")
        if codes not in ("int8", "fp16"):
            raise argparse.ArgumentTypeError(f"--graphs: codes {codes!r} is neither int8 nor fp16")
        return cls(codes, int(hnsw_m), int(ef_construction))  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.codes} M{self.hnsw_m} efC{self.ef_construction}"


def recalls(found: TopTens, truth: TopTens) -> list[float]:
    return [
        float(np.mean([len(a & t) for a, t in zip(answers, truth[label], strict=True)])) / 10
        for label, answers in found.items()
    ]


def latencies(search: Searcher, queries: Floats, filters: Filters) -> list[tuple[float, float]]:
    """(p50, p99) in ms per filter, one query at a time."""
    out = []
    for allowed in filters.values():
        samples = []
        for query, subset in zip(queries, allowed, strict=False):
            start = time.perf_counter()
            search(query, subset)
            samples.append(time.perf_counter() - start)
        p50, p99 = np.percentile(samples, [50, 99]) * 1000
        out.append((float(p50), float(p99)))
    return out


@dataclass(frozen=True)
class Measured:
    """Per filter (unfiltered, 10 %, 1 %): recall@10 against exact and float search, (p50, p99) ms."""

    exact: list[float]
    against_float: list[float] | None
    latency: list[tuple[float, float]]

    def row(self, name: str, build_s: float, per_vector: float) -> str:
        def triple(values: Iterable[str]) -> str:
            return " / ".join(values)

        against_float = "-" if self.against_float is None else triple(f"{r:.3f}" for r in self.against_float)
        return (
            f"| {name} | {triple(f'{r:.3f}' for r in self.exact)} | {against_float} | "
            f"{triple(f'{p50:.2f}' for p50, _ in self.latency)} | "
            f"{triple(f'{p99:.1f}' for _, p99 in self.latency)} | {build_s:.0f} s | {per_vector:.0f} |"
        )


def sweep(size: int, dim: int, args: argparse.Namespace) -> None:
    """Several graphs, each under several re-score multiples, against exact and float search."""
    rng = np.random.default_rng(args.seed)
    model = Synthetic.make(dim, args.data == "iid", rng)
    data, queries = model.sample(size, rng), model.sample(args.queries, rng)
    # Read-only, so each VectorIndex keeps these rows as its full-precision store instead of a
    # copy: its RSS growth is then its graph alone, the bytes a vector a served process holds
    # privately (the full-precision rows are a shared, memory-mapped file there).
    data.flags.writeable = False
    ids = np.arange(size, dtype=np.int64)
    filters = {
        label: per_query_filters(len(queries), fraction, ids, rng) for label, fraction in FILTERS.items()
    }
    recall_queries = queries[: args.recall_queries]
    load = os.getloadavg()[0]
    print(f"\n== sweep {size:,} x {dim} ({args.data}), load average {load:.1f} ==")
    flat, _, _ = timed_build(lambda: _flat(data))
    faiss.omp_set_num_threads(1)
    # The exact top 10 is the same whatever k a search asks for.
    truth = top10(faiss_searcher(flat, k=10), recall_queries, filters)
    del flat
    ks = sorted({k for k, _ in args.searches})
    rows = []
    float_found: dict[int, TopTens] = {}
    if args.float_graph:
        faiss.omp_set_num_threads(args.threads)
        graph, graph_s, _ = timed_build(lambda: _float_graph(data, args))
        faiss.omp_set_num_threads(1)
        for k in ks:
            search = faiss_searcher(graph, args.ef_search, k)
            float_found[k] = top10(search, recall_queries, filters)
            measured = Measured(recalls(float_found[k], truth), None, latencies(search, queries, filters))
            name = f"k {k}: float HNSW M{args.hnsw_m} efC{args.ef_construction}, efSearch {args.ef_search}"
            rows.append(measured.row(name, graph_s, hnsw_bytes(graph) / size))
            print(rows[-1], flush=True)
        del graph, search
    for spec in args.graphs:
        faiss.omp_set_num_threads(args.threads)
        index, index_s, _ = timed_build(partial(_sweep_index, data, ids, spec, args))
        faiss.omp_set_num_threads(1)
        built_config = index.config
        for k, multiple in args.searches:
            index.config = built_config.model_copy(update={"rescore_multiple": multiple})
            search = index_searcher(index, k)
            found = top10(search, recall_queries, filters)
            measured = Measured(
                recalls(found, truth),
                recalls(found, float_found[k]) if float_found else None,
                latencies(search, queries, filters),
            )
            rows.append(measured.row(f"k {k}: {spec} x{multiple:g}", index_s, index.graph_bytes / size))
            print(rows[-1], flush=True)
        del index, search
    print(
        "\n| k: graph, re-score multiple | recall@10 vs exact (unfiltered / 10 % / 1 %) | vs float HNSW "
        "| p50 ms | p99 ms | build | graph B/vector |"
    )
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


def _sweep_index(data: Floats, ids: Ids, spec: GraphSpec, args: argparse.Namespace) -> VectorIndex:
    index = VectorIndex(
        data.shape[1],
        hnsw_m=spec.hnsw_m,
        ef_construction=spec.ef_construction,
        config=IndexConfig(graph_codes=spec.codes, least_beam=args.ef_search),
    )
    index.upsert(ids, data)
    return index


def _flat(data: Floats) -> faiss.IndexFlatIP:
    flat = faiss.IndexFlatIP(data.shape[1])
    flat.add(data)
    return flat


def _float_graph(data: Floats, args: argparse.Namespace) -> faiss.IndexHNSWFlat:
    graph = faiss.IndexHNSWFlat(data.shape[1], args.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = args.ef_construction
    graph.add(data)
    return graph


def _vector_index(data: Floats, ids: Ids, args: argparse.Namespace) -> VectorIndex:
    index = VectorIndex(
        data.shape[1],
        hnsw_m=args.hnsw_m,
        ef_construction=args.ef_construction,
        config=IndexConfig(graph_codes=args.graph_codes, least_beam=args.ef_search),
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
    # VectorIndex's own defaults, so a run measures what is served.
    parser.add_argument("--ef-construction", type=int, default=80)
    parser.add_argument("--ef-search", type=int, default=IndexConfig().least_beam)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--graph-codes", choices=["int8", "fp16"], default="int8")
    parser.add_argument(
        "--rescore-multiples",
        type=lambda text: [float(m) for m in text.split(",")],
        default=[IndexConfig().rescore_multiple],
        help="comma-separated: the graph's hits fetched per result wanted, each measured",
    )
    parser.add_argument(
        "--searches",
        type=lambda text: [(int(k), float(m)) for k, m in (pair.split(":") for pair in text.split(","))],
        default=[(K, 2.0), (K, 4.0)],
        help="with --sweep, comma-separated k:re-score multiple pairs each graph is searched with",
    )
    parser.add_argument("--sweep", action="store_true", help="the graphs x multiples table only")
    parser.add_argument(
        "--graphs",
        type=lambda text: [GraphSpec.parse(spec) for spec in text.split(",")],
        default=[GraphSpec("int8", 32, 80)],
        help="with --sweep, comma-separated codes:M:ef_construction graphs, e.g. int8:32:80,fp16:32:80",
    )
    parser.add_argument("--no-float-graph", dest="float_graph", action="store_false")
    parser.add_argument("--work-dir", default=None, help="where the index is saved for the workers")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker)
        return
    faiss.omp_set_num_threads(args.threads)
    print(f"faiss {faiss.__version__}, {args.threads} threads, load average {os.getloadavg()[0]:.1f}")
    started = time.perf_counter()
    for size in map(int, args.sizes.split(",")):
        for dim in map(int, args.dims.split(",")):
            (sweep if args.sweep else run)(size, dim, args)
    print(f"\ntotal {time.perf_counter() - started:.0f} s, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
