"""End-to-end recommendation latency on the demo ecosystem scaled up, with memory and encoding throughput.

    .venv/bin/python -m benchmarks.recommend_latency [--scales 5000,200000,1000000] [--queries 200]

The demo ecosystem (seed 42) is loaded through the product's own import path, then its
startups are cloned to each scale: a clone keeps its original's text and gets its own
vector (the original's plus small noise; synthetic vectors are allowed for the index part),
id and funding ask. One query is timed end to end: eligibility, retrieval from the semantic,
lexical and graph channels, features, both sides' scores, fusion, diversity, exposure and
reasons. Wall-clock and CPU time (this thread's) are both shown: on a shared machine the gap
between them is time spent waiting for a core. Last, the next recommendation after an edit
that leaves a profile's text alone (a space's seats, a startup's ask).

Baseline in the same run: the same matcher scoring every eligible candidate instead of a
retrieved pool (on the first ``--baseline-queries`` queries of each direction), for speed and
for the overlap of the two top-10 lists. Encoding: our encoder paths against raw
``SentenceTransformer.encode`` (see ``benchmarks.encode_throughput``).

With ``--ranker DIR`` (a folder `matcher train` wrote) the matcher scores with that learned
ranker as the service does when one is saved (it orders startup→investor lists; every other
direction keeps its weights), the exhaustive baseline too. Its baseline in the same run: the same
startup→investor queries served with LightGBM walking the trees instead of the compiled ones,
and with no ranker (all without the exposure cap, so each list depends on its query alone): CPU,
whether the two rankers' lists and reasons are the same, and how often the shown rows' path parts
name the reasons TreeSHAP would.

Targets on this 2-core machine: p99 <= 10 ms at 200k startups and <= 20 ms at 1M; encoding
>= 0.9x the raw model; memory well under the machine's 24 GiB (checked: peak RSS <= 12 GiB).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt

from api.matcher_service import settle_memory
from benchmarks.encode_throughput import compare, sentences
from embeddings.chinese import chinese_encoder
from embeddings.encoder import Encoder, SentenceTransformerEncoder
from matcher.catalog import Catalog
from matcher.config import MatcherConfig, RerankConfig, RetrievalConfig
from matcher.matcher import Match, Matcher
from matcher.ranker import LearnedRanker, load_ranker
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
NOISE_CHUNK_ROWS = 65_536
WARM_UP_QUERIES = 5
# p99 targets (ms) by the smallest scale they apply to.
P99_TARGETS_MS = ((1_000_000, 20.0), (200_000, 10.0))
ENCODING_TARGET = 0.9
PEAK_RSS_LIMIT_GIB = 12.0
RAW_ENCODE = "raw SentenceTransformer.encode"
OUR_PATHS = ("SentenceTransformerEncoder", "CachedEncoder, cold cache")


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
        rows = [self._memo[t] for t in texts]
        noisy = np.stack(rows, dtype=np.float32) if rows else np.zeros((0, self.dim), np.float32)
        # In place and by chunks, drawing the same stream: a whole catalogue's float64 noise and
        # its copies were the build's peak, which is the matcher's to measure, not this harness's.
        for start in range(0, len(noisy), NOISE_CHUNK_ROWS):
            chunk = noisy[start : start + NOISE_CHUNK_ROWS]
            chunk += self._rng.normal(0, self.noise / np.sqrt(self.dim), chunk.shape).astype(np.float32)
            norms = np.linalg.norm(chunk, axis=1, keepdims=True)
            chunk /= np.where(norms == 0, 1, norms)
        return noisy


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


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


@dataclass(frozen=True)
class Timings:
    """Per-query milliseconds: wall clock and this thread's CPU time."""

    wall: list[float]
    cpu: list[float]

    def percentiles(self) -> tuple[float, float, float, float]:
        wall50, wall99 = np.percentile(self.wall, [50, 99])
        cpu50, cpu99 = np.percentile(self.cpu, [50, 99])
        return float(wall50), float(wall99), float(cpu50), float(cpu99)


