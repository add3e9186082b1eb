"""Ranker changes tried by refitting the served average on dumped pools (#16).

A split inside a protocol's history (`matcher train`'s inner split, or the window given by
``--features-until``, ``--validation-from`` and ``--until``) is asked as `train_ranker` asks it:
each round's candidate pool from the default matcher, its features as of the cut, labelled by
the round's truth (a spread ``--train-rounds`` of the training rounds, every validation round).
The pools are dumped once (``--cache``), then the served model (the six-fit average of
`PARAMETER_GRID`) is refitted for each variant on the training rounds and judged on the
validation rounds with a true investor in the pool: the gain per round over the served average,
Recall@10 (of the truth in the pool) and NDCG@10, ± one standard error. The protocol's test
queries are never read.

A sharper judgement, for gains of a few thousandths: several dumped splits (``--cache A B C``,
each its own cut of history; their validation rounds pooled and also shown split by split), and
``--seed-sets K``: the served model and every variant refitted K times with new seeds (seed set
k draws the grid with seeds 2k and 2k + 1; 0 is the served draw) and each round's gain averaged
over the K, so a fit's seed noise, as large as the gains sought on one split, shrinks. The
variant "the served model, other seeds" (the served model drawn with seed sets K to 2K − 1)
measures what is left of that noise: its gain is 0 in expectation. A seed draws the same feature
subsets whatever the data, so its luck lands alike on every split: pooling splits shrinks the
rounds' SE, not the seed's part, which only more seed sets average out (each seed set's pooled
gain is printed; on 创业邦, benchmarks/README "A sharper validation").

The variants:

* candidate features the matcher does not compute, from the deals before the cut (every one
  1 = better, as the monotone fits require): ``industry_recency``, exp(−days since the
  investor's last deal in one of the query's industries / 365); ``industry_activity_365``, its
  deals there in the last year, damped like popularity; ``recent_stage_share``, its share of
  last year's deals at the query's round, pulled towards its share over all its deals;
* a rank fusion of the served average with a feature's own order (segment popularity, recent
  popularity): ``(1 − w) / (RRF_K + rank) + w / (RRF_K + feature's rank)``.

    python -m benchmarks.ranker_refit --protocol cyzone-early --cache /tmp/served.npz --dump-only
    python -m benchmarks.ranker_refit --protocol cyzone-early --features-until 2014-12-30 \\
        --validation-from 2015-07-17 --until 2015-10-14 --cache /tmp/2014b.npz --dump-only
    python -m benchmarks.ranker_refit --cache /tmp/served.npz /tmp/2014b.npz --seed-sets 2 \\
        --variants "the served model, other seeds" "+ industry_recency"
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import math
import tempfile
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from threadpoolctl import threadpool_limits

from embeddings.selection import encoder_for
from matcher.evaluation.baselines import FoldHistory
from matcher.evaluation.harness import load_folds
from matcher.evaluation.protocol import Fold, spread_sample
from matcher.evaluation.training import PARAMETER_GRID, inner_fold, training_pools
from matcher.evaluation.world import MatcherWorld
from matcher.features import FEATURE_NAMES
from matcher.ranker import NDCG_AT, RankerParams, TrainingWindow, lambdarank_booster
from models.settings import Settings
from models.taxonomy import industry_ancestors

CANDIDATE_FEATURES: Final = ("industry_recency", "industry_activity_365", "recent_stage_share")
COLUMNS: Final = (*FEATURE_NAMES, *CANDIDATE_FEATURES)
RECENCY_DAYS: Final = 365.0
RECENT_DAYS: Final = 365
STAGE_PRIOR_DEALS: Final = 2.0
RRF_K: Final = 10.0
FUSED_FEATURES: Final = ("segment_popularity", "recent_popularity")
FUSION_WEIGHTS: Final = (0.1, 0.2, 0.3)


@dataclass(frozen=True)
class Pools:
    """Rows of consecutive rounds' pools (``groups`` rows each, COLUMNS' columns), their labels,
    and whether each round is a training round (else a validation round)."""

    features: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    training: np.ndarray

    def save(self, path: Path) -> None:
        np.savez_compressed(path, **{name: getattr(self, name) for name in self.__dataclass_fields__})

    @classmethod
    def load(cls, path: Path) -> Pools:
        with np.load(path) as stored:
            return cls(**{name: stored[name] for name in cls.__dataclass_fields__})

    def part(self, training: bool) -> Pools:
        starts = np.concatenate([[0], np.cumsum(self.groups)[:-1]])
        chosen = np.flatnonzero(self.training == training)
        rows = np.concatenate([np.arange(starts[g], starts[g] + self.groups[g]) for g in chosen])
        return Pools(self.features[rows], self.labels[rows], self.groups[chosen], self.training[chosen])


class DealProfiles:
    """Each investor's deals before the cut: their age in days, round and industry codes."""

    def __init__(self, history: FoldHistory) -> None:
        deals: defaultdict[str, list[tuple[int, str, frozenset[str]]]] = defaultdict(list)
        for investment in history.investments:
            startup = history.startups.get(investment.startup, {})
            codes = frozenset(key for code in _codes(startup) for key in (code, *industry_ancestors(code)))
            deals[investment.investor].append(
                ((history.now - investment.occurred_on).days, str(startup.get("stage", "")), codes)
            )
        self.deals = dict(deals)

    def columns(self, investors: Sequence[str], startup: Mapping[str, Any]) -> np.ndarray:
        """CANDIDATE_FEATURES of each investor for a query ``startup``."""
        wanted, stage = frozenset(_codes(startup)), str(startup.get("stage", ""))
        found = np.zeros((len(investors), len(CANDIDATE_FEATURES)))
        for at, investor in enumerate(investors):
            deals = self.deals.get(investor, [])
            inside = [age for age, _, codes in deals if wanted & codes]
            if inside:
                found[at, 0] = math.exp(-min(inside) / RECENCY_DAYS)
                found[at, 1] = 1.0 - 1.0 / (1.0 + math.log1p(sum(age < RECENT_DAYS for age in inside)))
            at_stage = sum(s == stage for _, s, _ in deals) / len(deals) if deals else 0.0
            recent = [s for age, s, _ in deals if age < RECENT_DAYS]
            found[at, 2] = (sum(s == stage for s in recent) + STAGE_PRIOR_DEALS * at_stage) / (
                len(recent) + STAGE_PRIOR_DEALS
            )
        return found


