"""Which true investors a founder's candidate pool misses, and what would reach them (#16).

On a split inside a protocol's history (`matcher train`'s inner split, or the window given by
``--features-until``, ``--validation-from`` and ``--until``), every validation round (or a spread
``--sample``) is asked as `train_ranker` asks it: the served pool without the startup's earlier
backers. Each true investor among the candidates is then placed: in the pool; eligible but
outside it; or not eligible at all (the direction's rules or its capacity bar it, so no channel
can reach it). Every eligible investor is scored (a matcher whose pool is all of them), and each
missed investor's rank among the eligible ones under every feature of the ranker says which
order, taken as a channel, would have caught it, and how deep (ties at their mean rank).
Printed: the pool's share of the truth, the deal count and recency of held and missed
investors, and per feature the share of the missed truth in its top 100 / 300 (a channel takes
a pool's third, 100). The protocol's test queries are never read.

    python -m benchmarks.investor_pool --protocol cyzone-early --sample 300
    python -m benchmarks.investor_pool --protocol cyzone-early --sample 300 \\
        --features-until 2014-12-30 --validation-from 2015-07-17 --until 2015-10-14
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
from scipy.stats import rankdata
from threadpoolctl import threadpool_limits

from benchmarks.ranker_refit import add_window_arguments, window_of
from embeddings.selection import encoder_for
from matcher.config import MatcherConfig, RetrievalConfig
from matcher.evaluation.baselines import FoldHistory
from matcher.evaluation.harness import load_folds
from matcher.evaluation.protocol import Query, spread_sample
from matcher.evaluation.training import inner_fold
from matcher.evaluation.world import RANKING_ONLY, MatcherWorld
from matcher.features import FEATURE_NAMES
from models.enums import EntityKind
from models.settings import Settings

STARTUP, INVESTOR = EntityKind.startup, EntityKind.investor
DEPTHS: Final = (100, 300)
# A pool larger than any catalogue here: the matcher then scores every eligible investor.
EVERY_ELIGIBLE: Final = RANKING_ONLY.model_copy(update={"retrieval": RetrievalConfig(pool_size=10**7)})


@dataclass
class Placed:
    """Where the true investors of the asked rounds ended up."""

    held: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)  # eligible, outside the pool
    barred: list[str] = field(default_factory=list)  # not eligible
    missed_ranks: list[np.ndarray] = field(default_factory=list)  # per missed: its rank per feature


def place_truth(
    world: MatcherWorld,
    queries: Sequence[Query],
    *,
    config: MatcherConfig = RANKING_ONLY,
    wide: MatcherConfig = EVERY_ELIGIBLE,
) -> Placed:
    """Each round's true investors placed against its pool (``config``'s, the served one's by
    default) and its eligible investors (``wide``'s pool)."""
    served, every = world.matcher(config=config), world.matcher(config=wide)
    external = {row: investor for investor, row in world.candidate_rows.items()}
    placed = Placed()
    for query in queries:
        known = {world.candidate_rows[c] for c in query.known if c in world.candidate_rows}
        truth = [world.candidate_rows[c] for c in sorted(query.truth) if c in world.candidate_rows]
        with world.asking(served, query) as row_id:
            pool = set(served.asked(STARTUP, row_id, INVESTOR).pool().tolist()) - known
        with world.asking(every, query) as row_id:
            asked = every.asked(STARTUP, row_id, INVESTOR)
            eligible = [row for row in asked.pool().tolist() if row not in known]
            at = {row: position for position, row in enumerate(eligible)}
            missed = [row for row in truth if row not in pool and row in at]
            ranks = _ranks(asked.score(eligible).features) if missed else np.zeros((0, 0))
        for row in truth:
            investor = external[row]
            if row in pool:
                placed.held.append(investor)
            elif row in missed:
                placed.missed.append(investor)
                placed.missed_ranks.append(ranks[at[row]])
            else:
                placed.barred.append(investor)
    return placed


def _ranks(features: np.ndarray) -> np.ndarray:
    """Each row's rank (0 = best) under each column, ties at their mean rank (a channel breaks
    them in no order that favours the truth: a feature most investors share reaches no one)."""
    return rankdata(-features, method="average", axis=0) - 1


def describe(placed: Placed, history: FoldHistory) -> None:
    """The pool's share of the truth, who it misses, and which feature's order reaches them."""
    deals = Counter(i.investor for i in history.investments)
    last = {i.investor: i.occurred_on for i in sorted(history.investments, key=lambda i: i.occurred_on)}
    total = len(placed.held) + len(placed.missed) + len(placed.barred)
    print(
        f"true investors: {total}; in the pool {len(placed.held) / total:.3f}, eligible but outside "
        f"{len(placed.missed) / total:.3f}, not eligible {len(placed.barred) / total:.3f}\n"
    )
    print("| true investors | count | deals before the cut: median | ≤ 2 deals | last deal: median days |")
    print("|---|---:|---:|---:|---:|")
    for name, who in (
        ("in the pool", placed.held),
        ("missed", placed.missed),
        ("not eligible", placed.barred),
    ):
        counts = np.asarray([deals.get(i, 0) for i in who])
        ages = np.asarray([(history.now - last[i]).days for i in who if i in last])
        print(
            f"| {name} | {len(who)} | {np.median(counts) if len(who) else 0:.0f} | "
            f"{np.mean(counts <= 2) if len(who) else 0:.3f} | {np.median(ages) if len(ages) else 0:.0f} |"
        )
    if not placed.missed_ranks:
        return
    ranks = np.vstack(placed.missed_ranks)
    header = " | ".join(f"top {depth}" for depth in DEPTHS)
    print(
        f"\n| the missed ({len(ranks)}) under a feature's order | {header} |\n|---|" + "---:|" * len(DEPTHS)
    )
    by_reach = np.argsort(-(ranks < DEPTHS[0]).mean(axis=0), kind="stable")
    for column in by_reach.tolist():
        shares = " | ".join(f"{(ranks[:, column] < depth).mean():.3f}" for depth in DEPTHS)
        print(f"| {FEATURE_NAMES[column]} | {shares} |")
    shares = " | ".join(f"{(ranks.min(axis=1) < depth).mean():.3f}" for depth in DEPTHS)
    print(f"| any feature | {shares} |")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--protocol", default="cyzone-early")
    parser.add_argument("--sample", type=int, help="a spread sample of the validation rounds")
    add_window_arguments(parser)
    args = parser.parse_args(argv)
    window = window_of(args)
    started = time.process_time()
    (fold,) = load_folds(args.protocol)
    inner, window = inner_fold(fold, protocol=args.protocol, window=window)
    queries = [q for q in inner.queries if q.segment == "validation"]
    if args.sample is not None:
        queries = spread_sample(queries, args.sample)
    with tempfile.TemporaryDirectory(prefix="investor-pool-") as scratch, threadpool_limits(limits=1):
        world = MatcherWorld.build(inner, encoder=encoder_for(Settings()), directory=Path(scratch))
        placed = place_truth(world, queries)
    print(
        f"{args.protocol}: features before {window.features_until}, {len(queries)} validation rounds "
        f"from {window.validation_from} to {window.until} ({time.process_time() - started:.0f} s CPU)\n"
    )
    describe(placed, FoldHistory.from_fold(inner))


if __name__ == "__main__":
    main()
