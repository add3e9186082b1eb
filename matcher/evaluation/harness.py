"""Run a protocol end to end: folds → every method fitted on history → metrics per method.

For each fold the matcher's world is built once (a fresh SQLite database in a temporary
folder, filled through the bulk-import path); every method then answers every query, and
Recall@10, Recall@50, NDCG@10, MRR, coverage and exposure Gini over the top 10 and AUC (one
sampled negative per positive, the same negatives for every method, seeded) are computed
over all folds' queries together, and again per segment when a protocol has several, and per
place (Wuhan or elsewhere) when any query's startup is in Wuhan.
"""

from __future__ import annotations

import dataclasses
import importlib
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from embeddings.encoder import Encoder
from embeddings.selection import encoder_for
from matcher.config import MatcherConfig, RetrievalConfig
from matcher.evaluation.baselines import BASELINES, Recommender
from matcher.evaluation.deal_flow import DealFlowAnswers, deal_flow_answers, deal_flow_row
from matcher.evaluation.demo_protocol import demo_folds
from matcher.evaluation.metrics import (
    MetricRow,
    MetricTable,
    pairwise_auc,
    recall_curve,
    sample_negatives,
    summarize,
)
from matcher.evaluation.protocol import Fold, Query, spread_sample
from matcher.evaluation.training import TrainedRanker, rolling_folds, train_ranker
from matcher.evaluation.world import RANKING_ONLY, MatcherRecommender, MatcherWorld
from matcher.geography import GEOGRAPHY_FEATURES
from matcher.ranker import LearnedRanker
from matcher.scoring import WeightedScorer
from models.settings import Settings

__all__ = [
    "DEFAULT_METHODS",
    "METHODS",
    "PROTOCOLS",
    "FoldMethodAnswers",
    "FoldSession",
    "ProtocolResult",
    "auc_negatives",
    "evaluate_folds",
    "load_folds",
    "place_segment",
    "run_protocol",
    "validation_folds",
    "without_known",
]

K: Final = 10
WIDE_K: Final = 50
CURVE_K: Final = 100
AUC_SEED: Final = 20_260_101
# Where a run asks its queries: the protocol's test period, or rolling folds inside its history.
Split = Literal["test", "validation"]
WUHAN: Final = "wuhan"
ELSEWHERE: Final = "elsewhere"

_FOUNDER_PROTOCOLS: Final[dict[str, str]] = {
    "cyzone-early": "创业邦 early rounds: history before 2016, seed to A+ rounds of 2018-2019 as queries",
    "crunchbase-2013": "Crunchbase: edges before 2012 as history, each later round a query (cold, warm-new)",
    "yc-2005-2014": "Y Combinator 2005-2014: investors ranked from the description, leave-one-batch-out",
    "demo": "the generated demo ecosystem (seed 42): history before 2026, later investments as queries",
}
# "<protocol>-deal-flow": the same folds seen from the investor's side (matcher/evaluation/deal_flow.py).
DEAL_FLOW: Final = "-deal-flow"
PROTOCOLS: Final[dict[str, str]] = _FOUNDER_PROTOCOLS | {
    f"{name}{DEAL_FLOW}": f"{name} seen by investors: each active in the test period ranks its startups"
    for name in _FOUNDER_PROTOCOLS
}
# protocol → (module, function, dataset folder under the shared data directory); imported
# only when asked for, so a protocol whose loader is missing never breaks the others.
_LOADERS: Final[dict[str, tuple[str, str, str]]] = {
    "cyzone-early": ("matcher.evaluation.cyzone", "cyzone_folds", "china-cyzone-investment-events"),
    "crunchbase-2013": ("matcher.evaluation.crunchbase", "crunchbase_folds", "crunchbase-2013"),
    "yc-2005-2014": ("matcher.evaluation.yc", "yc_folds", "yc-companies"),
}

MATCHER: Final = "matcher"
MATCHER_DEFAULT: Final = "matcher-default"
MATCHER_RANKER: Final = "matcher+ranker"
GRAPH_FEATURES: Final = frozenset({"graph_proximity", "graph_overlap"})
TEXT_FEATURES: Final = frozenset({"semantic", "lexical"})