def timed(recommend: Callable[[int], list[Match]], ids: Sequence[int]) -> tuple[Timings, list[list[Match]]]:
    """Each query's top 10, and how long each took."""
    wall, cpu, results = [], [], []
    for row_id in ids:
        started, started_cpu = time.perf_counter(), time.thread_time()
        results.append(recommend(row_id))
        cpu.append((time.thread_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return Timings(wall, cpu), results


def query_ids(matcher: Matcher, kind: EntityKind, count: int) -> list[int]:
    table = matcher.catalog_.tables[kind]
    return [int(i) for i in table.ids if int(i) in table][:count]


def top(matcher: Matcher, kind: EntityKind, target: EntityKind, row_id: int) -> list[Match]:
    return matcher.recommend(kind, row_id, target, k=10)


def baseline(matcher: Matcher, kind: EntityKind, target: EntityKind, ids: list[int]) -> str:
    """The pooled matcher against the same matcher scoring every eligible candidate (no exposure
    cap on either, so both lists depend on the query alone): time, shared ids in the top 10, and
    the pooled top 10's mean score as a share of the exhaustive one's (clones of one listing are
    near-ties, so at scale the ids overlap less than the scores do)."""
    no_cap = MatcherConfig(rerank=RerankConfig(exposure_cap=None))
    pooled = Matcher(encoder=matcher.encoder, scorer=matcher.scorer, config=no_cap)
    everyone = no_cap.model_copy(update={"retrieval": RetrievalConfig(pool_size=2**62)})
    exhaustive = Matcher(encoder=matcher.encoder, scorer=matcher.scorer, config=everyone)
    for each in (pooled, exhaustive):
        each.fit(matcher.catalog_, channels=matcher.channels_)
    fast, fast_lists = timed(partial(top, pooled, kind, target), ids)
    slow, slow_lists = timed(partial(top, exhaustive, kind, target), ids)
    pairs = [(a, b) for a, b in zip(fast_lists, slow_lists, strict=True) if b]
    overlap = np.mean([len({m.id for m in a} & {m.id for m in b}) / len(b) for a, b in pairs])
    score_share = np.mean([np.mean([m.score for m in a]) / np.mean([m.score for m in b]) for a, b in pairs])
    slow_cpu = float(np.median(slow.cpu))
    slower = slow_cpu / float(np.median(fast.cpu))
    return (
        f"all eligible: cpu p50 {slow_cpu:7.1f} ms ({slower:.1f}x);"
        f" overlap@10 {overlap:.2f}, score@10 {score_share:.3f}"
    )


def ranker_baseline(matcher: Matcher, ranker: LearnedRanker, ids: list[int]) -> str:
    """startup→investor served by the compiled trees against LightGBM's walk of the same model,
    and against the default weights (what the rest of an answer costs)."""
    no_cap = MatcherConfig(rerank=RerankConfig(exposure_cap=None))
    walked = LearnedRanker(ranker.model, ranker.manifest)
    served: dict[str, tuple[Timings, list[list[Match]]]] = {}
    for label, scorer in (("compiled", ranker), ("LightGBM walk", walked), ("no ranker", None)):
        each = Matcher(encoder=matcher.encoder, scorer=scorer, config=no_cap)
        each.fit(matcher.catalog_, channels=matcher.channels_)
        served[label] = timed(partial(top, each, EntityKind.startup, EntityKind.investor), ids)
    pairs = list(zip(served["compiled"][1], served["LightGBM walk"][1], strict=True))
    same = sum([(m.id, m.reasons) for m in a] == [(m.id, m.reasons) for m in b] for a, b in pairs)
    gap = max((abs(m.score - n.score) for a, b in pairs for m, n in zip(a, b, strict=False)), default=0.0)
    compiled = [m for matches in served["compiled"][1] for m in matches]
    first, three, shown = reasons_agreement(ranker, compiled)
    figures = [
        f"{label} cpu p50 / p99 {np.percentile(t.cpu, 50):.2f} / {np.percentile(t.cpu, 99):.2f} ms"
        for label, (t, _) in served.items()
    ]
    return (
        f"learned ranker, startup→investor, no exposure cap: {'; '.join(figures)}; same lists and reasons "
        f"{same}/{len(ids)} (max |score difference| {gap:.1e}); on the {shown} shown rows path parts name "
        f"TreeSHAP's top reason for {first:.0%}, its top 3 for {three:.0%}"
    )


def reasons_agreement(ranker: LearnedRanker, shown: list[Match]) -> tuple[float, float, int]:
    """How often the served parts (path attribution) and TreeSHAP's name the same top feature and
    the same top three (as many reasons as a match shows), on the shown rows' own features."""
    import lightgbm

    if not shown:
        return 0.0, 0.0, 0
    columns = list(ranker.model.features)
    rows = np.asarray([[m.features[name] for name in columns] for m in shown], dtype=np.float64)
    shap = np.asarray(lightgbm.Booster(model_str=ranker.model.text).predict(rows, pred_contrib=True))[:, :-1]
    served = np.asarray([[m.asker_contributions[name] for name in columns] for m in shown])
    first = three = 0
    for old, new in zip(shap, served, strict=True):
        old_top, new_top = (
            [int(f) for f in np.argsort(-parts, kind="stable")[:3] if parts[f] > 0] for parts in (old, new)
        )
        first += old_top[:1] == new_top[:1]
        three += set(old_top) == set(new_top)
    return first / len(shown), three / len(shown), len(shown)


def after_edits(matcher: Matcher) -> str:
    """The next recommendation after one change: an edit that leaves a profile's text alone
    (seats, ask), a text edit, and a new profile. Cached columns are patched or grown in place,
    and changed lexical rows wait beside the stacked matrices, so none of these costs a rebuild."""
    spaces, startups = (matcher.catalog_.tables[kind] for kind in (EntityKind.space, EntityKind.startup))
    investor = query_ids(matcher, EntityKind.investor, 1)[0]
    startup = startups.record(query_ids(matcher, EntityKind.startup, 1)[0])
    changes = {
        "space seats": (
            EntityKind.space,
            spaces.record(query_ids(matcher, EntityKind.space, 1)[0]) | {"seats_vacant": 0},
        ),
        "startup ask": (EntityKind.startup, startup | {"funding_ask_cny": 1_234_567}),
        "startup text": (
            EntityKind.startup,
            startup | {"description": f"{startup.get('description') or ''} 新增产线"},
        ),
        "new startup": (
            EntityKind.startup,
            startup | {"id": int(startups.ids.max()) + 1, "external_id": "S-new"},
        ),
    }
    timings = []
    for kind, record in changes.values():
        started = time.perf_counter()
        matcher.upsert_profile(kind, record)
        matcher.recommend(EntityKind.investor, investor, EntityKind.startup)
        timings.append(f"{(time.perf_counter() - started) * 1000:.1f} ms")
    return "change then recommend: " + ", ".join(
        f"{name} {t}" for name, t in zip(changes, timings, strict=True)
    )


def p99_target(scale: int) -> float | None:
    return next((target for smallest, target in P99_TARGETS_MS if scale >= smallest), None)


def run_scale(
    base: Path,
    scale: int,
    encoder: Encoder,
    queries: int,
    baseline_queries: int,
    ranker: LearnedRanker | None = None,
) -> list[str]:
    """Prints one scale's figures; returns its verdict lines."""
    before = rss_mb()
    started = time.perf_counter()
    catalog = demo_catalog(base)
    scale_startups(catalog, scale)
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    matcher = Matcher(
        encoder=JitteredEncoder(encoder, noise=CLONE_NOISE), scorer=ranker, config=MatcherConfig()
    ).fit(catalog)
    built = time.perf_counter() - started
    settle_memory()  # as the service does after every build
    started = time.perf_counter()
    for asker_kind, target in DIRECTIONS:  # a few queries per direction fill the lazily built caches
        for row_id in query_ids(matcher, asker_kind, WARM_UP_QUERIES):
            matcher.recommend(asker_kind, row_id, target)
    warmed = time.perf_counter() - started
    index = matcher.channels_.kinds[EntityKind.startup].index
    kind = "HNSW" if index.is_approximate else "exact"
    scorer = " (learned ranker)" if ranker else ""
    print(
        f"\n== {scale:,} startups{scorer}: catalog {loaded:.1f} s; build (text channels + {kind} index)"
        f" {built:.1f} s, warm-up queries {warmed:.1f} s; RSS +{rss_mb() - before:,.0f} MB"
    )
    print(f"{'direction':<20} {'wall p50':>8} {'p99':>6} {'cpu p50':>8} {'p99':>6} {'served':>8}   baseline")
    limit = p99_target(scale)
    verdicts = []
    for asker_kind, candidate_kind in DIRECTIONS:
        ids = query_ids(matcher, asker_kind, queries)
        timings, lists = timed(partial(top, matcher, asker_kind, candidate_kind), ids)
        wall50, wall99, cpu50, cpu99 = timings.percentiles()
        served = sum(bool(found) for found in lists)
        name = f"{asker_kind.value}→{candidate_kind.value}"
        against = baseline(matcher, asker_kind, candidate_kind, ids[:baseline_queries])
        figures = f"{wall50:8.2f} {wall99:6.2f} {cpu50:8.2f} {cpu99:6.2f} {served:>4}/{len(ids)}"
        print(f"{name:<20} {figures}   {against}")
        if limit is not None:
            verdicts.append(
                f"{verdict(wall99 <= limit)} {scale:,} {name}: p99 {wall99:.1f} ms (target ≤ {limit:g})"
            )
    if ranker is not None:
        print(ranker_baseline(matcher, ranker, query_ids(matcher, EntityKind.startup, queries)))
    print(after_edits(matcher))
    return verdicts


def encoding_verdicts(label: str, figures: dict[str, float]) -> list[str]:
    raw = figures[RAW_ENCODE]
    return [
        f"{verdict(figures[path] / raw >= ENCODING_TARGET)} encoding {label}, {path}: "
        f"{figures[path] / raw:.2f}x raw (target ≥ {ENCODING_TARGET})"
        for path in OUR_PATHS
    ]


def encoding(encoder: SentenceTransformerEncoder, seconds: float) -> list[str]:
    """Our encoder paths against the raw model's: MiniLM's 2,000 sentences take minutes on a
    loaded machine, so a latency run may leave them to ``benchmarks.encode_throughput``."""
    texts = sentences(2000)
    verdicts = encoding_verdicts(
        "MiniLM", compare("bundled all-MiniLM-L6-v2", SentenceTransformerEncoder(), texts, 64, seconds)
    )
    return verdicts + encoding_verdicts(
        "Chinese static", compare("Chinese static (default)", encoder, texts, 64, seconds)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scales", default="5000,200000,1000000", help="comma-separated startup counts")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per direction")
    parser.add_argument("--baseline-queries", type=int, default=20, help="queries scored exhaustively too")
    parser.add_argument(
        "--encode-seconds",
        type=float,
        default=3.0,
        help="time each encoding path runs (median counts); 0 skips encoding (benchmarks.encode_throughput)",
    )
    parser.add_argument(
        "--ranker", type=Path, help="score with the learned ranker saved in this folder (`matcher train`)"
    )
    args = parser.parse_args()
    ranker = load_ranker(args.ranker) if args.ranker else None
    encoder = chinese_encoder()
    assert isinstance(encoder, SentenceTransformerEncoder)
    verdicts = encoding(encoder, args.encode_seconds) if args.encode_seconds > 0 else []
    for scale in (int(s) for s in args.scales.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            verdicts += run_scale(Path(folder), scale, encoder, args.queries, args.baseline_queries, ranker)
    peak = peak_rss_gib()
    verdicts.append(
        f"{verdict(peak <= PEAK_RSS_LIMIT_GIB)} peak RSS {peak:.1f} GiB (limit {PEAK_RSS_LIMIT_GIB:g})"
    )
    print("\n" + "\n".join(verdicts))


if __name__ == "__main__":
    main()
