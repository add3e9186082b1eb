"""Memory per profile of a scaled catalogue, by component, against an older tree in the same run.

    .venv/bin/python -m benchmarks.memory_scale [--scale 1000000] [--baseline-rev main~1]

Builds the catalogue ``recommend_latency`` builds (the demo's startups cloned to ``--scale``), fits
the matcher, warms every direction, then reports: the peak RSS over the build, the steady RSS,
and each component's private bytes per profile (records, rule columns, the lexical rows,
postings, analyses memo and vocabulary, text hashes, vectors, history): every Python object
and array reachable from it, each counted once, with memory-mapped arrays shown apart (they
are file pages every worker on a host shares).

Each layout is built in a fresh process, so its peak is its own: first ``--baseline-rev`` (a git
revision of this repository, extracted to a temporary directory and run from there), then this
tree. Target (#19): at most 4 KB a profile at 1M, vectors included, both as the peak over the
build and as the steady state. Builds of 1M profiles take
~10 GiB: run them under ``flock /tmp/bigmem.lock``.
"""

from __future__ import annotations

import argparse
import json
import mmap
import resource
import sys
import tempfile
import time
import types
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TARGET_KB = 4.0
WARM_UP_QUERIES = 5
# Objects with more references than a container slot, the walk's own and getrefcount's may be
# shared (a clone's strings are its original's): those are remembered so they count once.
UNSHARED_REFCOUNT = 3
SKIPPED_TYPES = (types.FunctionType, types.MethodType, types.BuiltinFunctionType, types.ModuleType, type)


class Sizer:
    """Private and memory-mapped bytes reachable from objects, each object counted once."""

    def __init__(self, stop: Iterable[object] = ()) -> None:
        self._seen: set[int] = {id(o) for o in stop}
        self.private = 0
        self.mapped = 0

    def add(self, obj: object) -> Sizer:
        stack = [obj]
        while stack:
            stack.extend(self._children(stack.pop()))
        return self

    def _children(self, obj: Any) -> Iterator[Any]:
        if isinstance(obj, SKIPPED_TYPES) or self._known(obj):
            return
        if isinstance(obj, np.ndarray):
            yield from self._array(obj)
            return
        self.private += sys.getsizeof(obj)
        if isinstance(obj, str | bytes | int | float | complex | bool) or obj is None:
            return
        if isinstance(obj, dict):
            yield from obj.keys()
            yield from obj.values()
        elif isinstance(obj, list | tuple | set | frozenset):
            yield from obj
        elif hasattr(obj, "__dict__") or hasattr(type(obj), "__slots__"):
            yield from vars(obj).values() if hasattr(obj, "__dict__") else ()
            for slot in getattr(type(obj), "__slots__", ()):
                if hasattr(obj, slot):
                    yield getattr(obj, slot)

    def _known(self, obj: object) -> bool:
        if sys.getrefcount(obj) <= UNSHARED_REFCOUNT + 1 and not isinstance(obj, np.ndarray):
            return False
        if id(obj) in self._seen:
            return True
        self._seen.add(id(obj))
        return False

    def _array(self, array: np.ndarray) -> Iterator[Any]:
        base = array
        while isinstance(base, np.ndarray) and base.base is not None:
            base = base.base
        if isinstance(base, mmap.mmap) or (base is not array and self._known(base)):
            self.mapped += array.nbytes if isinstance(base, mmap.mmap) else 0
            return
        self.private += base.nbytes if isinstance(base, np.ndarray) else array.nbytes
        if array.dtype == object:
            yield from array.ravel().tolist()


def faiss_bytes(index: Any) -> int:
    """Bytes a faiss index holds: its codes, and an HNSW graph's links."""
    import faiss

    index = faiss.downcast_index(index)
    total = 0
    if hasattr(index, "hnsw"):
        hnsw = index.hnsw
        total += 4 * (hnsw.neighbors.size() + hnsw.levels.size()) + 8 * hnsw.offsets.size()
        index = faiss.downcast_index(index.storage)
    return total + int(index.sa_code_size()) * int(index.ntotal)


