"""`matcher batch recommend` throughput: profiles per second on 1 and on 2 Ray workers, in one run.

    nice -n 10 .venv/bin/python -m benchmarks.batch_recommend [--scale 200000] [--askers 3000]
    flock /tmp/bigmem.lock nice -n 10 .venv/bin/python -m benchmarks.batch_recommend --scale 1000000

The demo ecosystem (seed 42) is loaded through the product's import path, then its startups are
cloned in the database (same texts, own ids and external ids) up to ``--scale``; one full build
saves the index state, as `matcher batch embed` does. Then the job's own code
(:func:`matcher.batch.recommend_units`, each worker opening the saved state once) answers
startup→investor for ``--askers`` startups spread over the catalogue, k = 20, first on one Ray
worker and then on two (a new run each, the same askers). The rate counts the profiles answered
after each worker's first unit, over the time since: what a long run sustains once its workers
have opened the state; the time to the first unit (opening it) is shown beside.

Target (#19): two workers ≥ 1.7x one.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ray
from sqlalchemy import text

from api.cli_batch import recommend_run
from api.matcher_service import MatcherService
from matcher.batch import recommend_units
from matcher.directions import DIRECTIONS
from models.batch_runs import Unit, plan_units, start_run
from models.db import open_database, transaction
from models.demo import generate_ecosystem, load_ecosystem
from models.enums import EntityKind
from models.settings import Settings
from models.tables import Startup

DIRECTION = DIRECTIONS[(EntityKind.startup, EntityKind.investor)]
K = 20
UNIT_SIZE = 100
TARGET_SPEED_UP = 1.7


def cloned_catalogue(settings: Settings, scale: int) -> None:
    """The demo ecosystem, its startups cloned in SQL up to ``scale`` rows."""
    _, factory = open_database(settings)
    load_ecosystem(factory, generate_ecosystem(42), secret=settings.secret_key)
    columns = [
        c.name for c in Startup.__table__.columns if c.name not in ("id", "external_id", "id_number_hash")
    ]
    listed = ", ".join(columns)
    with transaction(factory) as session:
        originals = int(session.scalar(text("SELECT COUNT(*) FROM startups")) or 0)
        top = int(session.scalar(text("SELECT MAX(id) FROM startups")) or 0)
        for copy in range(1, -(-scale // originals)):
            session.execute(
                text(
                    f"INSERT INTO startups (id, external_id, {listed}) "
                    f"SELECT id + :shift, external_id || :suffix, {listed} FROM startups "
                    "WHERE id <= :top AND id + :shift <= :last"
                ),
                {"shift": copy * top, "suffix": f"-c{copy}", "top": top, "last": top + scale - originals},
            )


@dataclass
class Rate:
    workers: int
    askers: int
    first_unit_s: float
    total_s: float
    sustained: float  # profiles per second after the first unit


def timed_run(settings: Settings, units: list[Unit], workers: int) -> Rate:
    """One run of ``units`` on ``workers`` Ray Data actors, through the job's own code."""
    _, factory = open_database(settings)
    with transaction(factory) as session:
        run_id = start_run(
            session, DIRECTION.name, (DIRECTION.asker_kind, DIRECTION.candidate_kind), K, units
        )
    run = recommend_run(settings, run_id, DIRECTION, K)
    completed: list[float] = []
    started = time.perf_counter()
    askers = recommend_units(
        run, units, workers=workers, progress=lambda _: completed.append(time.perf_counter())
    )
    # Each worker's first unit waits for it to open the state: the rate counts the units after.
    opened = completed[workers - 1]
    after = askers - sum(sorted(u.askers for u in units)[-workers:])
    return Rate(
        workers, askers, completed[0] - started, completed[-1] - started, after / (completed[-1] - opened)
    )


def spread_askers(settings: Settings, count: int) -> list[int]:
    _, factory = open_database(settings)
    with factory() as session:
        ids = [int(i) for i in session.scalars(text("SELECT id FROM startups ORDER BY id"))]
    picked = np.linspace(0, len(ids) - 1, count).astype(int)
    return sorted({ids[i] for i in picked})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=200_000, help="startups in the catalogue")
    parser.add_argument("--askers", type=int, default=3_000, help="startups answered per run")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as folder:
        settings = Settings(data_dir=Path(folder), environment="test", secret_key="benchmark")
        started = time.perf_counter()
        cloned_catalogue(settings, arguments.scale)
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        _, factory = open_database(settings)
        MatcherService(settings, factory).build()  # saves the state every worker opens
        built = time.perf_counter() - started
        print(f"{arguments.scale:,} startups: catalogue {loaded:.0f} s, full build and save {built:.0f} s")
        units = plan_units(spread_askers(settings, arguments.askers), UNIT_SIZE)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        rates = [timed_run(settings, units, workers) for workers in (1, 2)]
        ray.shutdown()
    print(f"{'workers':>7} {'askers':>7} {'first unit':>11} {'total':>8} {'profiles/s':>11}")
    for rate in rates:
        print(
            f"{rate.workers:>7} {rate.askers:>7} {rate.first_unit_s:>10.1f}s {rate.total_s:>7.1f}s"
            f" {rate.sustained:>11.1f}"
        )
    speed_up = rates[1].sustained / rates[0].sustained
    verdict = "PASS" if speed_up >= TARGET_SPEED_UP else "FAIL"
    print(f"{verdict}: 2 workers {speed_up:.2f}x one (target ≥ {TARGET_SPEED_UP}x)")


if __name__ == "__main__":
    main()
