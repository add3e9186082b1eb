"""How much of an investor's deal flow truth its pool holds: the retrieval step of the deal-flow page.

For every investor active in a fold's period (`<protocol>-deal-flow`), the period's query
startups are live together and the investor asks for startups as its deal-flow page does
(`Matcher.asked(INVESTOR, id, STARTUP, within=the period's startups)`); its pool is what the
page can list at all. Printed: investors, the pool's mean size against the period's startups,
and the share of the (investor, backed startup) pairs whose startup is in the investor's pool
(with the per-investor mean). No page is ranked: `matcher evaluate --protocol <protocol>-deal-flow`
measures the page itself.

    python -m benchmarks.deal_flow_pool --protocol crunchbase-2013 --sample 1000
    python -m benchmarks.deal_flow_pool --protocol cyzone-early --on validation --sample 300
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from embeddings.encoder import Encoder
from embeddings.selection import encoder_for
from matcher.evaluation.deal_flow import active_investors
from matcher.evaluation.harness import DEAL_FLOW, load_folds, validation_folds
from matcher.evaluation.protocol import Fold
from matcher.evaluation.world import MatcherWorld
from models.enums import EntityKind
from models.settings import Settings

INVESTOR, STARTUP = EntityKind.investor, EntityKind.startup


def pool_holdings(world: MatcherWorld, fold: Fold) -> tuple[list[int], list[int], list[int]]:
    """Per active investor: its pool's size, how many of its backed period startups the pool
    holds, and how many it backed."""
    matcher = world.matcher()
    records = {
        int(r["id"]): r for r in (world.query_records[str(q.startup["external_id"])] for q in fold.queries)
    }
    startup_of_event = {
        q.event_id: int(world.query_records[str(q.startup["external_id"])]["id"]) for q in fold.queries
    }
    for record in records.values():
        matcher.upsert_profile(STARTUP, record)
    table = matcher.catalog_.tables[STARTUP]
    live = np.zeros(len(table), dtype=bool)
    live[[table.position(startup) for startup in records]] = True
    sizes, held, backed = [], [], []
    for investor in active_investors(fold):
        truth = {startup_of_event[q.event_id] for q in fold.queries if investor in q.truth}
        pool = set(
            matcher.asked(INVESTOR, world.candidate_rows[investor], STARTUP, within=live).pool().tolist()
        )
        sizes.append(len(pool))
        held.append(len(truth & pool))
        backed.append(len(truth))
    return sizes, held, backed


def fold_worlds(folds: Sequence[Fold], encoder: Encoder) -> Iterator[tuple[Fold, MatcherWorld]]:
    """Each fold with its matcher's world, built once in a scratch folder (BLAS on one thread,
    as `matcher evaluate` runs); the folder goes when the last fold is done."""
    with tempfile.TemporaryDirectory(prefix="deal-flow-") as scratch, threadpool_limits(limits=1):
        for number, fold in enumerate(folds):
            directory = Path(scratch) / f"fold-{number}"
            directory.mkdir()
            yield fold, MatcherWorld.build(fold, encoder=encoder, directory=directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", required=True, help="cyzone-early, crunchbase-2013 or yc-2005-2014")
    parser.add_argument("--sample", type=int, default=None, help="query startups spread over the folds")
    parser.add_argument("--on", choices=("test", "validation"), default="test")
    args = parser.parse_args()
    settings = Settings()
    protocol = args.protocol.removesuffix(DEAL_FLOW) + DEAL_FLOW
    if args.on == "validation":
        folds = validation_folds(protocol, load_folds(protocol, settings=settings), sample=args.sample)
    else:
        folds = load_folds(protocol, settings=settings, sample=args.sample)
    encoder = encoder_for(settings)
    sizes, held, backed, startups = [], [], [], []
    started = time.process_time()
    for fold, world in fold_worlds(folds, encoder):
        built = time.process_time()
        found = pool_holdings(world, fold)
        sizes += found[0]
        held += found[1]
        backed += found[2]
        startups += [len({str(q.startup["external_id"]) for q in fold.queries})] * len(found[0])
        print(f"fold {fold.name}: {len(found[0])} investors, pools {time.process_time() - built:.1f} s CPU")
    shares = np.asarray(held) / np.maximum(np.asarray(backed), 1)
    print(f"\n{protocol} ({args.on}, {len(folds)} folds; {time.process_time() - started:.0f} s CPU)\n")
    print("| investors | period startups | pool size | pool share of truth | per-investor mean |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {len(sizes)} | {np.mean(startups):.0f} | {np.mean(sizes):.1f} | "
        f"{sum(held) / max(sum(backed), 1):.4f} | {shares.mean():.4f} |"
    )


if __name__ == "__main__":
    main()