METHODS: Final[dict[str, str]] = {
    "random": "a seeded shuffle",
    "popularity": "investments per investor in history",
    "recent-popularity": "investments weighted by exp(-age / 365 days)",
    "segment-popularity": "recent popularity within the query's industries and round, blended with overall",
    "lightfm": "LightFM hybrid (WARP; startup features: industries, stage, district)",
    "implicit-als": "implicit ALS; a new startup folded in from its industry and round's deals",
    MATCHER: "our matcher as served: the ranker `matcher train` fits inside history where it beat the "
    "default weights on the validation rounds, else the default weights",
    MATCHER_DEFAULT: "our matcher with the hand-set default weights (a cold start, before `matcher train`)",
    MATCHER_RANKER: "our matcher with the learned ranker, even where it lost on the validation rounds",
    "matcher-no-graph": "ablation: no graph walk or graph features",
    "matcher-no-text": "ablation: no semantic or lexical features (peers still found by text)",
    "matcher-no-location": "ablation: no geography features (local deals, same city or province, distance)",
    "matcher-one-sided": "ablation: the asker's score only, no two-sided fusion",
    "matcher-rerank": "our matcher with the serving defaults' MMR diversity (0.8) and exposure cap (0.2)",
}
DEFAULT_METHODS: Final = tuple(METHODS)
NO_GRAPH_SEEDS: Final = RANKING_ONLY.model_copy(update={"retrieval": RetrievalConfig(peer_count=0)})
ONE_SIDED: Final = RANKING_ONLY.model_copy(update={"fusion": "asker"})


@dataclass
class ProtocolResult:
    """Metrics of every method on one protocol.

    ``table`` has one row per method over all queries, then (when the protocol has several
    segments) one row per method and segment, named ``method [segment]``; ``recall_curve``
    is mean Recall@K for K = 1..100 per method; ``exposure`` counts, per method, how many
    top-10 lists each candidate appeared in.
    """

    protocol: str
    table: MetricTable
    recall_curve: dict[str, list[float]]
    exposure: dict[str, dict[str, int]]
    ranker_metrics: dict[str, float] = field(default_factory=dict)


def load_folds(
    protocol_id: str, *, settings: Settings | None = None, sample: int | None = None
) -> list[Fold]:
    protocol_id = protocol_id.removesuffix(DEAL_FLOW)
    if protocol_id == "demo":  # generated, not read from the shared data
        return demo_folds(settings, sample=sample)
    if protocol_id not in _LOADERS:
        raise ValueError(f"protocol: unknown '{protocol_id}'; known: {', '.join(PROTOCOLS)}")
    module_name, function_name, folder = _LOADERS[protocol_id]
    try:
        loader: Callable[..., list[Fold]] = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"protocol: '{protocol_id}' has no loader yet ({error})") from None
    data_dir = (settings or Settings()).shared_data_dir / folder
    if not data_dir.is_dir():
        raise ValueError(f"protocol: the dataset folder {data_dir} does not exist (set MATCHER_SHARED_DATA)")
    return loader(data_dir, sample=sample)


def run_protocol(
    protocol_id: str,
    *,
    settings: Settings | None = None,
    sample: int | None = None,
    methods: Sequence[str] | None = None,
    show_progress: bool = False,
    on: Split = "test",
    workers: int | None = None,
) -> ProtocolResult:
    """Load the protocol's folds (``sample`` queries when given) and evaluate ``methods``
    (all of :data:`METHODS` by default), on the test queries or, with ``on="validation"``, on
    rolling validation folds inside each fold's history (`training.rolling_folds`: the test
    queries are never read, so weights and thresholds may be chosen there); as Ray tasks on
    ``workers`` when given."""
    settings = settings or Settings()
    if on == "validation":
        folds = validation_folds(protocol_id, load_folds(protocol_id, settings=settings), sample=sample)
    else:
        folds = load_folds(protocol_id, settings=settings, sample=sample)
    return evaluate_folds(
        protocol_id, folds, settings=settings, methods=methods, show_progress=show_progress, workers=workers
    )


