"""An import, then the next recommendation that shows it, at the demo size (seed 42).

    .venv/bin/python -m benchmarks.import_then_recommend [--large 10000]

A serving process (``api.matcher_service.MatcherService``, built once) follows the import through the
change feed, as a worker of ``matcher serve`` does after ``matcher import`` or
``POST /v1/{kind}/import``: the import commits, the service catches up, and the new startup is
asked for investors. Timed from the import's start to the recommendation's end.

* one row, through the feed (applied as one change): target <= 1 s;
* baseline in the same run: the same row recorded as a bulk reload (what every import did
  before), so the service rebuilds from the database;
* ``--large`` rows (a reload: the service rebuilds off its lock and swaps): target <= 30 s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from api.matcher_service import MatcherService
from models import transfer
from models.db import create_db_engine, migrate, session_factory
from models.demo import generate_ecosystem, load_ecosystem
from models.enums import EntityKind
from models.kinds import KINDS
from models.settings import DEFAULT_SECRET, Settings
from models.tables import Startup

ONE_ROW_TARGET_S = 1.0
LARGE_TARGET_S = 30.0


def new_startups(count: int, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"S-{tag}-{n:06d}",
            "name": f"武汉{tag}第{n}号智能科技有限公司",
            "one_liner": f"工业视觉质检与激光加工装备 {n}",
            "description": f"面向汽车零部件企业的缺陷检测平台，第{n}代产品。",
            "industries": ["智能制造", "人工智能"],
            "stage": "天使轮",
            "district": "光谷",
            "funding_ask_cny": 3_000_000 + n,
        }
        for n in range(count)
    ]


@contextmanager
def row_by_row_up_to(rows: int) -> Iterator[None]:
    saved = transfer.ROW_BY_ROW_MAX_ROWS
    transfer.ROW_BY_ROW_MAX_ROWS = rows
    try:
        yield
    finally:
        transfer.ROW_BY_ROW_MAX_ROWS = saved


def import_then_recommend(
    service: MatcherService, records: list[dict[str, Any]]
) -> tuple[float, float, int, float]:
    """Seconds to import and catch up, seconds to recommend, how many investors came back, and
    the CPU seconds of it all (on a shared machine the gap to wall time is waiting for a core)."""
    cpu = time.process_time()
    start = time.perf_counter()
    transfer.import_records(service.factory, KINDS["startups"], records, secret=DEFAULT_SECRET)
    service.catch_up()
    caught_up = time.perf_counter()
    with service.factory() as session:
        row_id = session.scalars(select(Startup.id).filter_by(external_id=records[-1]["external_id"])).one()
    with service.reading() as matcher:
        matches = matcher.recommend(EntityKind.startup, row_id, EntityKind.investor, k=10)
    return caught_up - start, time.perf_counter() - caught_up, len(matches), time.process_time() - cpu


def report(label: str, seconds: tuple[float, float, int, float], target: float | None) -> None:
    importing, recommending, found, cpu = seconds
    total = importing + recommending
    verdict = "" if target is None else f"  target <= {target:.0f} s: {'PASS' if total <= target else 'MISS'}"
    print(
        f"{label}: {total:.2f} s (import + catch-up {importing:.2f} s, "
        f"recommend {recommending * 1000:.0f} ms, {found} investors; CPU {cpu:.2f} s){verdict}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--large", type=int, default=10_000, help="rows of the large import")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder), database_url=None, secret_key=DEFAULT_SECRET)
        settings.ensure_dirs()
        engine = create_db_engine(settings.resolved_database_url)
        migrate(engine)
        factory = session_factory(engine)
        load_ecosystem(factory, generate_ecosystem(42), secret=settings.secret_key)
        service = MatcherService(settings, factory)
        start = time.perf_counter()
        service.build()
        print(f"demo ecosystem (seed 42) loaded; first build {time.perf_counter() - start:.1f} s", flush=True)
        report(
            "1 row through the change feed",
            import_then_recommend(service, new_startups(1, "one")),
            ONE_ROW_TARGET_S,
        )
        with row_by_row_up_to(0):
            report(
                "baseline: 1 row as a bulk reload",
                import_then_recommend(service, new_startups(1, "old")),
                None,
            )
        report(
            f"{args.large:,} rows (rebuild off the lock, swap)",
            import_then_recommend(service, new_startups(args.large, "large")),
            LARGE_TARGET_S,
        )
        engine.dispose()


if __name__ == "__main__":
    main()
