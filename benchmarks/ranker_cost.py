"""What the learned ranker costs a query, in isolation: LightGBM's scores for a pool's rows and its
SHAP parts for the shown rows, as `matcher.ranker.LearnedRanker` asks for them (one thread),
against the same calls on LightGBM's default threads (OpenMP, every core) in the same run.

    .venv/bin/python -m benchmarks.ranker_cost --ranker DIR [--rows 10,100,320,1000] [--repeats 200]

``DIR`` is a folder `matcher train` wrote. Rows are uniform in [0, 1] (every feature is 1 = the
better fit). Printed per call: CPU time of every thread of the process and wall time, the median
of ``--repeats`` calls, with the load average: on a shared machine the gap is waiting for a core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import lightgbm
import numpy as np

from matcher.features import FEATURE_NAMES
from matcher.ranker import load_ranker

SERVED_THREADS = 1
DEFAULT_THREADS = 0  # LightGBM's default: OpenMP's, every core
SHOWN_ROWS = 10


def per_call(call: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median CPU and wall milliseconds of one call."""
    call()
    cpu, wall = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        call()
        cpu.append((time.process_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return statistics.median(cpu), statistics.median(wall)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ranker", type=Path, required=True, help="a folder `matcher train` wrote")
    parser.add_argument("--rows", default="10,100,320,1000", help="comma-separated pool sizes")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    ranker = load_ranker(args.ranker)
    booster = lightgbm.Booster(model_str=ranker.model.text)  # the file load_ranker checked
    rows = np.random.default_rng(0).random((max(int(n) for n in args.rows.split(",")), len(FEATURE_NAMES)))
    print(
        f"ranker {args.ranker}: {booster.num_trees()} trees, {len(ranker.model.features)} features; "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    print(f"{'call':<34}{'1 thread cpu / wall ms':>24}{'default threads cpu / wall ms':>32}")
    shown = rows[:SHOWN_ROWS]
    calls = [(f"scores, {n} rows", partial(booster.predict, rows[: int(n)])) for n in args.rows.split(",")]
    calls.append((f"SHAP parts, {SHOWN_ROWS} rows", partial(booster.predict, shown, pred_contrib=True)))
    for label, call in calls:
        served = per_call(partial(call, num_threads=SERVED_THREADS), args.repeats)
        default = per_call(partial(call, num_threads=DEFAULT_THREADS), args.repeats)
        print(f"{label:<34}{served[0]:>12.2f} / {served[1]:<9.2f}{default[0]:>20.2f} / {default[1]:.2f}")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
