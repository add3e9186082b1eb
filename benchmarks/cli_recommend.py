"""One `matcher recommend` call on the demo ecosystem, end to end, as a user runs it.

    .venv/bin/python -m benchmarks.cli_recommend [--data-dir DIR] [--runs 3]

Each run is a fresh process (``python -m api.cli recommend S-00001 --kind investor``): imports,
reading the saved state (the two kinds' stored indexes and lexical rows, written by
``matcher serve``), the query, the table. Without ``--data-dir`` the demo (seed 42) is loaded
into a temporary folder and built once first, as ``matcher serve`` does at start.

Baseline in the same run: a fresh process doing what the command did before, a full build of
every kind (written back) and the same query. Wall time and the children's CPU time are both
shown: on a shared machine the gap is time spent waiting for a core. Target: <= 2 s wall.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from api.matcher_service import MatcherService
from models.db import create_db_engine, migrate, session_factory
from models.demo import generate_ecosystem, load_ecosystem
from models.settings import DEFAULT_SECRET, Settings

TARGET_S = 2.0
COMMAND = [sys.executable, "-m", "api.cli", "recommend", "S-00001", "--kind", "investor", "-k", "10"]
FULL_BUILD = [
    sys.executable,
    "-c",
    "from api.matcher_service import MatcherService; from models.db import engine_for, session_factory;"
    "from models.enums import EntityKind as K; from models.settings import Settings;"
    "s = Settings(); service = MatcherService(s, session_factory(engine_for(s))); service.build();"
    "m = service._matcher; print(len(m.recommend(K.startup, 1, K.investor, k=10)))",
]


def prepare(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, database_url=None, secret_key=DEFAULT_SECRET)
    settings.ensure_dirs()
    engine = create_db_engine(settings.resolved_database_url)
    migrate(engine)
    factory = session_factory(engine)
    load_ecosystem(factory, generate_ecosystem(42), secret=settings.secret_key)
    MatcherService(settings, factory).build()
    engine.dispose()


def timed(command: list[str], data_dir: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh process."""
    environment = os.environ | {"MATCHER_DATA_DIR": str(data_dir), "MATCHER_SECRET_KEY": DEFAULT_SECRET}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=environment, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def report(label: str, runs: list[tuple[float, float]], target: float | None) -> None:
    wall = statistics.median(w for w, _ in runs)
    cpu = statistics.median(c for _, c in runs)
    verdict = "" if target is None else f"  target <= {target:.0f} s: {'PASS' if wall <= target else 'MISS'}"
    print(f"{label}: median of {len(runs)}: {wall:.2f} s wall, {cpu:.2f} s CPU{verdict}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, help="a data dir already holding the demo and its indexes")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data_dir = args.data_dir or Path(folder)
        if args.data_dir is None:
            prepare(data_dir)
        timed(COMMAND, data_dir)  # warms the file cache for both
        report("matcher recommend", [timed(COMMAND, data_dir) for _ in range(args.runs)], TARGET_S)
        report(
            "baseline: full build, then the query",
            [timed(FULL_BUILD, data_dir) for _ in range(args.runs)],
            None,
        )


if __name__ == "__main__":
    main()
