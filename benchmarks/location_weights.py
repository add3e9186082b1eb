"""Choose the location features' default weights on a validation split inside cyzone's history.

History before 2015 is the world; the early rounds of 2015 are the queries (the protocol's own
test period, 2018-2019, is never read). Each variant moves a share of the founder's view of an
investor onto the location features (the rest rescaled, so a side still sums to 1); it prints
Recall@10 and NDCG@10 over the queries (a spread sample plus every Wuhan query) and over the
Wuhan ones, beside popularity and segment popularity on the same queries.

    python -m benchmarks.location_weights --sample 400
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from embeddings.selection import encoder_for
from matcher.config import MatcherConfig, SideWeights
from matcher.directions import DIRECTIONS
from matcher.evaluation.baselines import BASELINES, Recommender
from matcher.evaluation.cyzone import (
    CYZONE_SPLIT,
    cyzone_data_dir,
    cyzone_records,
    early_queries,
    history_investor_ids,
    read_cyzone_events,
    read_investor_names,
)
from matcher.evaluation.harness import K, place_segment
from matcher.evaluation.metrics import ndcg_at_k, recall_at_k
from matcher.evaluation.protocol import Fold, spread_sample
from matcher.evaluation.split import TemporalSplit
from matcher.evaluation.world import RANKING_ONLY, MatcherRecommender, MatcherWorld
from models.enums import EntityKind
from models.settings import Settings

VALIDATION = TemporalSplit(history_end=dt.date(2015, 1, 1), test_start=dt.date(2015, 1, 1))
FOUNDER_TO_INVESTOR = DIRECTIONS[(EntityKind.startup, EntityKind.investor)]
# name -> (share moved onto location, how that share splits among the location features)
VARIANTS: dict[str, tuple[float, Mapping[str, float]]] = {
    "no location": (0.0, {}),
    "local_deals 0.10": (0.10, {"local_deals": 1.0}),
    "local_deals 0.20": (0.20, {"local_deals": 1.0}),
    "local_deals 0.30": (0.30, {"local_deals": 1.0}),
    "local mix 0.20": (0.20, {"local_deals": 0.6, "local_share": 0.2, "same_city": 0.2}),
    "local mix 0.30": (0.30, {"local_deals": 0.6, "local_share": 0.2, "same_city": 0.2}),
    "local_deals 0.45": (0.45, {"local_deals": 1.0}),
    "local mix 0.45": (0.45, {"local_deals": 0.6, "local_share": 0.2, "same_city": 0.2}),
    "distance 0.10": (0.10, {"distance": 1.0}),
}


def moved(base: Mapping[str, float], share: float, onto: Mapping[str, float]) -> dict[str, float]:
    weights = {name: weight * (1 - share) for name, weight in base.items()}
    for name, part in onto.items():
        weights[name] = weights.get(name, 0.0) + share * part
    return weights


def reweighted(forward: Mapping[str, float]) -> MatcherConfig:
    """The evaluation's configuration with the founder's view of investors replaced."""
    side = SideWeights(asker=dict(forward), candidate=dict(FOUNDER_TO_INVESTOR.candidate_weights))
    return MatcherConfig.model_validate(
        RANKING_ONLY.model_dump() | {"weights": {FOUNDER_TO_INVESTOR.name: side.model_dump()}}
    )


def validation_fold(sample: int | None) -> Fold:
    data_dir = cyzone_data_dir(Settings())
    events = [e for e in read_cyzone_events(data_dir) if e.occurred_on < CYZONE_SPLIT.history_end]
    queries = early_queries(events, VALIDATION)
    # Every Wuhan query, beside the spread sample: they are few, and the weights are for them.
    sampled = {q.event_id for q in spread_sample(queries, sample)}
    return Fold(
        name="cyzone-validation-2015",
        records=cyzone_records(
            events, until=VALIDATION.history_end, investor_names=read_investor_names(data_dir)
        ),
        queries=[q for q in queries if q.event_id in sampled or place_segment(q) == "wuhan"],
        candidates=history_investor_ids(events, VALIDATION.history_end),
        history_end=VALIDATION.history_end,
    )


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def measure(name: str, recommender: Recommender, fold: Fold) -> None:
    recalls: dict[str, list[float]] = {"all": [], "wuhan": []}
    ndcgs: dict[str, list[float]] = {"all": [], "wuhan": []}
    for query in fold.queries:
        ranked = recommender.rank(query, K)
        for group in ("all", place_segment(query)):
            if group in recalls:
                recalls[group].append(recall_at_k(ranked, query.truth, K))
                ndcgs[group].append(ndcg_at_k(ranked, query.truth, K))
    cells = [f"{_mean(recalls[g]):.4f} | {_mean(ndcgs[g]):.4f}" for g in ("all", "wuhan")]
    print(f"| {name} | {' | '.join(cells)} |", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=None, help="validation queries, spread over 2015")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), help="variant names to run")
    args = parser.parse_args(argv)
    fold = validation_fold(args.sample)
    wuhan = sum(1 for q in fold.queries if place_segment(q) == "wuhan")
    print(f"validation: {len(fold.queries)} queries ({wuhan} in Wuhan), {len(fold.candidates)} investors")
    print("| method | R@10 | NDCG@10 | Wuhan R@10 | Wuhan NDCG@10 |\n|---|---|---|---|---|")
    for baseline in ("popularity", "segment-popularity"):
        measure(baseline, BASELINES[baseline]().fit(fold), fold)
    with threadpool_limits(limits=1), tempfile.TemporaryDirectory(prefix="location-weights-") as scratch:
        world = MatcherWorld.build(fold, encoder=encoder_for(Settings()), directory=Path(scratch))
        for name in args.variants:
            share, onto = VARIANTS[name]
            forward = moved(FOUNDER_TO_INVESTOR.asker_weights, share, onto)
            recommender = MatcherRecommender(world, config=reweighted(forward))
            measure(f"matcher, {name}", recommender.fit(fold), fold)


if __name__ == "__main__":
    main()
