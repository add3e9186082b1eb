"""Unit tests of the pipeline's small parts, each checked on numbers worked out by hand."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import pytest

from matcher.catalog import KindTable
from matcher.directions import DIRECTIONS, Direction
from matcher.eligibility import eligible
from matcher.rerank import ExposureTracker, mmr_order
from matcher.rules import Covers, HasRoom, InRange
from matcher.scoring import fuse
from models.enums import EntityKind

STARTUP, INVESTOR, SPACE = EntityKind.startup, EntityKind.investor, EntityKind.space


# --- scoring.fuse ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("harmonic", [2 * 0.8 * 0.2 / 1.0, 0.5, 0.0]),
        ("geometric", [0.4, 0.5, 0.0]),
        ("min", [0.2, 0.5, 0.0]),
        ("mean", [0.5, 0.5, 0.45]),
        ("asker", [0.8, 0.5, 0.9]),
    ],
)
def test_fuse_combines_both_sides_as_named(method: str, expected: list[float]) -> None:
    asker, candidate = np.array([0.8, 0.5, 0.9]), np.array([0.2, 0.5, 0.0])
    np.testing.assert_allclose(fuse(asker, candidate, method), expected)  # type: ignore[arg-type]


def test_fuse_is_symmetric_except_one_sided_and_refuses_an_unknown_method() -> None:
    a, b = np.array([0.3, 0.9]), np.array([0.6, 0.1])
    for method in ("harmonic", "geometric", "min", "mean"):
        np.testing.assert_allclose(fuse(a, b, method), fuse(b, a, method))
    with pytest.raises(ValueError, match="fusion"):
        fuse(a, b, "max")  # type: ignore[arg-type]


# --- Direction validation ----------------------------------------------------------------


def _weights(**weights: float) -> MappingProxyType[str, float]:
    return MappingProxyType(weights)


def test_a_direction_takes_its_rules_from_its_pair_of_kinds() -> None:
    direction = Direction("x", STARTUP, INVESTOR, _weights(semantic=1.0), _weights(industry=1.0))
    assert direction.rules == DIRECTIONS[(STARTUP, INVESTOR)].rules
    assert direction.rules == DIRECTIONS[(INVESTOR, STARTUP)].rules


def test_a_side_whose_weights_do_not_sum_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="x: weights of a side must sum to 1"):
        Direction("x", STARTUP, INVESTOR, _weights(semantic=0.5), _weights(industry=1.0))


def test_the_candidates_view_cannot_use_candidate_only_features() -> None:
    with pytest.raises(ValueError, match="candidate's view of the asker cannot use"):
        Direction("x", STARTUP, INVESTOR, _weights(semantic=1.0), _weights(popularity=1.0))


# --- rerank --------------------------------------------------------------------------------


def test_mmr_trades_relevance_for_novelty_and_one_keeps_the_score_order() -> None:
    scores = np.array([1.0, 0.95, 0.5])
    # 0 and 1 are the same vector; 2 points elsewhere.
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert mmr_order(scores, vectors, 3, relevance_weight=1.0) == [0, 1, 2]
    # Second pick: 0.5*0.95 - 0.5*1 = -0.025 for the copy, 0.5*0.5 - 0 = 0.25 for the other.
    assert mmr_order(scores, vectors, 3, relevance_weight=0.5) == [0, 2, 1]
    assert mmr_order(scores, vectors, 0) == []


def test_exposure_cap_demotes_a_counterpart_in_too_many_recent_lists() -> None:
    tracker = ExposureTracker(cap=0.5, window=4, warmup=2)
    tracker.record(("a", "b"))
    assert not tracker.over_cap("a")  # still warming up
    assert tracker.held_back() == []
    tracker.record(("a", "c"))
    assert tracker.over_cap("a")  # in 2 of 2 lists
    assert not tracker.over_cap("b")  # in 1 of 2: not over half
    assert tracker.held_back() == ["a"]  # what a sharded query tells its shards
    assert tracker.demote(["a", "b", "c"], ["a", "b", "c"]) == ["b", "c", "a"]
    with pytest.raises(ValueError, match="exposure_cap"):
        ExposureTracker(cap=1.5)


# --- eligibility masks ---------------------------------------------------------------------


def _table(kind: EntityKind, rows: list[dict[str, object]]) -> KindTable:
    table = KindTable(kind)
    for row_id, row in enumerate(rows, start=1):
        table.upsert({"id": row_id, "external_id": f"{kind.value}-{row_id}", "active": True} | row)
    return table


def test_each_rule_kind_masks_the_candidates_it_should() -> None:
    investors = _table(
        INVESTOR,
        [
            {"stages": ["angel"], "ticket_min_cny": 1e6, "ticket_max_cny": 5e6},
            {"stages": ["b"], "ticket_min_cny": 1e6, "ticket_max_cny": 5e6},
            {"stages": [], "ticket_min_cny": 1e7, "ticket_max_cny": 5e7},
        ],
    )
    startup = {"stage": "angel", "funding_ask_cny": 2e6}
    stage = Covers(INVESTOR, "stages", STARTUP, "stage")
    ticket = InRange(INVESTOR, "ticket_min_cny", "ticket_max_cny", STARTUP, "funding_ask_cny")
    # An empty stage list admits every stage; the third's ticket is too large for the ask.
    assert eligible(STARTUP, startup, investors, [stage]).tolist() == [True, False, True]
    assert eligible(STARTUP, startup, investors, [ticket]).tolist() == [True, True, False]
    assert eligible(STARTUP, startup, investors, [stage, ticket]).tolist() == [True, False, False]


def test_room_exclusions_and_removed_rows_leave_the_mask() -> None:
    spaces = _table(SPACE, [{"seats_vacant": 3}, {"seats_vacant": 0}, {"seats_vacant": 5}])
    room = HasRoom(SPACE, "seats_vacant")
    assert eligible(STARTUP, {}, spaces, [room]).tolist() == [True, False, True]
    assert eligible(STARTUP, {}, spaces, [room], excluded=[(SPACE, 3)]).tolist() == [True, False, False]
    spaces.remove(1)
    assert eligible(STARTUP, {}, spaces, [room]).tolist() == [False, False, True]