def validation_folds(protocol_id: str, folds: Sequence[Fold], *, sample: int | None = None) -> list[Fold]:
    """Every fold's rolling validation folds, ``sample`` queries spread over them all when given."""
    rolling = [r for fold in folds for r in rolling_folds(fold, protocol=protocol_id.removesuffix(DEAL_FLOW))]
    if sample is None:
        return rolling
    share = sample / max(sum(len(r.queries) for r in rolling), 1)
    return [
        dataclasses.replace(r, queries=spread_sample(r.queries, max(1, round(share * len(r.queries)))))
        for r in rolling
    ]


@dataclass
class _Answers:
    """What one method answered, over every fold's queries."""

    rankings: list[list[str]] = field(default_factory=list)
    truths: list[frozenset[str]] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    positive_scores: list[float] = field(default_factory=list)
    negative_scores: list[float] = field(default_factory=list)
    segment_scores: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    place_scores: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)

    def extend(self, other: _Answers) -> None:
        """Append ``other``'s answers after these (a later fold's)."""
        self.rankings += other.rankings
        self.truths += other.truths
        self.segments += other.segments
        self.places += other.places
        self.positive_scores += other.positive_scores
        self.negative_scores += other.negative_scores
        for mine, theirs in (
            (self.segment_scores, other.segment_scores),
            (self.place_scores, other.place_scores),
        ):
            for label, (positive, negative) in theirs.items():
                pooled = mine.setdefault(label, ([], []))
                pooled[0].extend(positive)
                pooled[1].extend(negative)


def evaluate_folds(
    protocol_id: str,
    folds: Sequence[Fold],
    *,
    settings: Settings | None = None,
    methods: Sequence[str] | None = None,
    show_progress: bool = False,
    encoder: Encoder | None = None,
    workers: int | None = None,
) -> ProtocolResult:
    """Evaluate ``methods`` on ``folds``; ``encoder`` replaces the one the settings name.

    With ``workers``, every fold and method is a Ray task on that many workers
    (:mod:`matcher.evaluation.parallel`), with the same result.
    """
    settings = settings or Settings()
    chosen = list(methods or DEFAULT_METHODS)
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise ValueError(f"methods: unknown {unknown}; known: {', '.join(METHODS)}")
    deal_flow = protocol_id.endswith(DEAL_FLOW)
    if workers is not None:
        from matcher.evaluation.parallel import answer_in_parallel

        answered = answer_in_parallel(
            folds, chosen, settings=settings, encoder=encoder, deal_flow=deal_flow, workers=workers
        )
    else:
        answered = _answer_in_turn(folds, chosen, settings, encoder, deal_flow, show_progress)
    return _result(protocol_id, folds, chosen, answered, deal_flow)


@dataclass
class FoldMethodAnswers:
    """What one method answered on one fold, and its trained ranker's metrics."""

    answers: _Answers | DealFlowAnswers
    ranker_metrics: dict[str, float]


def _answer_in_turn(
    folds: Sequence[Fold],
    chosen: Sequence[str],
    settings: Settings,
    encoder: Encoder | None,
    deal_flow: bool,
    show_progress: bool,
) -> list[list[FoldMethodAnswers]]:
    """Per fold, per method (in ``chosen``'s order), what it answered."""
    answered = []
    with tempfile.TemporaryDirectory(prefix="matcher-eval-") as scratch:
        for number, fold in enumerate(folds):
            session = FoldSession(fold, number, settings, encoder, Path(scratch), show_progress)
            answered.append([session.answer(method, deal_flow=deal_flow) for method in chosen])
    return answered


