"""Training the learned ranker on a fold's history alone, validated on a time split inside it.

The history is cut twice: events before ``features_until`` are what the engine knows (its
graph, popularity and recency); the rounds from then to ``validation_from`` are training
queries, and the rounds after that, up to the end of history, validation queries. Each query
startup enters the engine as a new profile, exactly as in the protocols. Positives are the
investors who really backed the round; negatives are eligible investors who did not: some
drawn from the engine's own top 100 (what the ranker will have to order; negatives from the
very top alone taught it that graph proximity hardly matters) and a few drawn at random.
Nothing of the fold's test period is read.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from tqdm import tqdm

from embeddings.encoder import Encoder
from matcher.directions import direction_for
from matcher.eligibility import eligible
from matcher.engine import Matcher
from matcher.evaluation.baselines import FoldHistory, as_day
from matcher.evaluation.metrics import pairwise_auc, recall_at_k
from matcher.evaluation.protocol import Fold, Query, spread_sample
from matcher.evaluation.world import EngineWorld
from matcher.features import FEATURE_NAMES
from matcher.ranker import LearnedRanker, RankerModel, TrainingWindow, fit_trees
from models.enums import EntityKind

__all__ = ["TrainedRanker", "inner_fold", "train_ranker"]

STARTUP: Final = EntityKind.startup
INVESTOR: Final = EntityKind.investor
# Negatives from the engine's own list come from this many of its best.
POOL_NEGATIVES_FROM: Final = 100


@dataclass(frozen=True)
class TrainedRanker:
    model: RankerModel
    window: TrainingWindow
    metrics: dict[str, float]


def _quantile_day(days: Sequence[dt.date], share: float) -> dt.date:
    return sorted(days)[min(int(share * len(days)), len(days) - 1)]


def inner_fold(
    fold: Fold, *, protocol: str = "", features_share: float = 0.7, validation_share: float = 0.85
) -> tuple[Fold, TrainingWindow]:
    """The fold's history split in time: an older history and the rounds after it as queries,
    segmented ``train`` / ``validation`` (cut at the given shares of investments by date)."""
    history = FoldHistory.from_fold(fold)
    days = [i.occurred_on for i in history.investments]
    if len(days) < 10:
        raise ValueError(f"fold {fold.name}: too few dated investments in history to train a ranker")
    window = TrainingWindow(
        protocol=protocol or fold.name,
        features_until=_quantile_day(days, features_share),
        queries_from=_quantile_day(days, features_share),
        validation_from=_quantile_day(days, validation_share),
        until=history.now,
    )
    interactions = [
        r for r in fold.records.get("interactions", ()) if as_day(r["occurred_at"]) < window.features_until
    ]
    known = {str(r[side]) for r in interactions for side in ("actor_external_id", "target_external_id")}
    later = {i.startup for i in history.investments if i.occurred_on >= window.features_until}
    records: dict[str, list[Mapping[str, Any]]] = {
        slug: [r for r in rows if slug not in ("startups", "investors") or _keep(slug, r, known, later)]
        for slug, rows in fold.records.items()
        if slug != "interactions"
    }
    records["interactions"] = interactions
    candidates = frozenset(str(r["external_id"]) for r in records.get("investors", ())) & fold.candidates
    queries = _round_queries(history, window, candidates)
    return (
        Fold(
            name=f"{fold.name}/inner",
            records=records,
            queries=queries,
            candidates=candidates,
            history_end=window.features_until,
        ),
        window,
    )


def _keep(slug: str, record: Mapping[str, Any], known: set[str], later: set[str]) -> bool:
    """Investors active before the cut; startups not first seen after it."""
    external_id = str(record["external_id"])
    if slug == "investors":
        return external_id in known
    return external_id in known or external_id not in later


def _round_queries(history: FoldHistory, window: TrainingWindow, candidates: frozenset[str]) -> list[Query]:
    rounds: defaultdict[tuple[str, dt.date], set[str]] = defaultdict(set)
    for investment in history.investments:
        if window.features_until <= investment.occurred_on:
            rounds[(investment.startup, investment.occurred_on)].add(investment.investor)
    queries = []
    for (startup, day), investors in sorted(rounds.items(), key=lambda item: (item[0][1], item[0][0])):
        truth = frozenset(investors) & candidates
        record = history.startups.get(startup)
        if not truth or record is None:
            continue
        query_id = f"{startup}:{day:%Y%m%d}"[-64:]
        queries.append(
            Query(
                event_id=query_id,
                startup={k: v for k, v in record.items() if k != "team"} | {"external_id": query_id},
                truth=truth,
                occurred_on=day,
                segment="train" if day < window.validation_from else "validation",
            )
        )
    return queries


def train_ranker(
    fold: Fold,
    *,
    encoder: Encoder,
    directory: Path,
    protocol: str = "",
    max_queries: int = 1000,
    hard_negatives: int = 30,
    random_negatives: int = 10,
    seed: int = 0,
    show_progress: bool = False,
) -> TrainedRanker:
    """Fit the ranker on the inner split of ``fold`` and measure it on the validation rounds."""
    inner, window = inner_fold(fold, protocol=protocol)
    scratch = directory / f"ranker-{fold.name.replace('/', '-')}"
    scratch.mkdir(parents=True, exist_ok=True)
    world = EngineWorld.build(inner, encoder=encoder, directory=scratch, show_progress=show_progress)
    default = world.matcher()
    rng = np.random.default_rng(seed)
    by_segment = {s: [q for q in inner.queries if q.segment == s] for s in ("train", "validation")}
    sampled = {
        s: spread_sample(qs, max_queries if s == "train" else max_queries // 4)
        for s, qs in by_segment.items()
    }
    examples = {
        segment: _examples(
            world, default, queries, rng, hard_negatives, random_negatives, show_progress, segment
        )
        for segment, queries in sampled.items()
    }
    (train_x, train_y, _), (valid_x, valid_y, valid_default) = examples["train"], examples["validation"]
    model = fit_trees(train_x, train_y)
    ranker = LearnedRanker(model)
    metrics = {
        "train_queries": float(len(sampled["train"])),
        "validation_queries": float(len(sampled["validation"])),
        "train_examples": float(len(train_y)),
    }
    if len(set(valid_y.tolist())) == 2:
        learned = ranker.probability(valid_x)
        metrics["validation_auc_ranker"] = pairwise_auc(learned[valid_y == 1], learned[valid_y == 0])
        metrics["validation_auc_default"] = pairwise_auc(
            valid_default[valid_y == 1], valid_default[valid_y == 0]
        )
    if sampled["validation"]:
        metrics["validation_recall10_default"] = _recall(world, default, sampled["validation"])
        metrics["validation_recall10_ranker"] = _recall(
            world, world.matcher(scorer=ranker), sampled["validation"]
        )
    return TrainedRanker(model, window, metrics)


def _examples(
    world: EngineWorld,
    matcher: Matcher,
    queries: Iterable[Query],
    rng: np.random.Generator,
    hard: int,
    random: int,
    show_progress: bool,
    label: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature rows, labels and the default engine's mutual scores of positives and negatives."""
    rows: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    defaults: list[np.ndarray] = []
    investors = world.catalog.tables[INVESTOR]
    rules = direction_for(STARTUP, INVESTOR).rules
    for query in tqdm(
        queries, desc=f"ranker {label} examples", unit="query", delay=1.0, disable=not show_progress
    ):
        positives = [world.candidate_rows[c] for c in sorted(query.truth)]
        with world.asking(matcher, query) as row_id:
            chosen = set(positives)
            top = [
                m.id
                for m in matcher.recommend(STARTUP, row_id, INVESTOR, k=POOL_NEGATIVES_FROM)
                if m.id not in chosen
            ]
            mask = eligible(STARTUP, matcher.catalog_.tables[STARTUP].record(row_id), investors, rules)
            pool = [int(i) for i in investors.ids[mask] if int(i) not in chosen and int(i) not in top]
            negatives = _pick(top, hard, rng) + _pick(pool, random, rng)
            scored = matcher.score(STARTUP, row_id, INVESTOR, positives + negatives)
        truth = np.isin(scored.ids, positives)
        rows.append(scored.features)
        labels.append(truth.astype(np.int64))
        defaults.append(scored.mutual)
    if not rows:
        return np.zeros((0, len(FEATURE_NAMES))), np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.vstack(rows), np.concatenate(labels), np.concatenate(defaults)


def _pick(items: Sequence[int], count: int, rng: np.random.Generator) -> list[int]:
    if len(items) <= count:
        return list(items)
    return [items[int(i)] for i in rng.choice(len(items), size=count, replace=False)]


def _recall(world: EngineWorld, matcher: Matcher, queries: Sequence[Query]) -> float:
    found = []
    for query in queries:
        with world.asking(matcher, query) as row_id:
            ranked = [m.external_id for m in matcher.recommend(STARTUP, row_id, INVESTOR, k=10)]
        found.append(recall_at_k(ranked, query.truth, 10))
    return float(np.mean(found))