def _codes(startup: Mapping[str, Any]) -> list[str]:
    value = startup.get("industries") or []
    return [str(code) for code in (value if isinstance(value, list | tuple) else [value])]


def dump(fold: Fold, window: TrainingWindow | None, protocol: str, train_rounds: int) -> Pools:
    """The inner split's pools as `train_ranker` asks them, with the candidate features."""
    inner, _ = inner_fold(fold, protocol=protocol, window=window)
    training = spread_sample([q for q in inner.queries if q.segment == "train"], train_rounds)
    validation = [q for q in inner.queries if q.segment == "validation"]
    profiles = DealProfiles(FoldHistory.from_fold(inner))
    features, labels, groups, is_training = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="ranker-refit-") as scratch:
        world = MatcherWorld.build(inner, encoder=encoder_for(Settings()), directory=Path(scratch))
        external = {row: investor for investor, row in world.candidate_rows.items()}
        for part, queries in ((True, training), (False, validation)):
            for query, scored, positive in training_pools(world, world.matcher(), queries):
                investors = [external.get(int(row), "") for row in scored.ids.tolist()]
                features.append(np.hstack([scored.features, profiles.columns(investors, query.startup)]))
                labels.append(positive)
                groups.append(len(positive))
                is_training.append(part)
    print(
        f"dumped {len(training)} training and {len(validation)} validation rounds, "
        f"{len(groups)} with a true investor in the pool"
    )
    return Pools(np.vstack(features), np.concatenate(labels), np.asarray(groups), np.asarray(is_training))


# --- refitting -----------------------------------------------------------------------


def seed_set(offset: int) -> tuple[RankerParams, ...]:
    """The served grid's six fits with seeds ``2 × offset`` and ``2 × offset + 1`` (offset 0:
    the served seeds 0 and 1): the same model drawn again."""
    return tuple(dataclasses.replace(params, seed=params.seed + 2 * offset) for params in PARAMETER_GRID)


def averaged(names: Sequence[str], train: Pools, valid: Pools, offset: int = 0) -> np.ndarray:
    """The served model's raw score on the named columns: the mean of the grid's six fits (of
    seed set ``offset``)."""
    columns = [COLUMNS.index(name) for name in names]
    by_fit = [
        lambdarank_booster(
            train.features[:, columns],
            train.labels,
            train.groups.tolist(),
            feature_names=names,
            params=params,
        ).predict(valid.features[:, columns], num_threads=1)
        for params in seed_set(offset)
    ]
    mean: np.ndarray = np.asarray(by_fit, dtype=np.float64).mean(axis=0)
    return mean