class FoldSession:
    """One fold's matcher world (built on first need) and trained ranker, answering its methods."""

    def __init__(
        self,
        fold: Fold,
        number: int,
        settings: Settings,
        encoder: Encoder | None,
        scratch: Path,
        show_progress: bool,
    ) -> None:
        self.fold, self.number, self.settings, self.encoder = fold, number, settings, encoder
        self.scratch, self.show_progress = scratch, show_progress
        self.negatives = auc_negatives(fold)
        self._world: MatcherWorld | None = None
        self._trained: TrainedRanker | None = None
        self._training_failed = ""
        # What each matcher variant answered: `matcher` served with the default weights is
        # `matcher-default`, and the one asked second reuses the first's answers.
        self._answered: dict[str, _Answers | DealFlowAnswers] = {}

    def world(self) -> MatcherWorld:
        if self._world is None:
            directory = self.scratch / f"fold-{self.number}"
            directory.mkdir()
            self._world = MatcherWorld.build(
                self.fold,
                encoder=self.encoder or encoder_for(self.settings),
                directory=directory,
                show_progress=self.show_progress,
            )
        return self._world

    def trained_ranker(self) -> TrainedRanker | None:
        """The fold's ranker, trained once (as `matcher train` would) for every method that needs
        it; None when the history is too thin to train on (a deployment keeps the default weights)."""
        if self._trained is None and not self._training_failed:
            try:
                self._trained = train_ranker(
                    self.fold,
                    encoder=self.world().encoder,
                    directory=self.scratch,
                    show_progress=self.show_progress,
                )
            except ValueError as error:
                self._training_failed = str(error)
        return self._trained

    def answer(self, method: str, *, deal_flow: bool) -> FoldMethodAnswers:
        # The matcher's vectors are small: BLAS threads only contend with each other (and with
        # whatever else runs on the machine), so one thread is several times faster here.
        with threadpool_limits(limits=1):
            world = None if _is_baseline(method) else self.world()
            recommender, metrics, variant = _recommender(
                method, world, self.trained_ranker, deal_flow=deal_flow
            )
            if variant not in self._answered:
                self._answered[variant] = self._answers(recommender, method, deal_flow=deal_flow)
            return FoldMethodAnswers(self._answered[variant], metrics)

    def _answers(
        self, recommender: Recommender, method: str, *, deal_flow: bool
    ) -> _Answers | DealFlowAnswers:
        label = f"{method} · {self.fold.name}"
        fitted = recommender.fit(self.fold)
        if deal_flow:
            return deal_flow_answers(
                fitted, self.fold, depth=CURVE_K, label=label, show_progress=self.show_progress
            )
        into = _Answers()
        _answer(fitted, self.fold, self.negatives, into, label, self.show_progress)
        return into


def _result(
    protocol_id: str,
    folds: Sequence[Fold],
    chosen: Sequence[str],
    answered: Sequence[Sequence[FoldMethodAnswers]],
    deal_flow: bool,
) -> ProtocolResult:
    ranker_metrics: dict[str, float] = {}
    for fold, per_method in zip(folds, answered, strict=True):
        for found in per_method:
            ranker_metrics |= {f"{fold.name}/{name}": value for name, value in found.ranker_metrics.items()}
    if deal_flow:
        flows: dict[str, list[DealFlowAnswers]] = {method: [] for method in chosen}
        for per_method in answered:
            for method, found in zip(chosen, per_method, strict=True):
                assert isinstance(found.answers, DealFlowAnswers)  # a deal-flow protocol
                flows[method].append(found.answers)
        return _deal_flow_result(protocol_id, flows, ranker_metrics)
    answers = {method: _Answers() for method in chosen}
    for per_method in answered:
        for method, found in zip(chosen, per_method, strict=True):
            assert isinstance(found.answers, _Answers)  # not a deal-flow protocol
            answers[method].extend(found.answers)
    catalogue = frozenset().union(*(fold.candidates for fold in folds))
    return ProtocolResult(
        protocol=protocol_id,
        table=_table(answers, catalogue),
        recall_curve={m: _recall_curve(a) for m, a in answers.items()},
        exposure={m: _exposure(a) for m, a in answers.items()},
        ranker_metrics=ranker_metrics,
    )


