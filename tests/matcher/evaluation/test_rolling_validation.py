"""Rolling validation replays a fold's history as protocols of its own at several cut dates:
nothing of the fold's test period enters, and nothing after a cut enters that cut's history."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from api.cli import app
from matcher.evaluation.baselines import as_day
from matcher.evaluation.cyzone import early_fold
from matcher.evaluation.harness import validation_folds
from matcher.evaluation.protocol import Fold
from matcher.evaluation.training import rolling_folds
from tests.matcher.evaluation.test_training_leak import LATER, PAST, SPLIT, _event
from tests.matcher.evaluation.test_training_served import _busier_fold

# Rounds of the protocol's test period (2018): the fold's own queries.
TEST_PERIOD = [
    _event("T1", "S20", "人工智能", "天使轮", ["1", "2"], "2018-03-01"),
    _event("T2", "S21", "医疗健康", "A轮", ["3", "9"], "2018-06-01"),
]
CUTS = (0.4, 0.7)


def _fold() -> Fold:
    return early_fold(PAST + LATER + TEST_PERIOD, SPLIT)


def test_rolling_folds_ask_only_history_rounds_each_after_its_own_cut() -> None:
    fold = _fold()
    assert {q.event_id for q in fold.queries} == {"T1", "T2"}
    rolling = rolling_folds(fold, cuts=CUTS)
    assert len(rolling) == len(CUTS)
    cuts = [r.history_end for r in rolling if r.history_end is not None]
    assert len(cuts) == len(rolling)
    assert cuts == sorted(cuts)
    assert cuts[-1] < SPLIT.history_end
    ends = [*cuts[1:], SPLIT.history_end]
    asked = [q for r in rolling for q in r.queries]
    assert asked, "the history's later rounds are asked"
    for r, cut, end in zip(rolling, cuts, ends, strict=True):
        assert all(cut <= q.occurred_on < end for q in r.queries)
        days = [as_day(i["occurred_at"]) for i in r.records["interactions"]]
        assert days
        assert max(days) < cut, f"{r.name}: history holds a deal after its cut"
    assert not {"T1", "T2"} & {q.event_id for q in asked}
    assert all(q.occurred_on < SPLIT.history_end for q in asked)
    named = {str(s["name"]) for r in rolling for s in r.records["startups"]}
    assert named
    assert not {"公司S20", "公司S21"} & named, "a test-period startup entered a history"


def test_rolling_cuts_must_be_increasing_shares() -> None:
    with pytest.raises(ValueError, match="cuts"):
        rolling_folds(_fold(), cuts=(0.7, 0.4))
    with pytest.raises(ValueError, match="cuts"):
        rolling_folds(_fold(), cuts=(0.5, 1.0))


def test_a_validation_sample_is_spread_over_every_rolling_fold() -> None:
    every = validation_folds("tiny", [_busier_fold()])
    sampled = validation_folds("tiny", [_busier_fold()], sample=3)
    assert [r.name for r in sampled] == [r.name for r in every]
    assert all(
        {q.event_id for q in s.queries} <= {q.event_id for q in e.queries}
        for s, e in zip(sampled, every, strict=True)
    )
    assert sum(len(s.queries) for s in sampled) < sum(len(e.queries) for e in every)
    assert all(s.queries for s, e in zip(sampled, every, strict=True) if e.queries)


def test_cli_names_an_unknown_split() -> None:
    result = CliRunner().invoke(app, ["evaluate", "--protocol", "demo", "--on", "tomorrow"])
    assert result.exit_code == 2
    assert "--on: unknown 'tomorrow'" in result.output


def test_rolling_windows_need_a_dated_history() -> None:
    fold = early_fold(PAST[:2], SPLIT)
    with pytest.raises(ValueError, match="too few dated investments"):
        rolling_folds(fold)