def rss_kib(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


class StagePeaks:
    """The peak RSS over each stage of a build: the kernel's high-water mark, read at the end of
    a stage and reset for the next (``/proc/self/clear_refs``), so the build's peak is placed."""

    def __init__(self, before: str) -> None:
        """``before``: what ran in the process before these stages."""
        self.kib: dict[str, int] = {}
        self.end(before)

    def end(self, stage: str) -> None:
        self.kib[stage] = rss_kib("VmHWM")
        self._reset()

    @staticmethod
    def _reset() -> None:
        Path("/proc/self/clear_refs").write_text("5")


def components(matcher: Any) -> dict[str, tuple[int, int]]:
    """Component -> (private, mapped) bytes, each reached once, in this order."""
    from models.enums import EntityKind

    catalog, channels = matcher.catalog_, matcher.channels_
    tables = list(catalog.tables.values())
    indexes = [channel.index for channel in channels.kinds.values()]
    stops = [catalog, channels, matcher, *tables, *indexes, *channels.kinds.values()]
    parts: dict[str, list[Any]] = {
        "records": [{k: v for k, v in vars(t).items() if k not in ("_cache", "kind")} for t in tables],
        "rule columns": [t._cache for t in tables],
        "lexical rows": [
            {
                k: v
                for k, v in vars(c).items()
                if k not in ("table", "index", "text_hashes", "retrieval", "_postings")
            }
            for c in channels.kinds.values()
        ],
        "lexical postings": [c._postings for c in channels.kinds.values()],
        "lexical analyses memo": [channels.feature_counts],
        "lexical vocabulary": [channels.lexical_vectorizer],
        "text hashes": [c.text_hashes for c in channels.kinds.values()],
        "vectors": [
            {k: v for k, v in vars(i).items() if k not in ("_index", "_lock", "config")} for i in indexes
        ],
        "history": [catalog.history, catalog.startups_of, catalog.team_of],
    }
    sizes = {}
    for name, roots in parts.items():
        sizer = Sizer(stops)
        for root in roots:
            sizer.add(root)
        sizes[name] = (sizer.private, sizer.mapped)
        stops.extend(roots)
    faiss_total = sum(faiss_bytes(i._index) for i in indexes)
    private, mapped = sizes["vectors"]
    sizes["vectors"] = (private + faiss_total, mapped)
    assert EntityKind.startup in channels.kinds
    return sizes


class StandInTexts:
    """An encoder that gives a text it does not know the vector of a known one, chosen by its
    digest: the model would take hours over a million distinct texts, and the vectors' memory
    does not depend on what they say."""

    def __init__(self, encoder: Any, known: list[str]) -> None:
        self.encoder = encoder
        self.known = list(dict.fromkeys(known))
        self._is_known = set(self.known)
        encoder.encode(self.known)

    @property
    def model_id(self) -> str:
        return f"{self.encoder.model_id}+stand-ins"

    @property
    def dim(self) -> int:
        return int(self.encoder.dim)

    def _stand_in(self, text: str) -> str:
        return self.known[zlib.crc32(text.encode()) % len(self.known)]

    def encode(self, texts: Any, *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        known = [
            t if t in self._is_known else self.known[zlib.crc32(t.encode()) % len(self.known)] for t in texts
        ]
        return np.asarray(self.encoder.encode(known, batch_size=batch_size, show_progress=show_progress))


def give_distinct_texts(catalog: Any, seed: int = 0) -> None:
    """Every cloned startup's own description and one-liner: its original's, from a random cut
    on, after another startup's up to a random cut. Real listings share no text, so each is a
    lexical row of its own, the memory a real catalogue needs."""
    from models.enums import EntityKind

    table = catalog.tables[EntityKind.startup]
    originals = [r for r in table.records if not str(r["external_id"]).startswith("S-clone-")]
    rng = np.random.default_rng(seed)
    for at in range(len(table)):
        record = table.records[at]
        if not str(record["external_id"]).startswith("S-clone-"):
            continue
        other = originals[int(rng.integers(len(originals)))]
        spliced = {}
        for name in ("description", "one_liner"):
            mine, theirs = str(record.get(name) or ""), str(other.get(name) or "")
            spliced[name] = (
                theirs[: int(rng.integers(len(theirs) + 1))] + mine[int(rng.integers(len(mine) + 1)) :]
            )
        table.upsert(record | spliced)


def measure(scale: int, *, distinct_texts: bool = False, saved: bool = False) -> dict[str, Any]:
    """One fresh build in this process, as a JSON-able report; with ``saved``, the matcher then
    saves its indexes and holds them memory-mapped, as a `matcher serve` worker does after a build."""
    from benchmarks.recommend_latency import CLONE_NOISE, JitteredEncoder, demo_catalog, scale_startups
    from embeddings.chinese import chinese_encoder
    from matcher.config import MatcherConfig
    from matcher.matcher import Matcher
    from matcher.text import profile_text

    encoder: Any = JitteredEncoder(chinese_encoder(), noise=CLONE_NOISE)
    encoder.encode(["预热"])
    if distinct_texts:
        with tempfile.TemporaryDirectory() as folder:
            demo = demo_catalog(Path(folder))
        encoder = StandInTexts(
            encoder, [profile_text(k, r) for k, t in demo.tables.items() for r in t.records]
        )
        del demo
    stages = StagePeaks("the model and the demo's texts")
    before = rss_kib()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        catalog = demo_catalog(Path(folder))
    scale_startups(catalog, scale)
    if distinct_texts:
        give_distinct_texts(catalog)
    stages.end("catalogue")
    with tempfile.TemporaryDirectory() as index_dir:
        matcher = Matcher(
            encoder=encoder, config=MatcherConfig(), index_dir=Path(index_dir) if saved else None
        ).fit(catalog)
        stages.end("fit")
        if saved:
            matcher.save()
            matcher.share()
            stages.end("save and share")
        return _settled(matcher, catalog, before, started, stages)


def _settled(matcher: Any, catalog: Any, before: int, started: float, stages: StagePeaks) -> dict[str, Any]:
    """The report on a built matcher, after every direction's first queries."""
    from api.matcher_service import settle_memory
    from benchmarks.recommend_latency import DIRECTIONS, query_ids

    settle_memory()
    for asker, target in DIRECTIONS:
        for row_id in query_ids(matcher, asker, WARM_UP_QUERIES):
            matcher.recommend(asker, row_id, target)
    stages.end("first queries")
    built = time.perf_counter() - started
    steady = rss_kib()
    return {
        "profiles": catalog.size(),
        "build_s": built,
        "before_kib": before,
        "steady_kib": steady,
        # Resetting the stages' high-water mark resets the process's too (Linux).
        "peak_kib": max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, *stages.kib.values()),
        "stage_peak_kib": stages.kib,
        "components": components(matcher),
    }


def run(tree: Path, scale: int, *, distinct_texts: bool, saved: bool = False) -> dict[str, Any]:
    """``measure`` in a fresh process with ``tree`` first on the path (this script measures, the
    tree is measured)."""
    from benchmarks.revisions import child_report  # the parent's: an old tree has none

    arguments = ["--scale", str(scale)] + (["--distinct-texts"] if distinct_texts else [])
    arguments += ["--saved"] if saved else []
    return child_report(__file__, arguments, tree)


def per_profile(report: dict[str, Any]) -> dict[str, float]:
    """KB (1,000 bytes) a profile, by figure."""
    profiles = report["profiles"]
    figures = {
        "peak RSS (whole process)": report["peak_kib"] * 1024 / profiles / 1000,
        "steady RSS (whole process)": report["steady_kib"] * 1024 / profiles / 1000,
        "steady RSS added by the build": (report["steady_kib"] - report["before_kib"])
        * 1024
        / profiles
        / 1000,
    }
    for stage, kib in report.get("stage_peak_kib", {}).items():
        figures[f"  peak RSS in {stage}"] = kib * 1024 / profiles / 1000
    for name, (private, mapped) in report["components"].items():
        figures[f"  {name}"] = private / profiles / 1000
        if mapped:
            figures[f"  {name} (mapped, shared)"] = mapped / profiles / 1000
    return figures


def table(reports: dict[str, dict[str, Any]]) -> str:
    columns = {label: per_profile(report) for label, report in reports.items()}
    names = list(dict.fromkeys(name for figures in columns.values() for name in figures))
    lines = [f"{'KB / profile':<34}" + "".join(f"{label:>14}" for label in columns)]
    for name in names:
        cells = "".join(f"{figures.get(name, 0.0):>14.2f}" for figures in columns.values())
        lines.append(f"{name:<34}{cells}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=1_000_000, help="startups after cloning")
    parser.add_argument(
        "--baseline-rev", default=None, help="git revision measured first (none: this tree only)"
    )
    parser.add_argument(
        "--distinct-texts",
        action="store_true",
        help="give every cloned startup a description and one-liner of its own (as a real catalogue)",
    )
    parser.add_argument(
        "--saved",
        action="store_true",
        help="save the built matcher's indexes and hold them memory-mapped, as `matcher serve` does",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.scale, distinct_texts=args.distinct_texts, saved=args.saved)))
        return
    from benchmarks.revisions import extracted  # the parent's: an old tree has none

    reports = {}
    with tempfile.TemporaryDirectory() as folder:
        if args.baseline_rev:
            reports[args.baseline_rev] = run(
                extracted(args.baseline_rev, Path(folder)),
                args.scale,
                distinct_texts=args.distinct_texts,
                saved=args.saved,
            )
    reports["this tree"] = run(ROOT, args.scale, distinct_texts=args.distinct_texts, saved=args.saved)
    texts = "distinct texts" if args.distinct_texts else "the originals' texts"
    print(f"\n{args.scale:,} startups, {texts} ({reports['this tree']['profiles']:,} profiles of every kind)")
    for label, report in reports.items():
        print(f"{label}: build {report['build_s']:.0f} s")
    print(table(reports))
    mine = per_profile(reports["this tree"])
    for figure in ("peak RSS (whole process)", "steady RSS (whole process)"):
        verdict = "PASS" if mine[figure] <= TARGET_KB else "MISS"
        print(f"{verdict} {figure} {mine[figure]:.2f} KB / profile (target ≤ {TARGET_KB:g})")


if __name__ == "__main__":
    main()