def _deal_flow_result(
    protocol_id: str, flows: dict[str, list[DealFlowAnswers]], ranker_metrics: dict[str, float]
) -> ProtocolResult:
    rows = tuple(deal_flow_row(method, found, k=K, wide_k=WIDE_K) for method, found in flows.items())
    seen = {
        method: _Answers(
            rankings=[r for a in found for r in a.rankings], truths=[t for a in found for t in a.truths]
        )
        for method, found in flows.items()
    }
    return ProtocolResult(
        protocol=protocol_id,
        table=MetricTable(k=K, wide_k=WIDE_K, rows=rows),
        recall_curve={m: _recall_curve(a) for m, a in seen.items()},
        exposure={m: _exposure(a) for m, a in seen.items()},
        ranker_metrics=ranker_metrics,
    )


def _is_baseline(method: str) -> bool:
    return method in BASELINES


def _recommender(
    method: str,
    world: MatcherWorld | None,
    trained_ranker: Callable[[], TrainedRanker | None],
    *,
    deal_flow: bool = False,
) -> tuple[Recommender, dict[str, float], str]:
    """The method's recommender, its trained ranker's metrics, and which variant of it answers
    (methods naming the same variant answer alike: `matcher` is `matcher-default` where the
    default weights are served, and on deal flow everywhere: the ranker scores founders' lists
    only, `matcher.ranker.RANKED_DIRECTION`, so no ranker is trained for it)."""
    if _is_baseline(method):
        return BASELINES[method](), {}, method
    assert world is not None  # built whenever a matcher method is asked for
    if method == MATCHER_DEFAULT or (deal_flow and method == MATCHER):
        return MatcherRecommender(world), {}, MATCHER_DEFAULT
    if method in (MATCHER, MATCHER_RANKER):
        trained = trained_ranker()
        if trained is None or (method == MATCHER and not trained.beats_default):
            return MatcherRecommender(world), ({} if trained is None else trained.metrics), MATCHER_DEFAULT
        return MatcherRecommender(world, scorer=LearnedRanker(trained.model)), trained.metrics, MATCHER_RANKER
    if method == "matcher-no-graph":
        return (
            MatcherRecommender(world, scorer=WeightedScorer(without=GRAPH_FEATURES), config=NO_GRAPH_SEEDS),
            {},
            method,
        )
    if method == "matcher-no-location":
        return (
            MatcherRecommender(world, scorer=WeightedScorer(without=frozenset(GEOGRAPHY_FEATURES))),
            {},
            method,
        )
    if method == "matcher-no-text":
        return MatcherRecommender(world, scorer=WeightedScorer(without=TEXT_FEATURES)), {}, method
    if method == "matcher-one-sided":
        return MatcherRecommender(world, config=ONE_SIDED), {}, method
    if method == "matcher-rerank":
        return MatcherRecommender(world, config=MatcherConfig()), {}, method
    raise ValueError(f"methods: unknown '{method}'")


def auc_negatives(fold: Fold) -> dict[str, list[str]]:
    """One sampled non-chosen candidate per positive, per query: the same for every method."""
    rng = np.random.default_rng(AUC_SEED)
    candidates = sorted(fold.candidates)
    return {q.event_id: sample_negatives(candidates, q.truth, rng) for q in fold.queries}


def _answer(
    recommender: Recommender,
    fold: Fold,
    negatives: dict[str, list[str]],
    into: _Answers,
    label: str,
    show_progress: bool,
) -> None:
    queries: Iterable[Query] = fold.queries
    if show_progress:
        queries = tqdm(fold.queries, desc=label, unit="query", delay=1.0)
    for query in queries:
        positives = sorted(query.truth)
        ranking, scores = _rank_and_score(recommender, query, positives + negatives[query.event_id])
        into.rankings.append(ranking)
        into.truths.append(query.truth)
        into.segments.append(query.segment)
        into.places.append(place_segment(query))
        positive, negative = scores[: len(positives)].tolist(), scores[len(positives) :].tolist()
        into.positive_scores += positive
        into.negative_scores += negative
        for pooled in (
            into.segment_scores.setdefault(query.segment, ([], [])),
            into.place_scores.setdefault(into.places[-1], ([], [])),
        ):
            pooled[0].extend(positive)
            pooled[1].extend(negative)


