"""End-to-end recommendation latency on the demo ecosystem scaled up, with encoding throughput.

    .venv/bin/python -m benchmarks.recommend_latency [--scales 5000,200000,1000000] [--queries 200]

The demo ecosystem (seed 42) is loaded through the product's own import path, then its
startups are cloned to each scale: a clone keeps its original's text and gets its own
vector (the original's plus small noise; synthetic vectors are allowed for the index part),
id and funding ask. One query is timed end to end: eligibility, retrieval from the semantic,
lexical and graph channels, features, both sides' scores, fusion, diversity, exposure and
reasons. Targets on this 2-core machine: p99 ≤ 10 ms at 200k startups, ≤ 20 ms at 1M.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchmarks.encode_throughput import compare, sentences
from embeddings.chinese import chinese_encoder
from embeddings.encoder import Encoder, SentenceTransformerEncoder
from matcher.catalog import Catalog
from matcher.engine import Matcher
from models.db import create_db_engine, migrate, session_factory
from models.demo import generate_ecosystem, load_ecosystem
from models.enums import EntityKind

DIRECTIONS = (
    (EntityKind.investor, EntityKind.startup),
    (EntityKind.space, EntityKind.startup),
    (EntityKind.mentor, EntityKind.startup),
    (EntityKind.startup, EntityKind.investor),
    (EntityKind.startup, EntityKind.space),
)
CLONE_NOISE = 0.15


class JitteredEncoder:
    """Encodes each distinct text once with the real model, then gives every row its own
    small perturbation, so clones of one listing are near, not identical, in the index."""

    def __init__(self, encoder: Encoder, *, noise: float, seed: int = 0) -> None:
        self.encoder = encoder
        self.noise = noise
        self._rng = np.random.default_rng(seed)
        self._memo: dict[str, npt.NDArray[np.float32]] = {}

    @property
    def model_id(self) -> str:
        return f"{self.encoder.model_id}+jitter{self.noise}"

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> npt.NDArray[np.float32]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            self._memo.update(zip(missing, self.encoder.encode(missing, batch_size=batch_size), strict=True))
        base = np.stack([self._memo[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
        noisy = base + self._rng.normal(0, self.noise / np.sqrt(self.dim), base.shape).astype(np.float32)
        norms = np.linalg.norm(noisy, axis=1, keepdims=True)
        return (noisy / np.where(norms == 0, 1, norms)).astype(np.float32)


def demo_catalog(folder: Path) -> Catalog:
    engine = create_db_engine(f"sqlite:///{folder / 'demo.db'}")
    migrate(engine)
    factory = session_factory(engine)
    load_ecosystem(factory, generate_ecosystem(42), secret="benchmark")
    with factory() as session:
        catalog = Catalog.from_database(session)
    engine.dispose()
    return catalog


def scale_startups(catalog: Catalog, total: int, seed: int = 0) -> None:
    table = catalog.tables[EntityKind.startup]
    originals = [r for r in table.records if r["id"] in table]
    rng = np.random.default_rng(seed)
    next_id = int(table.ids.max()) + 1
    for n in range(total - len(originals)):
        original = originals[n % len(originals)]
        ask = original.get("funding_ask_cny")
        clone = original | {"id": next_id + n, "external_id": f"S-clone-{n}"}
        if ask:
            clone["funding_ask_cny"] = int(ask * rng.uniform(0.7, 1.3))
        table.upsert(clone)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def latency(
    matcher: Matcher, query_kind: EntityKind, target: EntityKind, count: int
) -> tuple[float, float, int]:
    table = matcher.catalog_.tables[query_kind]
    ids = [int(i) for i in table.ids if int(i) in table][:count]
    matcher.recommend(query_kind, ids[0], target)  # warm lazily built caches
    timings, served = [], 0
    for row_id in ids:
        started = time.perf_counter()
        served += bool(matcher.recommend(query_kind, row_id, target, k=10))
        timings.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(timings, 50)), float(np.percentile(timings, 99)), served


def run_scale(base: Path, scale: int, encoder: Encoder, queries: int) -> None:
    before = rss_mb()
    catalog = demo_catalog(base)
    scale_startups(catalog, scale)
    started = time.perf_counter()
    matcher = Matcher(encoder=JitteredEncoder(encoder, noise=CLONE_NOISE), exposure_cap=0.2).fit(catalog)
    built = time.perf_counter() - started
    index = matcher.channels_.kinds[EntityKind.startup].index
    kind = "HNSW" if index.is_approximate else "exact"
    grown = rss_mb() - before
    print(f"\n== {scale:,} startups: fit (text channels + {kind} index) {built:.1f} s, RSS +{grown:,.0f} MB")
    print(f"{'direction':<22} {'p50 ms':>8} {'p99 ms':>8} {'served':>8}")
    for query_kind, target in DIRECTIONS:
        p50, p99, served = latency(matcher, query_kind, target, queries)
        print(f"{query_kind.value + '→' + target.value:<22} {p50:8.2f} {p99:8.2f} {served:>5}/{queries}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scales", default="5000,200000", help="comma-separated startup counts")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3, help="encoding runs per figure (best counts)")
    args = parser.parse_args()
    encoder = chinese_encoder()
    texts = sentences(2000)
    compare("bundled all-MiniLM-L6-v2", SentenceTransformerEncoder(), texts, 64, args.repeats)
    assert isinstance(encoder, SentenceTransformerEncoder)
    compare("Chinese static (default)", encoder, texts, 64, args.repeats)
    for scale in (int(s) for s in args.scales.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            run_scale(Path(folder), scale, encoder, args.queries)


if __name__ == "__main__":
    main()
