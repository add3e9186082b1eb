"""Memory of a whole `matcher serve` with 1 and with 2 worker processes, on one data dir.

    .venv/bin/python -m benchmarks.serve_memory [--scale 200000] [--cloned-texts]

Loads the demo ecosystem (seed 42) into a SQLite data dir and adds startups up to ``--scale``,
each with a description and one-liner of its own (spliced from two originals at random cuts,
as ``memory_scale --distinct-texts`` does; ``--cloned-texts`` keeps the originals' texts). Then
starts `matcher serve` with one worker, waits until it answers, sends every direction's
recommendations to warm it, and sums the proportional set size (PSS, from smaps_rollup) of
all its processes; then the same with two workers on the same data dir. PSS splits each shared
page between the processes mapping it, so the sum is what the host holds for the server.

Target (#19): two workers at most 1.3× the memory of one (the workers share the vector index,
the catalogue columns and the lexical rows through memory-mapped files: matcher/mapped.py).
Large scales take many GiB: run them under ``flock /tmp/bigmem.lock``.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.load import prepare
from models.demo import DemoSize
from tests.servers import Server, launched

TARGET_RATIO = 1.3
WARM_UP_PER_DIRECTION = 40
READY_LIMIT_S = 3600.0
UNLIMITED = str(10**9)
STARTED = "Application startup complete."
PROFILE_TABLES = ("persons", "startups", "investors", "mentors", "spaces", "practice_bases", "posts")
DIRECTIONS = (
    ("startups", "investor"),
    ("startups", "space"),
    ("startups", "mentor"),
    ("investors", "startup"),
    ("spaces", "startup"),
    ("mentors", "startup"),
)


def add_startups(database: Path, total: int, *, distinct_texts: bool, seed: int = 0) -> int:
    """Startups cloned from the demo's up to ``total``; returns how many there are."""
    rng = random.Random(seed)
    with sqlite3.connect(database) as db:
        db.row_factory = sqlite3.Row
        originals = [dict(row) for row in db.execute("SELECT * FROM startups ORDER BY id")]
        next_id = max(row["id"] for row in originals) + 1
        columns = list(originals[0])
        insert = f"INSERT INTO startups ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        batch: list[tuple[object, ...]] = []
        for n in range(total - len(originals)):
            clone = originals[n % len(originals)] | {"id": next_id + n, "external_id": f"S-clone-{n}"}
            if distinct_texts:
                other = originals[rng.randrange(len(originals))]
                for name in ("description", "one_liner"):
                    mine, theirs = str(clone[name] or ""), str(other[name] or "")
                    head, tail = rng.randint(0, len(theirs)), rng.randint(0, len(mine))
                    clone[name] = theirs[:head] + mine[tail:]
            batch.append(tuple(clone[c] for c in columns))
            if len(batch) == 10_000:
                db.executemany(insert, batch)
                batch.clear()
        db.executemany(insert, batch)
        counted: int = db.execute("SELECT count(*) FROM startups").fetchone()[0]
    return counted


def profiles(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return sum(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in PROFILE_TABLES)


def group_processes(leader: int) -> list[int]:
    """Every live process of ``leader``'s process group (the server and its workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == leader:  # the process group id
                found.append(int(entry.name))
    return found


def rollup_kib(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        values[name] = int(value.split()[0])
    return values


def wait_ready(server: Server, workers: int) -> float:
    """Seconds until every worker has built its matcher (uvicorn logs a startup per worker,
    after the build: /health answers as soon as the first one has)."""
    started = time.monotonic()
    while time.monotonic() - started < READY_LIMIT_S:
        if server.process.poll() is not None:
            raise RuntimeError(f"matcher serve exited; see {server.log}")
        if server.log.read_text(errors="replace").count(STARTED) >= workers:
            server.wait_until_ready()  # reads the admin key
            return time.monotonic() - started
        time.sleep(2)
    raise TimeoutError(f"{workers} worker(s) of {server.url} not started within {READY_LIMIT_S:.0f} s")


def measure(data_dir: Path, workers: int, counts: dict[str, int]) -> dict[str, float]:
    environment = {
        "MATCHER_WORKERS": str(workers),
        "MATCHER_RECOMMEND_LIMIT_PER_ACCOUNT": UNLIMITED,
        "MATCHER_RECOMMEND_LIMIT_PER_IP": UNLIMITED,
    }
    with launched(data_dir, log=data_dir.parent / f"serve-{workers}.log", **environment) as server:
        ready_s = wait_ready(server, workers)
        draw = random.Random(workers)
        errors = 0
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=120) as client:
            for slug, target in DIRECTIONS:
                for _ in range(WARM_UP_PER_DIRECTION * workers):
                    row_id = draw.randint(1, counts[slug])
                    answer = client.get(f"/v1/{slug}/{row_id}/recommendations", params={"target": target})
                    errors += answer.status_code not in (200, 404)
        time.sleep(2)
        rollups = [rollup_kib(pid) for pid in group_processes(server.process.pid)]
    return {
        "ready_s": ready_s,
        "processes": len(rollups),
        "pss_mib": sum(r["Pss"] for r in rollups) / 1024,
        "rss_mib": sum(r["Rss"] for r in rollups) / 1024,
        "private_mib": sum(r["Private_Clean"] + r["Private_Dirty"] for r in rollups) / 1024,
        "errors": errors,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=200_000, help="startups after cloning")
    parser.add_argument("--cloned-texts", action="store_true", help="clones keep their originals' texts")
    parser.add_argument("--data-dir", type=Path, help="reuse this data dir (prepared by an earlier run)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = args.data_dir or Path(scratch) / "data"
        database = data_dir / "matcher.db"
        fresh = not database.exists()
        prepare(data_dir, DemoSize(), 42)
        if fresh:
            started = time.perf_counter()
            add_startups(database, args.scale, distinct_texts=not args.cloned_texts)
            print(f"startups added in {time.perf_counter() - started:.0f} s", flush=True)
        with sqlite3.connect(database) as db:
            counts = {
                slug: db.execute(f"SELECT max(id) FROM {table}").fetchone()[0]
                for slug, table in (
                    ("startups", "startups"),
                    ("investors", "investors"),
                    ("spaces", "spaces"),
                    ("mentors", "mentors"),
                )
            }
        total = profiles(database)
        texts = "cloned texts" if args.cloned_texts else "distinct texts"
        print(f"{counts['startups']:,} startups ({texts}), {total:,} profiles in all", flush=True)
        results = {}
        for workers in (1, 2):
            results[workers] = measure(data_dir, workers, counts)
            r = results[workers]
            print(
                f"{workers} worker(s): ready after {r['ready_s']:.0f} s, {r['processes']:.0f} processes, "
                f"PSS {r['pss_mib']:,.0f} MiB ({r['pss_mib'] * 2**20 / total / 1000:.2f} KB a profile), "
                f"RSS {r['rss_mib']:,.0f} MiB, private {r['private_mib']:,.0f} MiB, "
                f"{r['errors']:.0f} failed requests",
                flush=True,
            )
    ratio = results[2]["pss_mib"] / results[1]["pss_mib"]
    verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
    print(
        f"{verdict} two workers' PSS {ratio:.2f}x one worker's (target <= {TARGET_RATIO:g}x); "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
