"""CPU of the lexical retrieval with postings held as counts (a byte) against weights (float32).

    .venv/bin/python -m benchmarks.postings_counts [--scale 20000] [--distinct-texts] [--queries 300]

Builds ``recommend_latency``'s catalogue (the demo's startups cloned to ``--scale``; with
``--distinct-texts`` a text of each clone's own, as ``memory_scale`` gives them) and its text
channels, then holds the startups' postings twice over the same rows: as the matcher does
(each weight its count, rebuilt with the row's norm: ``embeddings.lexical.TermWeighting``) and
as weights (float32, as before #19's counts). The same queries (other kinds' and startups' own
lexical rows) retrieve each kind's best ``pool_size`` startups from both, taking turns block by
block, in one process: CPU ms per retrieval (``time.process_time``), the median block and the
least, the postings' bytes, and whether both found the same positions for every query.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from benchmarks.memory_scale import give_distinct_texts
from benchmarks.recommend_latency import demo_catalog, scale_startups
from matcher.channels import Channels, KindChannels
from matcher.config import RetrievalConfig
from models.enums import EntityKind
from tests.doubles import HashingEncoder

BLOCKS = 10


def _retrieve(
    channel: KindChannels, queries: list[sp.csr_matrix], mask: np.ndarray, count: int
) -> list[list[int]]:
    return [channel.lexical_top(query, mask, count).tolist() for query in queries]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=20_000, help="startups after cloning")
    parser.add_argument("--distinct-texts", action="store_true", help="a text of each clone's own")
    parser.add_argument("--queries", type=int, default=300, help="retrievals a block, each tree")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        catalog = demo_catalog(Path(folder))
    scale_startups(catalog, args.scale)
    if args.distinct_texts:
        give_distinct_texts(catalog)
    channels = Channels.build(catalog, HashingEncoder())
    counted = channels.kinds[EntityKind.startup]
    weighed = KindChannels(
        counted.table, counted.index, counted._store, counted.retrieval, row_of=counted._row_of
    )
    held = {
        name: sum(a.nbytes for a in channel._retrieval_postings().arrays().values())
        for name, channel in (("counts", counted), ("weights", weighed))
    }
    rng = np.random.default_rng(0)
    queries = [
        channels.kinds[kind].lexical_row(int(position))
        for kind in (EntityKind.investor, EntityKind.mentor, EntityKind.space, EntityKind.startup)
        for position in rng.choice(channels.kinds[kind]._positions, args.queries // 4)
    ]
    mask = np.ones(counted._positions, bool)
    count = RetrievalConfig().pool_size
    same = _retrieve(counted, queries, mask, count) == _retrieve(weighed, queries, mask, count)
    cpu: dict[str, list[float]] = {"counts": [], "weights": []}
    for _ in range(BLOCKS):
        for name, channel in (("weights", weighed), ("counts", counted)):
            started = time.process_time()
            _retrieve(channel, queries, mask, count)
            cpu[name].append((time.process_time() - started) / len(queries) * 1000)
    texts = "distinct texts" if args.distinct_texts else "the originals' texts"
    print(f"{args.scale:,} startups, {texts}; {len(queries)} retrievals of {count} a block, {BLOCKS} blocks")
    print(f"{'postings':10} {'MB':>8} {'median ms':>10} {'least':>8}")
    for name in ("weights", "counts"):
        print(f"{name:10} {held[name] / 1e6:8.2f} {statistics.median(cpu[name]):10.3f} {min(cpu[name]):8.3f}")
    ratio = statistics.median(cpu["counts"]) / statistics.median(cpu["weights"])
    print(f"counts / weights: {ratio:.3f}x CPU; the same positions for every query: {same}")


if __name__ == "__main__":
    main()
