"""CPU per answer of the served matcher, in process, against an older tree in the same run.

    .venv/bin/python -m benchmarks.serve_cpu [--baseline-rev da1f9d7] [--requests 2000]
        [--blocks 5] [--rounds 1] [--profile this.prof] [--callgrind]

What ``benchmarks.load`` asks a ``matcher serve`` worker, without HTTP: the demo ecosystem
(seed 42, the full 5,000-startup demo) loaded once into SQLite, then, in a fresh process per
tree, the service's matcher built from it as ``matcher serve`` builds it (``MatcherService.build``:
the stored indexes written, and on trees that have it the state memory-mapped), and the same
seeded mix of requests answered one after the other: recommendations for startups (investors,
mentors, spaces), investors' deal flow and spaces' candidates (k = 10), mentors' startups, each
answer serialised as the route does, and one request in ten a new interaction observed.

CPU time (``time.process_time``, every thread of the process) of the timed requests, in
``--blocks`` blocks, is printed per answer: the median block and the least. On a machine shared
with other jobs wall time measures the neighbours; the CPU time of one process answering one
request at a time moves less, but still 20-30 % at a load of 15 on 2 cores. ``--callgrind``
counts instructions instead (``perf stat -e instructions`` is not supported on this host): each
child runs under valgrind's callgrind with its instrumentation on for the timed requests only
(``--requests 100 --blocks 1`` takes ~5 min a tree), which no neighbour moves.
With ``--rounds 2`` the trees run alternately twice (baseline, this, baseline, this), so a drift
of the machine's speed shows as a difference between rounds. Each tree's answers (the ids shown,
in order) are hashed: the same hash means the same lists.

Each tree gets its own data dir (a copy of the database, its own indexes), and they share one
embedding cache, so neither encodes what the other did not. ``--profile`` writes a cProfile of
this tree's timed requests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WRITE_EVERY = 10
WARM_UP = 200
# asker kind, target kind, k: the mix of benchmarks.load's request_mix, in its order.
ASKS = (
    ("startup", "investor", 10),
    ("startup", "mentor", 10),
    ("startup", "space", 10),
    ("investor", "startup", 10),
    ("space", "startup", 10),
    ("mentor", "startup", 10),
)


def measure(
    data_dir: Path, requests: int, blocks: int, seed: int, *, profile: Path | None, counting: bool
) -> dict[str, Any]:
    """In the child: build the service's matcher on ``data_dir``, answer the mix, time it (and
    with ``counting``, have callgrind count the instructions of the timed requests alone)."""
    import datetime as dt

    from api.matcher_service import MatcherService
    from api.routes.recommendations import Recommendations, _public
    from matcher.graph import RelationEvent
    from models.db import create_db_engine, session_factory
    from models.enums import EntityKind, InteractionKind
    from models.settings import DEFAULT_SECRET, Settings

    settings = Settings(data_dir=data_dir, database_url=None, secret_key=DEFAULT_SECRET)
    engine = create_db_engine(settings.resolved_database_url)
    service = MatcherService(settings, session_factory(engine))
    started = time.perf_counter()
    service.build()
    build_s = time.perf_counter() - started
    with service.reading() as matcher:
        ids = {kind: matcher.catalog_.tables[kind].ids.tolist() for kind in EntityKind}
    draw = random.Random(seed)
    answers = hashlib.sha256()

    def answer(n: int) -> None:
        if n % WRITE_EVERY == WRITE_EVERY - 1:
            event = RelationEvent(
                EntityKind.investor,
                draw.choice(ids[EntityKind.investor]),
                EntityKind.startup,
                draw.choice(ids[EntityKind.startup]),
                InteractionKind.viewed,
                dt.datetime.now(dt.UTC),
            )
            with service.reading() as matcher:
                matcher.observe(event)
            return
        asker, target, k = draw.choice(ASKS)
        asker_kind = EntityKind(asker)
        row_id = draw.choice(ids[asker_kind])
        try:
            matches, empty, missing = service.recommend(asker_kind, row_id, EntityKind(target), k=k)
        except LookupError:  # an inactive profile: the route's 404
            answers.update(b"-")
            return
        body = Recommendations(
            asker_kind=asker_kind,
            asker_id=row_id,
            candidate_kind=EntityKind(target),
            items=[_public(m) for m in matches],
            why=None if empty is None else f"{empty.zh} / {empty.en}",
            partial=bool(missing),
            missing_shards=list(missing),
        ).model_dump_json()
        answers.update(json.dumps([m.id for m in matches]).encode())
        assert body

    for n in range(WARM_UP):
        answer(n)
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    if counting:  # under callgrind, started with its instrumentation off: on for the timed requests
        _instrument("on")
    per_block, block_cpu = requests // blocks, []
    n = WARM_UP
    for _ in range(blocks):
        cpu = time.process_time()
        for _ in range(per_block):
            answer(n)
            n += 1
        block_cpu.append((time.process_time() - cpu) / per_block * 1000)
    if counting:
        _instrument("off")
    if profiler is not None and profile is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    engine.dispose()
    return {"build_s": build_s, "cpu_ms_per_answer": block_cpu, "answers_sha256": answers.hexdigest()[:16]}


def _instrument(state: str) -> None:
    """Callgrind's instrumentation of this process ``on`` or ``off``."""
    command = ["callgrind_control", f"--instr={state}", str(os.getpid())]
    subprocess.run(command, check=True, capture_output=True)


