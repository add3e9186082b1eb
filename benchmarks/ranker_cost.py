"""What the learned ranker costs a query, in isolation: the scores of a pool's rows and the reason
parts of the shown rows, as `matcher.ranker.LearnedRanker` serves them (trees compiled by
lleaves; path attribution over LightGBM's leaf indices) against the same calls before (LightGBM
walks the trees; TreeSHAP parts), in the same run, one thread each.

    .venv/bin/python -m benchmarks.ranker_cost --ranker DIR [--rows 10,100,320,1000] [--repeats 200]
    .venv/bin/python -m benchmarks.ranker_cost --ranker DIR --synthetic   # fit the served shape first

``DIR`` is a folder `matcher train` wrote. With ``--synthetic`` and no ranker in ``DIR``, the served
model's shape is fitted there first: `matcher train`'s grid of six fits, averaged, on 180,000
synthetic rows (full trees: an upper bound on a real model's walk). Rows are uniform in [0, 1]
(every feature is 1 = the better fit). Printed per call: CPU time of every thread of the process
and wall time, the median of ``--repeats`` calls, with the load average. Last, how often the two
kinds of parts agree on the reasons a list would show: the top feature, and the top three (as
many reasons as a match shows), on the ten best-scored rows of ``--pools`` pools of 320 rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import lightgbm
import numpy as np

from matcher.directions import direction_for
from matcher.evaluation.training import PARAMETER_GRID
from matcher.features import FEATURE_NAMES
from matcher.ranker import MODEL_FILE, TrainingWindow, average_models, fit_ranker, load_ranker, save_ranker
from models.enums import EntityKind

SHOWN_ROWS = 10
POOL_ROWS = 320
REASONS_SHOWN = 3  # ExplainConfig.max_reasons
DIRECTION = direction_for(EntityKind.startup, EntityKind.investor)
SYNTHETIC_QUERIES, SYNTHETIC_CANDIDATES, SYNTHETIC_RELEVANT = 600, 300, 3


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


def fit_synthetic(directory: Path) -> None:
    """The served grid on synthetic queries: each query's relevant candidates are its three best
    by a noisy mix of every feature, with an interaction and a bend, so the trees fill up."""
    rng = np.random.default_rng(0)
    rows = SYNTHETIC_QUERIES * SYNTHETIC_CANDIDATES
    features = rng.random((rows, len(FEATURE_NAMES)))
    graph, popularity = FEATURE_NAMES.index("graph_proximity"), FEATURE_NAMES.index("popularity")
    signal = (
        features @ rng.random(len(FEATURE_NAMES))
        + 1.5 * features[:, 0] * features[:, graph]
        + np.sin(6 * features[:, popularity])
        + 0.5 * rng.standard_normal(rows)
    )
    by_query = signal.reshape(SYNTHETIC_QUERIES, SYNTHETIC_CANDIDATES)
    best = np.argsort(-by_query, axis=1)[:, :SYNTHETIC_RELEVANT]
    labels = np.zeros_like(by_query, dtype=np.int64)
    np.put_along_axis(labels, best, 1, axis=1)
    groups = [SYNTHETIC_CANDIDATES] * SYNTHETIC_QUERIES
    fits = [fit_ranker(features, labels.ravel(), groups, params=params) for params in PARAMETER_GRID]
    day = dt.date(2015, 1, 1)
    window = TrainingWindow(
        protocol="synthetic", features_until=day, queries_from=day, validation_from=day, until=day
    )
    save_ranker(average_models(fits), directory, window=window, metrics={})


def positive_top(parts: np.ndarray, count: int) -> list[tuple[int, ...]]:
    """Each row's ``count`` largest positive parts' features, largest first (as reasons pick)."""
    order = np.argsort(-parts, axis=1, kind="stable")[:, :count]
    return [tuple(int(f) for f in row if parts[at, f] > 0) for at, row in enumerate(order)]


def agreement(ranker_dir: Path, pools: int) -> str:
    """How often TreeSHAP's and the path attribution's parts pick the same reasons."""
    ranker = load_ranker(ranker_dir)
    booster = lightgbm.Booster(model_str=ranker.model.text)
    rng = np.random.default_rng(1)
    same_first, same_three, rows = 0, 0, 0
    for _ in range(pools):
        pool = rng.random((POOL_ROWS, len(FEATURE_NAMES)))
        shown = pool[np.argsort(-ranker.raw_scores(pool))[:SHOWN_ROWS]]
        shap = np.asarray(booster.predict(shown, pred_contrib=True, num_threads=1))[:, :-1]
        path, _ = ranker.contributions(shown, DIRECTION)
        for old, new in zip(
            positive_top(shap, REASONS_SHOWN), positive_top(path, REASONS_SHOWN), strict=True
        ):
            same_first += old[:1] == new[:1]
            same_three += set(old) == set(new)
            rows += 1
    return (
        f"reasons on the {SHOWN_ROWS} best of {pools} pools of {POOL_ROWS} ({rows} rows): TreeSHAP and path "
        f"parts name the same top feature for {same_first / rows:.0%}, the same top {REASONS_SHOWN} "
        f"for {same_three / rows:.0%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ranker", type=Path, required=True, help="a folder `matcher train` wrote")
    parser.add_argument(
        "--synthetic", action="store_true", help="when DIR holds no ranker, fit the served shape there first"
    )
    parser.add_argument("--rows", default="10,100,320,1000", help="comma-separated pool sizes")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--pools", type=int, default=100, help="pools whose shown rows' reasons are compared")
    args = parser.parse_args()
    if args.synthetic and not (args.ranker / MODEL_FILE).exists():
        started = time.process_time()
        fit_synthetic(args.ranker)
        print(f"fitted and compiled the synthetic ranker in {time.process_time() - started:.1f} s CPU")
    started = time.process_time()
    ranker = load_ranker(args.ranker)
    loaded = time.process_time() - started
    if not ranker.is_compiled:
        raise SystemExit("ranker: the trees did not compile (is lleaves installed?); see the log")
    booster = lightgbm.Booster(model_str=ranker.model.text)  # the file load_ranker checked
    rows = np.random.default_rng(0).random((max(int(n) for n in args.rows.split(",")), len(FEATURE_NAMES)))
    print(
        f"ranker {args.ranker}: {booster.num_trees()} trees, {len(ranker.model.features)} features; "
        f"load {loaded:.2f} s CPU (compiled object from the cache); "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    header = f"{'call (one thread)':<34}{'before: cpu / wall ms':>24}{'served: cpu / wall ms':>26}"
    print(f"{header}{'cpu ratio':>11}")
    calls: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (
            f"scores, {n} rows",
            partial(booster.predict, rows[: int(n)], num_threads=1),
            partial(ranker.raw_scores, rows[: int(n)]),
        )
        for n in args.rows.split(",")
    ]
    shown = rows[:SHOWN_ROWS]
    calls.append(
        (
            f"reason parts, {SHOWN_ROWS} rows",
            partial(booster.predict, shown, pred_contrib=True, num_threads=1),
            partial(ranker.contributions, shown, DIRECTION),
        )
    )
    for label, before_call, served_call in calls:
        before = per_call(before_call, args.repeats)
        served = per_call(served_call, args.repeats)
        print(
            f"{label:<34}{before[0]:>12.2f} / {before[1]:<9.2f}{served[0]:>14.2f} / {served[1]:<9.2f}"
            f"{before[0] / served[0]:>8.1f}x"
        )
    print(agreement(args.ranker, args.pools))
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
