"""Choose how many startups the investor's deal-history channel brings to its deal-flow pool, on
rolling validation folds inside history (#16).

Each fold's world is built once; every investor active in its query period ranks that period's
startups as the deal-flow page serves them (`<protocol>-deal-flow`), once for each count of
`RetrievalConfig.deal_history_pool` (0 turns the channel off). Printed: the rows over every fold,
then each fold's, so a choice is seen to hold on each cut (创业邦's served inner split and its
earlier cuts) and not on their sum alone.

    python -m benchmarks.deal_flow_share --protocol cyzone-early --sample 1200 --counts 0,25,50,100
    python -m benchmarks.deal_flow_share --protocol crunchbase-2013 --sample 1000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from benchmarks.deal_flow_pool import fold_worlds
from embeddings.selection import encoder_for
from matcher.evaluation.deal_flow import DealFlowAnswers, deal_flow_answers, deal_flow_row
from matcher.evaluation.harness import CURVE_K, DEAL_FLOW, WIDE_K, K, load_folds, validation_folds
from matcher.evaluation.world import RANKING_ONLY, MatcherRecommender
from models.settings import Settings


def table(title: str, found: dict[int, list[DealFlowAnswers]]) -> None:
    print(f"\n{title}\n")
    print("| deal_history_pool | investors | Recall@10 | Recall@50 | NDCG@10 | MRR |")
    print("|---:|---:|---:|---:|---:|---:|")
    for count, answers in found.items():
        row = deal_flow_row(str(count), answers, k=K, wide_k=WIDE_K)
        print(
            f"| {count} | {row.queries} | {row.recall:.4f} | {row.recall_wide or 0.0:.4f} | {row.ndcg:.4f}"
            f" | {row.mrr:.4f} |"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", required=True, help="cyzone-early, crunchbase-2013 or yc-2005-2014")
    parser.add_argument("--sample", type=int, default=None, help="validation queries spread over the folds")
    parser.add_argument("--counts", default="0,25,50,100,150", help="deal_history_pool values, commas")
    args = parser.parse_args(argv)
    settings = Settings()
    protocol = args.protocol.removesuffix(DEAL_FLOW) + DEAL_FLOW
    folds = validation_folds(protocol, load_folds(protocol, settings=settings), sample=args.sample)
    encoder = encoder_for(settings)
    counts = [int(c) for c in args.counts.split(",")]
    found: dict[int, list[DealFlowAnswers]] = {count: [] for count in counts}
    started = time.process_time()
    for fold, world in fold_worlds(folds, encoder):
        for count in counts:
            retrieval = RANKING_ONLY.retrieval.model_copy(update={"deal_history_pool": count})
            config = RANKING_ONLY.model_copy(update={"retrieval": retrieval})
            recommender = MatcherRecommender(world, config=config).fit(fold)
            found[count].append(deal_flow_answers(recommender, fold, depth=CURVE_K))
        print(f"fold {fold.name}: {len(fold.queries)} startups", flush=True)
    table(
        f"{protocol} on rolling validation folds inside history ({len(folds)} folds;"
        f" {time.process_time() - started:.0f} s CPU)",
        found,
    )
    for number, fold in enumerate(folds):
        table(f"fold {fold.name}", {count: [answers[number]] for count, answers in found.items()})


if __name__ == "__main__":
    main()
