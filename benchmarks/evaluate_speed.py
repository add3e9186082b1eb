"""Time of `matcher evaluate` on a fixed sample, against an older tree in the same run.

    .venv/bin/python -m benchmarks.evaluate_speed [--protocol cyzone-early] [--sample 100]
        [--methods matcher] [--baseline-rev main~1]

Runs ``run_protocol`` (what `matcher evaluate --protocol P --sample N --methods M` runs) in a
fresh process, first from ``--baseline-rev`` (a git revision of this repository, extracted to a
temporary directory and run from there), then from this tree, and prints each one's wall and CPU
time and whether the two metric tables are the same (every figure within 1e-9): a change that
makes the evaluation faster must not change what it measures. Both runs read the same shared
data and the same embedding cache (this tree's working directory), so neither encodes what the
other did not. CPU time is the process's own: on a machine shared with other jobs it moves
less with the load than wall time does.

Issue #16's target: `matcher evaluate --protocol cyzone-early --methods matcher` on all 4,289
queries within 10 minutes on this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-9


def measure(protocol: str, sample: int | None, methods: list[str]) -> dict[str, Any]:
    from matcher.evaluation.harness import run_protocol

    wall, cpu = time.perf_counter(), time.process_time()
    result = run_protocol(protocol, sample=sample, methods=methods)
    return {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "rows": [row.model_dump() for row in result.table.rows],
        "table": result.table.to_markdown(),
    }


def run(tree: Path, protocol: str, sample: int | None, methods: list[str]) -> dict[str, Any]:
    """``measure`` in a fresh process with ``tree`` first on the path."""
    from benchmarks.revisions import child_report  # the parent's: an old tree has none
    from models.settings import Settings

    # An extracted tree is not beside the shared data: name it.
    environment = {"MATCHER_SHARED_DATA": str(Settings().shared_data_dir)}
    arguments = ["--protocol", protocol, "--methods", ",".join(methods)]
    arguments += ["--sample", str(sample)] if sample else []
    return child_report(__file__, arguments, tree, environment=environment, cwd=ROOT)


def same_rows(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> bool:
    """The same methods and segments, every figure within :data:`TOLERANCE`."""
    if [r["method"] for r in first] != [r["method"] for r in second]:
        return False
    for a, b in zip(first, second, strict=True):
        for name, value in a.items():
            other = b[name]
            if isinstance(value, float) and isinstance(other, float):
                if abs(value - other) > TOLERANCE:
                    return False
            elif value != other:
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--protocol", default="cyzone-early")
    parser.add_argument("--sample", type=int, default=100, help="queries spread over the period (0: all)")
    parser.add_argument(
        "--methods", default="matcher", help="comma-separated, as matcher evaluate takes them"
    )
    parser.add_argument(
        "--baseline-rev", default=None, help="git revision measured first (none: this tree only)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    sample = args.sample or None
    if args.child:
        print(json.dumps(measure(args.protocol, sample, methods)))
        return
    from benchmarks.revisions import extracted  # the parent's: an old tree has none

    reports = {}
    with tempfile.TemporaryDirectory() as folder:
        if args.baseline_rev:
            reports[args.baseline_rev] = run(
                extracted(args.baseline_rev, Path(folder)), args.protocol, sample, methods
            )
    reports["this tree"] = run(ROOT, args.protocol, sample, methods)
    print(f"\n{args.protocol}, {sample or 'all'} queries, methods {','.join(methods)}")
    mine = reports["this tree"]
    for label, report in reports.items():
        print(f"{label}: wall {report['wall_s']:.0f} s, CPU {report['cpu_s']:.0f} s")
    print(mine["table"])
    if args.baseline_rev:
        before = reports[args.baseline_rev]
        same = same_rows(before["rows"], mine["rows"])
        wall, cpu = before["wall_s"] / mine["wall_s"], before["cpu_s"] / mine["cpu_s"]
        print(f"speed-up: wall ×{wall:.2f}, CPU ×{cpu:.2f}; metric tables {'the same' if same else 'DIFFER'}")
        if not same:
            print(before["table"])


if __name__ == "__main__":
    main()