def instructions(callgrind_out: Path) -> int:
    """The instructions callgrind counted while instrumenting (its ``totals:`` line)."""
    for line in callgrind_out.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise ValueError(f"{callgrind_out}: no totals line")


def tree_data_dir(base: Path, folder: Path) -> Path:
    """A data dir of its own for one run: the database copied, the embedding cache shared."""
    from models.settings import Settings

    folder.mkdir(parents=True)
    shutil.copy2(Settings(data_dir=base).sqlite_path, Settings(data_dir=folder).sqlite_path)
    (folder / "cache").symlink_to(base.resolve() / "cache", target_is_directory=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline-rev", default="da1f9d7", help="git revision measured beside this tree")
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per run")
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1, help="runs of each tree, alternating")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--profile", type=Path, help="write a cProfile of this tree's timed requests")
    parser.add_argument(
        "--callgrind", action="store_true", help="count instructions under valgrind (try --requests 100)"
    )
    parser.add_argument("--data-dir", type=Path, help="where the demo database is kept (and reused)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--counting", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        report = measure(
            args.child, args.requests, args.blocks, args.seed, profile=args.profile, counting=args.counting
        )
        print(json.dumps(report))
        return
    from benchmarks.load import SIZES, prepare
    from benchmarks.revisions import child_report, extracted

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        base = args.data_dir or folder / "base"
        prepare(base, SIZES["full"], args.seed)
        (base / "cache").mkdir(parents=True, exist_ok=True)
        (folder / "baseline").mkdir()
        trees = {args.baseline_rev: extracted(args.baseline_rev, folder / "baseline"), "this tree": ROOT}
        reports: dict[str, list[dict[str, Any]]] = {label: [] for label in trees}
        for round_number in range(args.rounds):
            for number, (label, tree) in enumerate(trees.items()):
                name = f"run-{round_number}-{number}"
                # child_report passes ``--child`` first: the data dir is its value.
                arguments = [str(tree_data_dir(base, folder / name)), "--requests", str(args.requests)]
                arguments += ["--blocks", str(args.blocks), "--seed", str(args.seed)]
                if args.profile is not None and tree is ROOT:
                    arguments += ["--profile", str(args.profile.resolve())]
                wrapper: list[str] = []
                counted = folder / f"{name}.callgrind"
                if args.callgrind:
                    arguments.append("--counting")
                    wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
                    wrapper.append(f"--callgrind-out-file={counted}")
                report = child_report(__file__, arguments, tree, wrapper=wrapper)
                if args.callgrind:
                    report["instructions_per_answer"] = instructions(counted) / args.requests
                reports[label].append(report)
                print(f"{label} (round {round_number + 1}): {json.dumps(report)}", flush=True)
    what = "instructions (callgrind)" if args.callgrind else "CPU"
    print(
        f"\nserve_cpu: {what}, {args.requests} requests a run ({args.blocks} blocks), full demo, "
        f"seed {args.seed}, {args.rounds} round(s)"
    )
    print(f"{'tree':<14}{'build s':>9}{'median ms/answer':>18}{'least':>8}{'M instr/answer':>16}  answers")
    figures: dict[str, list[float]] = {label: [] for label in reports}
    for label, runs in reports.items():
        for run in runs:
            blocks = run["cpu_ms_per_answer"]
            counted_per_answer = run.get("instructions_per_answer")
            figures[label].append(counted_per_answer or statistics.median(blocks))
            shown = "–" if counted_per_answer is None else f"{counted_per_answer / 1e6:.2f}"
            print(
                f"{label:<14}{run['build_s']:>9.1f}{statistics.median(blocks):>18.2f}{min(blocks):>8.2f}"
                f"{shown:>16}  {run['answers_sha256']}"
            )
    before, after = (statistics.median(figures[label]) for label in trees)
    print(f"this tree / {args.baseline_rev}: {after / before:.3f}x {what} per answer")


if __name__ == "__main__":
    main()
