"""Bulk import throughput against a raw Core insert of the same rows, in the same run.

    .venv/bin/python benchmarks/import_throughput.py [--rows 20000]

The baseline writes the already-normalised rows with one executemany and no validation: the
gap is what validation, reference resolution and upsert cost.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from models.db import create_db_engine, migrate, session_factory
from models.kinds import KINDS
from models.tables import Startup
from models.transfer import import_records


def startup_records(count: int) -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"S-{n:06d}",
            "name": f"武汉第{n}号智能科技有限公司",
            "one_liner": "工业视觉质检与激光加工装备",
            "description": "面向汽车零部件企业的缺陷检测平台。" * 3,
            "industries": ["智能制造", "人工智能"],
            "stage": "天使轮",
            "district": "光谷",
            "funding_ask_cny": 3_000_000 + n,
        }
        for n in range(count)
    ]


def timed_import(folder: Path, records: list[dict[str, Any]]) -> float:
    engine = create_db_engine(f"sqlite:///{folder / 'import.db'}")
    migrate(engine)
    start = time.perf_counter()
    import_records(session_factory(engine), KINDS["startups"], records, secret="bench")
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed


def timed_raw_insert(folder: Path, records: list[dict[str, Any]]) -> float:
    engine = create_db_engine(f"sqlite:///{folder / 'raw.db'}")
    migrate(engine)
    rows = [
        r | {"industries": ["intelligent_manufacturing", "artificial_intelligence"], "stage": "angel"}
        for r in records
    ]
    rows = [
        r | {"district": "east_lake_hightech", "seeking": [], "active": True, "consent_matching": True}
        for r in rows
    ]
    start = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(insert(Startup), rows)
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    rows = parser.parse_args().rows
    records = startup_records(rows)
    with tempfile.TemporaryDirectory() as folder:
        ours = timed_import(Path(folder), records)
        raw = timed_raw_insert(Path(folder), records)
    print(f"rows: {rows}")
    print(f"matcher import (validate + upsert, one transaction): {ours:.2f} s  {rows / ours:,.0f} rows/s")
    print(f"baseline raw executemany insert (no validation):     {raw:.2f} s  {rows / raw:,.0f} rows/s")
    print(f"ratio: {ours / raw:.1f}x the raw insert")


if __name__ == "__main__":
    main()
