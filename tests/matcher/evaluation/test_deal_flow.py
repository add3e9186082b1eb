"""Deal flow: each investor active in the test period ranks the period's query startups."""

from __future__ import annotations

import pytest

from matcher.evaluation.deal_flow import active_investors
from matcher.evaluation.harness import PROTOCOLS, evaluate_folds
from tests import fixtures_evaluation as tiny


def test_every_protocol_has_a_deal_flow_twin() -> None:
    assert {"cyzone-early-deal-flow", "crunchbase-2013-deal-flow", "yc-2005-2014-deal-flow"} <= set(PROTOCOLS)


def test_active_investors_rank_the_startups_they_backed_first() -> None:
    fold = tiny.fold()
    assert active_investors(fold) == ["I-A", "I-C"]  # B backed no query round
    result = evaluate_folds("tiny-deal-flow", [fold], methods=["segment-popularity", "popularity"])
    rows = {row.method: row for row in result.table.rows}
    # A backs AI startups, C medical ones: each finds its own round first.
    assert rows["segment-popularity"].queries == 2
    assert rows["segment-popularity"].mrr == 1.0
    assert rows["segment-popularity"].auc == 1.0
    # Popularity scores an investor the same for every startup: from the investor's side it
    # cannot tell them apart (ties keep the rounds' order: the AI round first).
    assert rows["popularity"].mrr == pytest.approx((1 + 1 / 2) / 2)
    assert result.exposure["popularity"] == {"q-ai": 2, "q-med": 2}
