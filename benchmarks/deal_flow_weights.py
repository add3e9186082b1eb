"""Choose the investor→startup (deal flow) weights on rolling validation folds inside history.

Each dataset's test fold is replayed inside its own history (`training.rolling_folds`, what
`matcher evaluate --on validation` asks: the test queries are never read); on each rolling
fold every investor active in its query period ranks that period's startups, as the deal-flow
page asks (`<protocol>-deal-flow`). Each variant weighs the investor→startup direction's two
sides differently; the best baselines of the same folds are printed beside them.

    python -m benchmarks.deal_flow_weights --protocol cyzone-early --sample 300
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Mapping
from pathlib import Path

from threadpoolctl import threadpool_limits

from embeddings.selection import encoder_for
from matcher.config import MatcherConfig, SideWeights
from matcher.directions import CANDIDATE_ONLY, DIRECTIONS, moved_onto
from matcher.evaluation.baselines import BASELINES
from matcher.evaluation.deal_flow import DealFlowAnswers, deal_flow_answers, deal_flow_row
from matcher.evaluation.harness import CURVE_K, DEAL_FLOW, WIDE_K, K, load_folds, validation_folds
from matcher.evaluation.world import RANKING_ONLY, MatcherRecommender, MatcherWorld
from models.enums import EntityKind
from models.settings import Settings

INVESTOR_TO_STARTUP = DIRECTIONS[(EntityKind.investor, EntityKind.startup)]
FOUNDER_TO_INVESTOR = DIRECTIONS[(EntityKind.startup, EntityKind.investor)]
HISTORY = ("segment_popularity", "peer_investors", "industry_share", "stage_share", "place_share")
BASELINE_METHODS = ("segment-popularity", "lightfm", "implicit-als", "recent-popularity")


def _normalised(weights: Mapping[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {name: weight / total for name, weight in weights.items() if weight > 0}


def variants() -> dict[str, SideWeights]:
    """The founder's view of an investor turned round (what the investor is to the startup),
    with or without the deal-history features, and the investor's own view of a startup moved
    towards its history there."""
    founder = FOUNDER_TO_INVESTOR.asker_weights
    turned = _normalised({n: w for n, w in founder.items() if n not in CANDIDATE_ONLY})
    without_history = _normalised({n: w for n, w in turned.items() if n not in HISTORY})
    own = dict(FOUNDER_TO_INVESTOR.candidate_weights)  # how an investor judges a startup
    focus = {"industry_share": 0.4, "segment_popularity": 0.3, "peer_investors": 0.3}
    found = {
        "no history (before)": SideWeights(asker=own, candidate=without_history),
        "history, candidate side": SideWeights(asker=own, candidate=turned),
    }
    for share in (0.3, 0.5, 0.7):
        found[f"history, both sides {share:.1f}"] = SideWeights(
            asker=dict(moved_onto(own, share, focus)), candidate=turned
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", required=True, help="cyzone-early, crunchbase-2013 or yc-2005-2014")
    parser.add_argument("--sample", type=int, default=None, help="validation queries spread over the folds")
    args = parser.parse_args()
    settings = Settings()
    protocol = args.protocol.removesuffix(DEAL_FLOW) + DEAL_FLOW
    folds = validation_folds(protocol, load_folds(protocol, settings=settings), sample=args.sample)
    encoder = encoder_for(settings)
    chosen = variants()
    found: dict[str, list[DealFlowAnswers]] = {name: [] for name in (*BASELINE_METHODS, *chosen)}
    with tempfile.TemporaryDirectory(prefix="deal-flow-weights-") as scratch, threadpool_limits(limits=1):
        for number, fold in enumerate(folds):
            for method in BASELINE_METHODS:
                fitted = BASELINES[method]().fit(fold)
                found[method].append(deal_flow_answers(fitted, fold, depth=CURVE_K))
            directory = Path(scratch) / f"fold-{number}"
            directory.mkdir()
            world = MatcherWorld.build(fold, encoder=encoder, directory=directory)
            for name, weights in chosen.items():
                config = MatcherConfig(
                    rerank=RANKING_ONLY.rerank, weights={INVESTOR_TO_STARTUP.name: weights}
                )
                recommender = MatcherRecommender(world, config=config)
                found[name].append(deal_flow_answers(recommender.fit(fold), fold, depth=CURVE_K))
            print(f"fold {fold.name}: {len(fold.queries)} startups", flush=True)
    print(f"\n{protocol} on rolling validation folds inside history ({len(folds)} folds)\n")
    print("| variant | investors | Recall@10 | NDCG@10 | MRR |")
    print("|---|---:|---:|---:|---:|")
    for name, answers in found.items():
        row = deal_flow_row(name, answers, k=K, wide_k=WIDE_K)
        print(f"| {name} | {row.queries} | {row.recall:.4f} | {row.ndcg:.4f} | {row.mrr:.4f} |")
    for name, weights in chosen.items():
        print(f"{name}: asker {_rounded(weights.asker)}; candidate {_rounded(weights.candidate)}")


def _rounded(weights: Mapping[str, float]) -> dict[str, float]:
    return {name: round(weight, 3) for name, weight in weights.items()}


if __name__ == "__main__":
    main()
