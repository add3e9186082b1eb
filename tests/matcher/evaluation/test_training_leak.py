"""Training inside history sees no future, checked by moving the clock: adding the events dated
after a training round must not change one feature of that round's candidates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from matcher.evaluation.cyzone import CyzoneEvent, early_fold, map_cyzone_industries, map_cyzone_round
from matcher.evaluation.protocol import Fold, Query
from matcher.evaluation.split import TemporalSplit
from matcher.evaluation.training import inner_fold
from matcher.evaluation.world import MatcherWorld
from matcher.features import FEATURE_NAMES
from matcher.ranker import TrainingWindow
from models.enums import EntityKind
from tests.doubles import HashingEncoder

SPLIT = TemporalSplit(history_end=dt.date(2016, 1, 1), test_start=dt.date(2018, 1, 1))
WINDOW = TrainingWindow(
    protocol="clock",
    features_until=dt.date(2015, 7, 1),
    queries_from=dt.date(2015, 7, 1),
    validation_from=dt.date(2015, 10, 1),
    until=SPLIT.history_end,
)
# The training round whose features are compared.
ROUND_DAY = dt.date(2015, 8, 1)
ROUND = "E-ask"


def _event(
    event_id: str,
    startup: str,
    tags: str,
    series: str,
    investors: Sequence[str],
    day: str,
    city: str = "武汉",
) -> CyzoneEvent:
    return CyzoneEvent(
        event_id=event_id,
        investee_id=startup,
        shortname=f"公司{startup}",
        fullname=f"{city}公司{startup}科技有限公司",
        series=series,
        stage=map_cyzone_round(series) or "",
        industry_tags=tags,
        industries=tuple(map_cyzone_industries(tags)),
        investors=tuple((i, f"基金{i}") for i in investors),
        occurred_on=dt.date.fromisoformat(day),
    )


PAST = [
    _event("E1", "S1", "人工智能", "天使轮", ["1", "2"], "2014-03-01"),
    _event("E2", "S2", "人工智能,企业服务", "A轮", ["1"], "2014-09-01", city="北京"),
    _event("E3", "S3", "电子商务", "天使轮", ["2", "3"], "2015-01-15"),
    _event("E4", "S4", "医疗健康", "A轮", ["3"], "2015-04-01", city="上海"),
    _event("E5", "S5", "人工智能", "天使轮", ["4"], "2015-06-01"),
    _event(ROUND, "S9", "人工智能", "A轮", ["1", "4"], ROUND_DAY.isoformat()),
]
# After the training round, before history ends: a later round of a startup already in the
# history (its stage moves on), new deals by the round's own investors, a new investor.
LATER = [
    _event("E7", "S1", "人工智能", "B轮", ["1", "5"], "2015-09-01"),
    _event("E8", "S6", "电子商务", "天使轮", ["4", "2"], "2015-10-15", city="北京"),
    _event("E9", "S7", "人工智能", "A轮", ["1", "3"], "2015-12-01"),
    _event("E10", "S9", "人工智能", "B轮", ["2"], "2015-12-20"),
]


def _features(fold: Fold, tmp_path: Path) -> dict[str, np.ndarray]:
    """The training round's feature row for every candidate, by candidate."""
    inner, _ = inner_fold(fold, window=WINDOW)
    [query] = [q for q in inner.queries if q.occurred_on == ROUND_DAY]
    tmp_path.mkdir()
    world = MatcherWorld.build(inner, encoder=HashingEncoder(), directory=tmp_path)
    matcher = world.matcher()
    candidates = sorted(world.candidate_rows)
    with world.asking(matcher, query) as row_id:
        scored = matcher.score(
            EntityKind.startup, row_id, EntityKind.investor, [world.candidate_rows[c] for c in candidates]
        )
    by_row = {int(r): scored.features[at] for at, r in enumerate(scored.ids.tolist())}
    return {c: by_row[world.candidate_rows[c]] for c in candidates}


def _round(fold: Fold) -> Query:
    inner, _ = inner_fold(fold, window=WINDOW)
    [query] = [q for q in inner.queries if q.occurred_on == ROUND_DAY]
    return query


def test_a_training_rounds_features_do_not_change_with_what_came_after_it(tmp_path: Path) -> None:
    without = early_fold(PAST, SPLIT)
    with_later = early_fold(PAST + LATER, SPLIT)
    assert _round(without) == _round(with_later)  # the same question, the same truth
    before = _features(without, tmp_path / "without")
    after = _features(with_later, tmp_path / "with")
    assert set(before) == set(after) == {"cz-I-1", "cz-I-2", "cz-I-3", "cz-I-4"}
    for candidate, row in before.items():
        changed = [name for name, a, b in zip(FEATURE_NAMES, row, after[candidate], strict=True) if a != b]
        assert not changed, f"{candidate}: {changed} moved with events after the round"


def test_the_later_events_do_move_a_fold_that_cannot_rewind(tmp_path: Path) -> None:
    """The check can fail: profiles written from the whole history (no rewind) leak the future."""
    without = early_fold(PAST, SPLIT)
    leaky = Fold(**{**vars(early_fold(PAST + LATER, SPLIT)), "rewind": None})
    before, after = _features(without, tmp_path / "without"), _features(leaky, tmp_path / "leaky")
    assert any(not np.array_equal(before[c], after[c]) for c in before)