def _ranks(scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each row's rank within its group by ``scores`` (0 = best; ties: row order)."""
    ranks, start = np.zeros(len(scores)), 0
    for size in groups.tolist():
        order = np.lexsort((np.arange(size), -scores[start : start + size]))
        ranks[start + order] = np.arange(size)
        start += size
    return ranks


def fused(served: np.ndarray, valid: Pools, feature: str, weight: float) -> np.ndarray:
    """Reciprocal-rank fusion of the served scores with ``feature``'s own order."""
    own = valid.features[:, COLUMNS.index(feature)]
    return (1.0 - weight) / (RRF_K + _ranks(served, valid.groups)) + weight / (
        RRF_K + _ranks(own, valid.groups)
    )


def per_round(scores: np.ndarray, valid: Pools) -> np.ndarray:
    """Recall@10 (of the truth in the pool) and NDCG@10 of each round ordered by ``scores``."""
    found, start = [], 0
    for size in valid.groups.tolist():
        labels = valid.labels[start : start + size]
        top = labels[np.lexsort((np.arange(size), -scores[start : start + size]))[:NDCG_AT]]
        ideal = (1.0 / np.log2(np.arange(2, min(int(labels.sum()), NDCG_AT) + 2))).sum()
        found.append((top.sum() / labels.sum(), (top / np.log2(np.arange(2, len(top) + 2))).sum() / ideal))
        start += size
    return np.asarray(found)


@dataclass(frozen=True)
class Split:
    """One dumped split's training and validation pools."""

    name: str
    train: Pools
    valid: Pools

    @classmethod
    def of(cls, name: str, pools: Pools) -> Split:
        return cls(name, pools.part(training=True), pools.part(training=False))


# A variant's scores of one split's validation rows, refitted with one seed set, given the served
# model's scores of the same seed set (a fusion reorders them; a refit ignores them).
Variant = Callable[[Split, int, np.ndarray], np.ndarray]


def _refit_with(names: Sequence[str]) -> Variant:
    return lambda split, offset, _: averaged(names, split.train, split.valid, offset)


def _fusion(feature: str, weight: float) -> Variant:
    return lambda split, _, served: fused(served, split.valid, feature, weight)


def _other_seeds(seed_sets: int) -> Variant:
    """The served model itself drawn with the next ``seed_sets`` seed sets: how far two equally
    good models differ, the noise floor a variant's gain must clear."""
    return lambda split, offset, _: averaged(FEATURE_NAMES, split.train, split.valid, offset + seed_sets)


def variants(seed_sets: int) -> dict[str, Variant]:
    """Every variant the script can judge, by name (the fusions first: they cost no refit)."""
    found: dict[str, Variant] = {
        f"fused with {feature} at {weight}": _fusion(feature, weight)
        for feature in FUSED_FEATURES
        for weight in FUSION_WEIGHTS
    }
    found["+ all three features"] = _refit_with(COLUMNS)
    for name in CANDIDATE_FEATURES:
        found[f"+ {name}"] = _refit_with((*FEATURE_NAMES, name))
    found[NOISE] = _other_seeds(seed_sets)
    return found


NOISE: Final = "the served model, other seeds"


def gains(split: Split, variant: Variant, served: Sequence[np.ndarray]) -> np.ndarray:
    """Each validation round's Recall@10 and NDCG@10 gain over the served model, for each seed
    set (``served``: the served model's scores for each): shape (seed sets, rounds, 2)."""
    return np.asarray(
        [
            per_round(variant(split, offset, scores), split.valid) - per_round(scores, split.valid)
            for offset, scores in enumerate(served)
        ]
    )


def _cell(found: np.ndarray) -> str:
    """Mean gain per round over the seed sets ± one SE over the rounds, both metrics."""
    rounds = found.mean(axis=0)
    mean, error = rounds.mean(axis=0), rounds.std(axis=0, ddof=1) / math.sqrt(len(rounds))
    return f"{mean[0]:+.4f} ± {error[0]:.4f} | {mean[1]:+.4f} ± {error[1]:.4f}"


def _by_seed_set(found: np.ndarray) -> str:
    """Each seed set's pooled Recall@10 gain, and their SE: the rounds' SE misses what one draw
    of seeds does to every round at once (a seed draws the same feature subsets whatever the
    split, so pooling splits does not average it out; only more seed sets do)."""
    means = found[:, :, 0].mean(axis=1)
    spread = f" (± {means.std(ddof=1) / math.sqrt(len(means)):.4f})" if len(means) > 1 else ""
    return ", ".join(f"{mean:+.4f}" for mean in means) + spread


def report(splits: Sequence[Split], chosen: Sequence[str], seed_sets: int) -> None:
    """Per split and pooled over every split's validation rounds: each chosen variant's mean
    Recall@10 / NDCG@10 gain per round over the served model ± one SE, and each seed set's."""
    served = {}
    for split in splits:
        served[split.name] = [averaged(FEATURE_NAMES, split.train, split.valid, o) for o in range(seed_sets)]
        level = np.mean([per_round(s, split.valid) for s in served[split.name]], axis=0).mean(axis=0)
        print(
            f"{split.name}: {len(split.train.groups)} training and {len(split.valid.groups)} "
            f"validation rounds with a true investor in the pool; served model Recall@10 "
            f"{level[0]:.4f}, NDCG@10 {level[1]:.4f} ({seed_sets} seed set(s))",
            flush=True,
        )
    known = variants(seed_sets)
    names = " | ".join(f"{split.name} R@10 | {split.name} NDCG@10" for split in splits)
    print(f"| variant | pooled R@10 gain | pooled NDCG@10 gain | R@10 by seed set | {names} |")
    print("|---|---|---|---|" + "---|" * (2 * len(splits)))
    for name in chosen:
        each = [gains(split, known[name], served[split.name]) for split in splits]
        pooled = np.concatenate(each, axis=1)
        cells = " | ".join(_cell(found) for found in each)
        print(f"| {name} | {_cell(pooled)} | {_by_seed_set(pooled)} | {cells} |", flush=True)


def add_window_arguments(parser: argparse.ArgumentParser) -> None:
    """A split inside history other than `matcher train`'s inner one."""
    parser.add_argument("--features-until", type=dt.date.fromisoformat, help="else the inner split's cuts")
    parser.add_argument("--validation-from", type=dt.date.fromisoformat)
    parser.add_argument("--until", type=dt.date.fromisoformat)


def window_of(args: argparse.Namespace) -> TrainingWindow | None:
    """The split ``add_window_arguments`` asked for, or None: the inner split's."""
    if args.features_until is None:
        return None
    return TrainingWindow(
        protocol=args.protocol,
        features_until=args.features_until,
        queries_from=args.features_until,
        validation_from=args.validation_from,
        until=args.until,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--protocol", default="cyzone-early")
    parser.add_argument(
        "--train-rounds", type=int, default=1000, help="a spread sample, as `matcher train` takes"
    )
    add_window_arguments(parser)
    parser.add_argument(
        "--cache",
        type=Path,
        nargs="+",
        help=".npz files: the splits to judge, pooled; one missing file is dumped there first",
    )
    parser.add_argument("--dump-only", action="store_true", help="dump the split, judge nothing")
    parser.add_argument(
        "--seed-sets", type=int, default=1, help="refits per model, each with new seeds, gains averaged"
    )
    parser.add_argument(
        "--variants", nargs="+", help=f"the variants to judge (default: all); {NOISE!r} calibrates"
    )
    args = parser.parse_args(argv)
    chosen = args.variants or list(variants(args.seed_sets))
    unknown = set(chosen) - set(variants(args.seed_sets))
    if unknown or args.seed_sets < 1:
        parser.error(f"unknown variants {sorted(unknown)} or seed sets below 1")
    window = window_of(args)
    paths = args.cache or []
    missing = [path for path in paths if not path.exists()]
    if len(missing) > 1:
        parser.error(f"only one split is dumped a run; missing: {missing}")
    with threadpool_limits(limits=1):
        if missing or not paths:
            (fold,) = load_folds(args.protocol)
            pools = dump(fold, window, args.protocol, args.train_rounds)
            if missing:
                pools.save(missing[0])
        splits = [Split.of(path.stem, Pools.load(path)) for path in paths if path.exists()]
        if not paths:
            splits = [Split.of(args.protocol, pools)]
        if not args.dump_only:
            report(splits, chosen, args.seed_sets)


if __name__ == "__main__":
    main()