def _rank_and_score(
    recommender: Recommender, query: Query, candidates: Sequence[str]
) -> tuple[list[str], np.ndarray]:
    """The query's top :data:`CURVE_K` (its known investors left out) and the scores of
    ``candidates``; our matcher answers both with the query entered once (the same answers, in a
    fraction of the time)."""
    depth = CURVE_K + len(query.known)
    if isinstance(recommender, MatcherRecommender):
        ranking, scores = recommender.rank_and_score(query, depth, candidates)
    else:
        ranking, scores = recommender.rank(query, depth), recommender.scores(query, candidates)
    return without_known(ranking, query)[:CURVE_K], scores


def without_known(ranking: Sequence[str], query: Query) -> list[str]:
    """``ranking`` without the investors the query's startup already has: a founder's profile holds
    them and the product never offers them again (`Catalog.excluded`), so no method spends a
    place on them (the truth leaves them out)."""
    return [candidate for candidate in ranking if candidate not in query.known]


def place_segment(query: Query) -> str:
    """``wuhan`` for a query whose startup is in Wuhan, else ``elsewhere``: the programme's city
    is reported on its own (its local funds are much of the truth there)."""
    return WUHAN if query.startup.get("city") == WUHAN else ELSEWHERE


def _row(
    name: str, rankings: list[list[str]], truths: list[frozenset[str]], catalogue: frozenset[str], auc: float
) -> MetricRow:
    return summarize(name, rankings, truths, catalogue, K, auc=auc, wide_k=WIDE_K)


def _table(answers: dict[str, _Answers], catalogue: frozenset[str]) -> MetricTable:
    """One row per method, then per method and segment (when a protocol has several), then per
    method and place (``method [place=wuhan]``) when any query is in Wuhan."""
    rows = [
        _row(m, a.rankings, a.truths, catalogue, pairwise_auc(a.positive_scores, a.negative_scores))
        for m, a in answers.items()
    ]
    segments = sorted({s for a in answers.values() for s in a.segments})
    if len(segments) > 1:
        rows += _split_rows(answers, catalogue, segments, lambda a: (a.segments, a.segment_scores), "{}")
    if any(WUHAN in a.places for a in answers.values()):
        places = [WUHAN, ELSEWHERE]
        rows += _split_rows(answers, catalogue, places, lambda a: (a.places, a.place_scores), "place={}")
    return MetricTable(k=K, wide_k=WIDE_K, rows=tuple(rows))


def _split_rows(
    answers: dict[str, _Answers],
    catalogue: frozenset[str],
    labels: Sequence[str],
    split: Callable[[_Answers], tuple[list[str], dict[str, tuple[list[float], list[float]]]]],
    label_format: str,
) -> list[MetricRow]:
    rows = []
    for label in labels:
        for method, a in answers.items():
            per_query, scores = split(a)
            picked = [i for i, s in enumerate(per_query) if s == label]
            if not picked:
                continue
            positive, negative = scores[label]
            rows.append(
                _row(
                    f"{method} [{label_format.format(label)}]",
                    [a.rankings[i] for i in picked],
                    [a.truths[i] for i in picked],
                    catalogue,
                    pairwise_auc(positive, negative),
                )
            )
    return rows


def _recall_curve(answers: _Answers) -> list[float]:
    """Mean Recall@k over the queries for every k up to :data:`CURVE_K`."""
    recalls = np.zeros((CURVE_K, len(answers.rankings)))  # a row per k, contiguous: each mean as over a list
    for column, (ranked, truth) in enumerate(zip(answers.rankings, answers.truths, strict=True)):
        recalls[:, column] = recall_curve(ranked, truth, CURVE_K)
    return [float(np.mean(row)) for row in recalls]


def _exposure(answers: _Answers) -> dict[str, int]:
    return dict(Counter(c for ranked in answers.rankings for c in ranked[:K]).most_common())
