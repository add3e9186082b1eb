"""A warm round's startup asks holding its earlier backers as relations, as a founder's profile
does: the matcher reads them (co-investors of one's backers), they leave with the query, and a
training round holds only the backers it had by its own date (the clock moved, nothing changes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from matcher.evaluation.crunchbase import INVESTOR_PREFIX, FundingRound, name_id, round_fold
from matcher.evaluation.protocol import Fold, Query
from matcher.evaluation.split import TemporalSplit
from matcher.evaluation.training import inner_fold
from matcher.evaluation.world import MatcherWorld
from matcher.features import FEATURE_NAMES
from matcher.ranker import TrainingWindow
from models.enums import EntityKind
from tests.doubles import HashingEncoder

SPLIT = TemporalSplit(history_end=dt.date(2012, 1, 1), test_start=dt.date(2012, 1, 1))
WINDOW = TrainingWindow(
    protocol="clock",
    features_until=dt.date(2011, 1, 1),
    queries_from=dt.date(2011, 1, 1),
    validation_from=dt.date(2011, 6, 1),
    until=SPLIT.history_end,
)
ROUND_DAY = dt.date(2011, 3, 1)  # Alpha's second round: backers A and B, C new


def _round(company: str, investors: Sequence[str], day: str) -> FundingRound:
    return FundingRound(company, dt.date.fromisoformat(day), tuple(investors), 5_000_000, "series-a")


PAST = [
    _round("Alpha", ["A", "B"], "2010-01-10"),
    _round("Beta", ["B", "C"], "2010-03-01"),
    _round("Gamma", ["A", "C", "D"], "2010-05-01"),
    _round("Delta", ["D"], "2010-06-01"),
    _round("Alpha", ["A", "C"], ROUND_DAY.isoformat()),
]
# After the training round, before history ends: its backers' new co-investments, a later round
# of the same company (a backer it did not have on the round's day), a new investor.
LATER = [
    _round("Beta", ["A", "D"], "2011-06-01"),
    _round("Alpha", ["D"], "2011-08-01"),
    _round("Epsilon", ["E", "B"], "2011-09-01"),
]


def _fold(rounds: Sequence[FundingRound]) -> Fold:
    return round_fold(rounds, {}, SPLIT)


def _training_round(fold: Fold) -> tuple[Fold, Query]:
    inner, _ = inner_fold(fold, window=WINDOW)
    [query] = [q for q in inner.queries if q.occurred_on == ROUND_DAY]
    return inner, query


def _investor(name: str) -> str:
    return name_id(INVESTOR_PREFIX, name)


def _features(fold: Fold, tmp_path: Path) -> dict[str, np.ndarray]:
    """The training round's feature row for every candidate it may be offered, by candidate."""
    inner, query = _training_round(fold)
    tmp_path.mkdir()
    world = MatcherWorld.build(inner, encoder=HashingEncoder(), directory=tmp_path)
    matcher = world.matcher()
    candidates = sorted(set(world.candidate_rows) - query.known)
    with world.asking(matcher, query) as row_id:
        scored = matcher.score(
            EntityKind.startup, row_id, EntityKind.investor, [world.candidate_rows[c] for c in candidates]
        )
    by_row = {int(r): scored.features[at] for at, r in enumerate(scored.ids.tolist())}
    return {c: by_row[world.candidate_rows[c]] for c in candidates}


def test_a_warm_training_round_holds_the_backers_it_had_by_its_date() -> None:
    _, query = _training_round(_fold(PAST + LATER))
    assert query.known == {_investor("A"), _investor("B")}
    assert query.truth == {_investor("C")}


def test_the_backers_are_relations_while_asking_and_leave_with_the_query(tmp_path: Path) -> None:
    inner, query = _training_round(_fold(PAST))
    world = MatcherWorld.build(inner, encoder=HashingEncoder(), directory=tmp_path)
    matcher = world.matcher()
    history = matcher.catalog_.history
    deals, edges = len(history.deals), history.graph.number_of_edges()
    with world.asking(matcher, query) as row_id:
        backers = {(EntityKind.investor, world.investor_rows[i]) for i in query.known}
        assert history.related((EntityKind.startup, row_id)) == backers
        shown = {m.external_id for m in matcher.recommend(EntityKind.startup, row_id, EntityKind.investor)}
        assert shown
        assert not shown & query.known  # a founder is never offered its own backers
    assert (len(history.deals), history.graph.number_of_edges()) == (deals, edges)


def test_co_investors_of_the_backers_score_on_the_overlap(tmp_path: Path) -> None:
    features = _features(_fold(PAST), tmp_path / "world")
    overlap = FEATURE_NAMES.index("graph_overlap")
    # C backed Beta beside B and Gamma beside A; D backed Gamma beside A only.
    assert features[_investor("C")][overlap] > features[_investor("D")][overlap] > 0


def test_a_warm_training_rounds_features_do_not_change_with_what_came_after_it(tmp_path: Path) -> None:
    before = _features(_fold(PAST), tmp_path / "without")
    after = _features(_fold(PAST + LATER), tmp_path / "with")
    assert set(before) == set(after) == {_investor("C"), _investor("D")}
    for candidate, row in before.items():
        changed = [name for name, a, b in zip(FEATURE_NAMES, row, after[candidate], strict=True) if a != b]
        assert not changed, f"{candidate}: {changed} moved with events after the round"
