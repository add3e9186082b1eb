"""Candidate signals for a founder's view of investors, tried on rolling validation pools (#16).

The rounds are a protocol's rolling validation folds inside each fold's history (`matcher
evaluate --on validation --sample N`; the test queries are never read). For each round the
default matcher's candidate pool is scored as served: its features and each side's score. The
served top 10 is the pool's order by mutual score (benchmarks/README, "why the cold-start matcher
lost on YC"), so a weight change is measured by re-scoring the pool: each candidate signal takes
a share of the founder's score (the rest scaled down), the two sides are fused again, and the
gain per round over the served order is printed with one standard error, for Recall@10 and
NDCG@10. "alone" orders the pool by the signal (the served score breaking ties).

The signals, each in [0, 1] over the fold's investors, from the deals before the round's cut:

* ``popularity decay D``: deals weighted by exp(-age / D days), over the busiest investor's
  (the recent-popularity baseline at D = 365);
* ``portfolio similarity``: the query's text against the history's backed startups' (TF-IDF, words, or
  character 2-3-grams for Chinese), an investor scoring the recency-weighted similarity of its
  deals among the query's 100 most similar startups (item-based kNN over portfolios);
* ``industry lift``: the investor's share of deals in the query's industries (every taxonomy
  level) over the history's share, pulled towards 1 for small investors, damped by its deals there;
* the matcher's own features with no default weight (``co_investment``, ``activity_90``).

    python -m benchmarks.validation_pools --protocol yc-2005-2014 --sample 400

``--diagnose`` reports instead what the pools hold and what orders them (#16, sixth session): the
share of the truth, of recent popularity's top 10 and of segment popularity's top 20 inside the
pool; each of the matcher's features alone as the pool's order; the founder's view moved onto
recent popularity at a quarter, a half and three quarters; text dropped from both sides; and the
investors recent popularity's top 10 finds that the served top 10 misses, and the reverse.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from threadpoolctl import threadpool_limits

from embeddings.selection import encoder_for
from matcher.collaborative import startup_keys
from matcher.directions import DIRECTIONS
from matcher.evaluation.baselines import BASELINES, FoldHistory
from matcher.evaluation.harness import K, load_folds, validation_folds
from matcher.evaluation.metrics import ndcg_at_k, recall_at_k
from matcher.evaluation.protocol import Fold
from matcher.evaluation.world import INVESTOR, STARTUP, MatcherRecommender, MatcherWorld
from matcher.features import FEATURE_NAMES
from matcher.scoring import fuse
from matcher.text import profile_text
from models.enums import EntityKind
from models.settings import Settings

SHARES: Final = (0.1, 0.2, 0.3)
DECAYS_DAYS: Final = (365, 730)
RECENCY_DAYS: Final = 365.0
PORTFOLIO_PEERS: Final = 100
LIFT_PRIOR_DEALS: Final = 5.0
UNWEIGHTED_FEATURES: Final = ("co_investment", "activity_90")
# --diagnose: the baselines whose top lists the pool should hold (the channel contract names
# segment popularity's top 20), and the founder's shares moved onto recent popularity.
CONTRACT_TOPS: Final = (("recent-popularity", 10), ("segment-popularity", 20))
POPULARITY_SHARES: Final = (0.25, 0.5, 0.75)
TEXT_FEATURES: Final = ("semantic", "lexical")


@dataclass(frozen=True)
class PooledRound:
    """One validation round's pool as served, and each candidate signal over it."""

    pool: list[str]  # investor external ids
    truth: frozenset[str]
    asker: np.ndarray
    candidate: np.ndarray
    mutual: np.ndarray
    signals: dict[str, np.ndarray]
    features: np.ndarray  # the pool's feature rows, FEATURE_NAMES' columns
    baseline_tops: dict[str, list[str]]  # CONTRACT_TOPS' lists over every candidate


