"""Load on a real `matcher serve` process: recommendations and interactions over loopback HTTP.

    .venv/bin/python -m benchmarks.load [--size full|small] [--seconds 30] [--clients 16]

Loads the demo ecosystem (seed 42; `full` is the 5,000-startup demo, `small` the tests' one)
into a fresh data dir (or reuses `--data-dir`), starts `matcher serve` on 127.0.0.1, and
drives it from this process with an asyncio httpx client: `--clients` concurrent loops, each
sending the next request as soon as the last one answered, for `--seconds` after a warm-up.
The mix: recommendations of every kind that asks (startups for investors, mentors and spaces;
investors' deal flow; spaces' candidates; mentors' and posts' lists) and, one request in
`--write-every`, a new interaction (`POST /v1/interactions`).

Prints throughput and p50/p95/p99 per endpoint; exits 1 on any error (a non-2xx status or a
failed connection). Target on this 2-core machine: >= 300 requests/s with recommendations'
p99 <= 50 ms; missing it is reported, not an error (a shared machine measures its neighbours).

The server runs with rate limits raised: every request comes from one address and one account,
which the production limits would (rightly) throttle.

Why an asyncio httpx client and not locust: httpx is already a dependency, one event loop
keeps the client to a fraction of one core (the server needs the rest), and the run stays a
plain module with a bounded duration and an exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from models.db import create_db_engine, is_empty, migrate, session_factory
from models.demo import DemoSize, generate_ecosystem, load_ecosystem
from models.settings import DEFAULT_SECRET, Settings
from tests.factories import SMALL_DEMO
from tests.servers import Server, serving

TARGET_RPS = 300.0
TARGET_P99_MS = 50.0
UNLIMITED = str(10**9)
SIZES = {"full": DemoSize(), "small": SMALL_DEMO}


@dataclass
class Tally:
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Population:
    """Ids to ask about, read from the running service."""

    totals: dict[str, int]
    investor_external_ids: list[str]
    startup_external_ids: list[str]


Request = tuple[str, str, str, dict[str, object] | None]  # label, method, path, JSON body


def prepare(data_dir: Path, size: DemoSize, seed: int) -> None:
    """The demo ecosystem in ``data_dir`` (SQLite), unless it already holds one."""
    settings = Settings(data_dir=data_dir, database_url=None, secret_key=DEFAULT_SECRET)
    settings.ensure_dirs()
    engine = create_db_engine(settings.resolved_database_url)
    migrate(engine)
    if is_empty(engine):
        started = time.perf_counter()
        load_ecosystem(session_factory(engine), generate_ecosystem(seed, size), secret=settings.secret_key)
        print(f"demo ecosystem (seed {seed}) loaded in {time.perf_counter() - started:.1f} s")
    engine.dispose()


def population(server: Server) -> Population:
    def listed(slug: str, limit: int = 1) -> dict[str, object]:
        response = httpx.get(
            f"{server.url}/v1/{slug}", params={"limit": limit}, headers=server.headers, timeout=30
        )
        response.raise_for_status()
        body: dict[str, object] = response.json()
        return body

    slugs = ("startups", "investors", "mentors", "spaces", "posts")
    totals = {slug: int(str(listed(slug)["total"])) for slug in slugs}

    def external_ids(slug: str) -> list[str]:
        items = listed(slug, limit=200)["items"]
        assert isinstance(items, list)
        return [str(item["external_id"]) for item in items]

    return Population(totals, external_ids("investors"), external_ids("startups"))


def request_mix(people: Population, draw: random.Random, write_every: int) -> Callable[[], Request]:
    """The next request: mostly recommendations, every ``write_every``-th a write."""
    stamp = time.strftime("%Y%m%d%H%M%S")
    counter = itertools.count(1)

    def pick(slug: str) -> int:
        return draw.randint(1, people.totals[slug])

    asks: list[Callable[[], Request]] = [
        lambda: (
            "startup→investor",
            "GET",
            f"/v1/startups/{pick('startups')}/recommendations?target=investor",
            None,
        ),
        lambda: (
            "startup→mentor",
            "GET",
            f"/v1/startups/{pick('startups')}/recommendations?target=mentor",
            None,
        ),
        lambda: (
            "startup→space",
            "GET",
            f"/v1/startups/{pick('startups')}/recommendations?target=space",
            None,
        ),
        lambda: ("deal-flow", "GET", f"/v1/investors/{pick('investors')}/deal-flow?k=10", None),
        lambda: ("candidates", "GET", f"/v1/spaces/{pick('spaces')}/candidates?k=10", None),
        lambda: (
            "mentor→startup",
            "GET",
            f"/v1/mentors/{pick('mentors')}/recommendations?target=startup",
            None,
        ),
    ]

    def interaction(n: int) -> Request:
        body: dict[str, object] = {
            "external_id": f"LOAD-{stamp}-{n}",
            "actor_kind": "investor",
            "actor_external_id": draw.choice(people.investor_external_ids),
            "target_kind": "startup",
            "target_external_id": draw.choice(people.startup_external_ids),
            "kind": "viewed",
        }
        return ("interaction", "POST", "/v1/interactions", body)

    def following() -> Request:
        n = next(counter)
        return interaction(n) if n % write_every == 0 else draw.choice(asks)()

    return following


async def drive(server: Server, following: Callable[[], Request], *, clients: int, seconds: float) -> Tally:
    tally = Tally()
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=server.url, headers=server.headers, limits=limits, timeout=30
    ) as client:

        async def loop() -> None:
            while time.perf_counter() < deadline:
                label, method, path, body = following()
                started = time.perf_counter()
                try:
                    response = await client.request(method, path, json=body)
                except httpx.HTTPError as error:
                    tally.errors.append(f"{method} {path}: {error!r}")
                    continue
                elapsed_ms = (time.perf_counter() - started) * 1000
                if response.is_success:
                    tally.latencies_ms[label].append(elapsed_ms)
                else:
                    tally.errors.append(f"{method} {path}: {response.status_code} {response.text[:200]}")

        await asyncio.gather(*(loop() for _ in range(clients)))
    return tally


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[round(share * 1000) - 1]


def report(tally: Tally, seconds: float) -> bool:
    """Print the figures; True when the targets are met."""
    every = [v for values in tally.latencies_ms.values() for v in values]
    asks = [v for label, values in tally.latencies_ms.items() if label != "interaction" for v in values]
    print(f"{'endpoint':<18}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    rows = [*sorted(tally.latencies_ms.items()), ("recommendations", asks), ("all", every)]
    for label, values in rows:
        if len(values) < 2:
            continue
        print(
            f"{label:<18}{len(values):>9}{len(values) / seconds:>9.1f}{percentile(values, 0.50):>9.1f}"
            f"{percentile(values, 0.95):>9.1f}{percentile(values, 0.99):>9.1f}"
        )
    throughput, p99 = len(every) / seconds, percentile(asks, 0.99)
    met = throughput >= TARGET_RPS and p99 <= TARGET_P99_MS
    verdict = "met" if met else "MISSED"
    print(
        f"target (>= {TARGET_RPS:.0f} req/s, recommendations p99 <= {TARGET_P99_MS:.0f} ms): {verdict} "
        f"({throughput:.0f} req/s, p99 {p99:.1f} ms)"
    )
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--write-every", type=int, default=10, help="one request in N is an interaction")
    parser.add_argument("--data-dir", type=Path, help="reuse this data dir (the demo is loaded if empty)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        data_dir = args.data_dir or Path(scratch) / "data"
        prepare(data_dir, SIZES[args.size], args.seed)
        limits = {
            f"MATCHER_{name}": UNLIMITED for name in ("RECOMMEND_LIMIT_PER_ACCOUNT", "RECOMMEND_LIMIT_PER_IP")
        }
        with serving(data_dir, log=Path(scratch) / "serve.log", **limits) as server:
            following = request_mix(population(server), random.Random(args.seed), args.write_every)
            warmup = asyncio.run(drive(server, following, clients=args.clients, seconds=args.warmup))
            server_cpu, client_cpu = cpu_seconds(server.process.pid), time.process_time()
            tally = asyncio.run(drive(server, following, clients=args.clients, seconds=args.seconds))
            server_cpu = cpu_seconds(server.process.pid) - server_cpu
            client_cpu = time.process_time() - client_cpu
    tally.errors = warmup.errors + tally.errors
    print(f"load: {args.size} demo, {args.clients} clients, {args.seconds:.0f} s on 127.0.0.1")
    report(tally, args.seconds)
    served = sum(len(values) for values in tally.latencies_ms.values())
    print(
        f"CPU per request: server {server_cpu / served * 1000:.2f} ms "
        f"({server_cpu / args.seconds:.2f} cores busy), client {client_cpu / served * 1000:.2f} ms; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    if tally.errors:
        print(f"{len(tally.errors)} error(s), the first: {tally.errors[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
