"""How much room a deal-flow protocol leaves above a random order (#16).

An investor of ``<protocol>-deal-flow`` ranks its period's query startups, the truth being those it
backed. Where a period holds few startups the list is short: with ``n`` of them and ``p`` backed, a
uniformly random order's Recall@10 is min(10, n) / n and its NDCG@10 (p / n) · Σ_{i ≤ min(10, n)}
1 / log2(i + 1) over the ideal Σ_{i ≤ min(10, p)} 1 / log2(i + 1), exactly in expectation; every
order has Recall@10 1 where n ≤ 10. This prints those figures over every active investor of every
fold, with no method run, so a target such as 1.25x the best baseline can be set against the
ceiling of 1.0.

    python -m benchmarks.deal_flow_ceiling --protocol yc-2005-2014
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Final

import numpy as np

from matcher.evaluation.deal_flow import active_investors
from matcher.evaluation.harness import load_folds
from models.settings import Settings

K: Final = 10


def _discounts(count: int) -> float:
    return float((1.0 / np.log2(np.arange(2, count + 2))).sum())


def _random_ndcg(ranked: int, backed: int) -> float:
    """A uniformly random order's expected NDCG@K: each place holds a backed startup with p / n."""
    return (backed / ranked) * _discounts(min(K, ranked)) / _discounts(min(K, backed))


def pair_sizes(protocol: str) -> list[tuple[int, int]]:
    """(startups ranked, startups backed) for every active investor of every fold."""
    pairs = []
    for fold in load_folds(protocol, settings=Settings()):
        for investor in active_investors(fold):
            backed = sum(investor in query.truth for query in fold.queries)
            pairs.append((len(fold.queries), backed))
    return pairs


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--protocol", default="yc-2005-2014", help="the founders' protocol seen as deal flow")
    args = parser.parse_args(argv)
    pairs = np.asarray(pair_sizes(args.protocol), dtype=np.float64)
    ranked, backed = pairs[:, 0], pairs[:, 1]
    recall = np.minimum(K, ranked) / ranked
    ndcg = [_random_ndcg(int(n), int(p)) for n, p in zip(ranked, backed, strict=True)]
    print(
        f"{args.protocol}-deal-flow: {len(pairs)} investor-period pairs; startups ranked a pair: mean "
        f"{ranked.mean():.1f}, median {np.median(ranked):.0f}; backed a pair: mean {backed.mean():.2f}, "
        f"one only {np.mean(backed == 1):.3f}; pairs ranking at most {K} startups (Recall@{K} 1 for any "
        f"order): {np.mean(ranked <= K):.3f}; a random order's expected Recall@{K} {recall.mean():.4f}, "
        f"NDCG@{K} {np.mean(ndcg):.4f}"
    )


if __name__ == "__main__":
    main()