class HistorySignals:
    """The candidate signals of one fold: its deals as a backed-startup × investor matrix."""

    def __init__(self, fold: Fold) -> None:
        history = FoldHistory.from_fold(fold)
        self.investors = sorted({i.investor for i in history.investments})
        self.column = {investor: at for at, investor in enumerate(self.investors)}
        startups = sorted({i.startup for i in history.investments})
        row = {startup: at for at, startup in enumerate(startups)}
        age = np.zeros(len(startups))
        cells: dict[tuple[int, int], float] = {}
        for investment in history.investments:
            at = row[investment.startup]
            age[at] = max(age[at], (history.now - investment.occurred_on).days)
            cells[(at, self.column[investment.investor])] = 1.0
        rows, columns = zip(*cells, strict=True) if cells else ((), ())
        self.deals = sp.csr_matrix(
            (np.ones(len(cells)), (rows, columns)), shape=(len(startups), len(self.investors))
        )
        self.age = age
        records = [history.startups.get(startup, {}) for startup in startups]
        texts = [profile_text(EntityKind.startup, record) for record in records]
        chinese = any("\u4e00" <= character <= "\u9fff" for text in texts[:200] for character in text)
        self.vectorizer = TfidfVectorizer(
            sublinear_tf=True,
            analyzer="char_wb" if chinese else "word",
            ngram_range=(2, 3) if chinese else (1, 1),
            stop_words=None if chinese else "english",
            min_df=2,
        ).fit(texts)
        self.texts = self.vectorizer.transform(texts)
        self.industries = [_industry_keys(record) for record in records]
        self.popularity = {decay: _normalised(self.deals.T @ np.exp(-age / decay)) for decay in DECAYS_DAYS}

    def for_query(self, startup: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Every signal over the fold's investors for one query startup."""
        query = self.vectorizer.transform([profile_text(EntityKind.startup, startup)])
        similarity = np.asarray((self.texts @ query.T).todense()).ravel()
        peers = np.argsort(-similarity, kind="stable")[:PORTFOLIO_PEERS]
        weights = np.zeros(len(similarity))
        weights[peers] = similarity[peers] * np.exp(-self.age[peers] / RECENCY_DAYS)
        mine = _industry_keys(startup)
        inside = np.asarray([1.0 if mine & theirs else 0.0 for theirs in self.industries])
        in_segment = np.asarray(self.deals.T @ inside).ravel()
        total = np.asarray(self.deals.sum(axis=0)).ravel()
        base = max(float(inside.mean()), 1e-3)
        lift = (in_segment + LIFT_PRIOR_DEALS * base) / (total + LIFT_PRIOR_DEALS) / base
        return {
            **{f"popularity decay {decay}": values for decay, values in self.popularity.items()},
            "portfolio similarity": _normalised(np.asarray(self.deals.T @ weights)),
            "industry lift": _normalised(lift * (1.0 - 1.0 / (1.0 + np.log1p(in_segment)))),
        }


def _industry_keys(record: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(key for key in startup_keys(record) if key.startswith("industry:"))


def _normalised(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    top = float(values.max()) if len(values) else 0.0
    return values / top if top > 0 else values


def pooled_rounds(fold: Fold, world: MatcherWorld) -> list[PooledRound]:
    """Each of the fold's queries: the default matcher's pool, scored as served, and the signals."""
    recommender = MatcherRecommender(world).fit(fold)
    matcher = recommender.matcher_
    external = {int(r["id"]): str(r["external_id"]) for r in world.catalog.tables[INVESTOR].records}
    signals = HistorySignals(fold)
    baselines = {name: BASELINES[name]().fit(fold) for name, _ in CONTRACT_TOPS}
    found = []
    for query in fold.queries:
        with world.asking(matcher, query) as row_id:
            asked = matcher.asked(STARTUP, row_id, INVESTOR)
            scored = asked.score(asked.pool().tolist())
        pool = [external[int(i)] for i in scored.ids.tolist()]
        columns = np.asarray([signals.column.get(investor, -1) for investor in pool])
        by_investor = signals.for_query(query.startup)
        per_pool = {
            name: np.where(columns >= 0, values[np.maximum(columns, 0)], 0.0)
            if len(values)
            else np.zeros(len(pool))
            for name, values in by_investor.items()
        }
        per_pool |= {name: scored.features[:, FEATURE_NAMES.index(name)] for name in UNWEIGHTED_FEATURES}
        found.append(
            PooledRound(
                pool,
                query.truth,
                scored.asker_scores,
                scored.candidate_scores,
                scored.mutual,
                per_pool,
                scored.features,
                {name: baselines[name].rank(query, depth) for name, depth in CONTRACT_TOPS},
            )
        )
    return found


def _metrics(pool: Sequence[str], scores: np.ndarray, truth: frozenset[str]) -> tuple[float, float]:
    order = np.lexsort((np.arange(len(pool)), -scores))
    ranked = [pool[at] for at in order[:K].tolist()]
    return recall_at_k(ranked, truth, K), ndcg_at_k(ranked, truth, K)


Rescore = Callable[[PooledRound], np.ndarray]


def variants(names: Sequence[str]) -> dict[str, Rescore]:
    """Each signal alone and at each share of the founder's score, fused again as served."""

    def alone(name: str) -> Rescore:
        return lambda r: r.signals[name] + 1e-6 * r.mutual

    def blended(name: str, share: float) -> Rescore:
        return lambda r: fuse((1 - share) * r.asker + share * r.signals[name], r.candidate)

    found: dict[str, Rescore] = {}
    for name in names:
        found[f"{name} alone"] = alone(name)
        found |= {f"{name} at {share}": blended(name, share) for share in SHARES}
    return found


def report(rounds: Sequence[PooledRound]) -> None:
    served = np.asarray([_metrics(r.pool, r.mutual, r.truth) for r in rounds])
    print(
        f"served (matcher-default) over {len(rounds)} rounds: Recall@10 {served[:, 0].mean():.3f}, "
        f"NDCG@10 {served[:, 1].mean():.3f}"
    )
    print("| variant | Recall@10 gain | NDCG@10 gain |\n|---|---|---|")
    for name, rescore in variants(sorted(rounds[0].signals) if rounds else []).items():
        gains = np.asarray([_metrics(r.pool, rescore(r), r.truth) for r in rounds]) - served
        error = gains.std(axis=0, ddof=1) / math.sqrt(len(gains))
        mean = gains.mean(axis=0)
        print(f"| {name} | {mean[0]:+.3f} ± {error[0]:.3f} | {mean[1]:+.3f} ± {error[1]:.3f} |")


def _gains(rounds: Sequence[PooledRound], served: np.ndarray, rescore: Rescore) -> str:
    gains = np.asarray([_metrics(r.pool, rescore(r), r.truth) for r in rounds]) - served
    error = gains.std(axis=0, ddof=1) / math.sqrt(len(gains))
    mean = gains.mean(axis=0)
    return f"{mean[0]:+.3f} ± {error[0]:.3f} | {mean[1]:+.3f} ± {error[1]:.3f}"


def _moved_onto_popularity(share: float) -> Rescore:
    popular = FEATURE_NAMES.index("recent_popularity")
    return lambda r: fuse((1 - share) * r.asker + share * r.features[:, popular], r.candidate)


def _without_text() -> Rescore:
    """Both sides' default weights with the text features dropped and the rest rescaled."""
    direction = DIRECTIONS[(EntityKind.startup, EntityKind.investor)]
    sides = []
    for weights in (direction.asker_weights, direction.candidate_weights):
        kept = {name: weight for name, weight in weights.items() if name not in TEXT_FEATURES}
        sides.append(np.asarray([kept.get(name, 0.0) / sum(kept.values()) for name in FEATURE_NAMES]))
    return lambda r: fuse(r.features @ sides[0], r.features @ sides[1])


def _feature_alone(at: int) -> Rescore:
    return lambda r: r.features[:, at] + 1e-6 * r.mutual


def _pool_contents(rounds: Sequence[PooledRound]) -> None:
    truth = np.mean([len(r.truth & set(r.pool)) / len(r.truth) for r in rounds])
    size = np.mean([len(r.pool) for r in rounds])
    print(f"{len(rounds)} rounds; the pool ({size:.0f} investors) holds {truth:.3f} of the truth")
    for name, depth in CONTRACT_TOPS:
        inside = np.mean([len(set(r.baseline_tops[name]) & set(r.pool)) / depth for r in rounds])
        ranks = -np.arange(K, dtype=float)
        alone = np.asarray([_metrics(r.baseline_tops[name][:K], ranks, r.truth) for r in rounds])
        print(
            f"{name}: its top {depth} in the pool {inside:.4f}; over every candidate "
            f"Recall@10 {alone[:, 0].mean():.3f}, NDCG@10 {alone[:, 1].mean():.3f}"
        )


def _top(r: PooledRound, scores: np.ndarray) -> list[str]:
    return [r.pool[at] for at in np.lexsort((np.arange(len(r.pool)), -scores))[:K].tolist()]


def _swapped(rounds: Sequence[PooledRound]) -> None:
    """Who recent popularity's top 10 finds that the served top 10 misses, and who took the places."""
    missed, entered = Counter[str](), Counter[str]()
    for r in rounds:
        mine, theirs = set(_top(r, r.mutual)), set(r.baseline_tops["recent-popularity"][:K])
        missed.update(i for i in theirs - mine if i in r.truth)
        entered.update(i for i in mine - theirs if i not in r.truth)
    print(f"true, in recent popularity's top 10 only: {sum(missed.values())}, {missed.most_common(5)}")
    print(f"in the served top 10 instead, not true: {sum(entered.values())}, {entered.most_common(5)}")


def diagnose(rounds: Sequence[PooledRound]) -> None:
    """What the pools hold and what orders them (see the module docstring)."""
    _pool_contents(rounds)
    served = np.asarray([_metrics(r.pool, r.mutual, r.truth) for r in rounds])
    print(f"served: Recall@10 {served[:, 0].mean():.3f}, NDCG@10 {served[:, 1].mean():.3f}")
    print("| order of the pool | Recall@10 gain | NDCG@10 gain |\n|---|---|---|")
    for share in POPULARITY_SHARES:
        blend = _moved_onto_popularity(share)
        print(f"| founder's view {share} onto recent popularity | {_gains(rounds, served, blend)} |")
    print(f"| text dropped from both sides | {_gains(rounds, served, _without_text())} |")
    for at, name in enumerate(FEATURE_NAMES):
        if len({round(float(v), 9) for r in rounds for v in r.features[:, at]}) > 1:  # constant: no order
            print(f"| {name} alone | {_gains(rounds, served, _feature_alone(at))} |")
    _swapped(rounds)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--protocol", default="yc-2005-2014")
    parser.add_argument("--sample", type=int, default=400, help="validation rounds, spread over the folds")
    parser.add_argument("--diagnose", action="store_true", help="what the pools hold and what orders them")
    args = parser.parse_args(argv)
    settings = Settings()
    folds = validation_folds(args.protocol, load_folds(args.protocol, settings=settings), sample=args.sample)
    encoder = encoder_for(settings)
    rounds: list[PooledRound] = []
    with tempfile.TemporaryDirectory(prefix="validation-pools-") as scratch, threadpool_limits(limits=1):
        for number, fold in enumerate(f for f in folds if f.queries):
            directory = Path(scratch) / f"fold-{number}"
            directory.mkdir()
            rounds += pooled_rounds(fold, MatcherWorld.build(fold, encoder=encoder, directory=directory))
    (diagnose if args.diagnose else report)(rounds)


if __name__ == "__main__":
    main()
