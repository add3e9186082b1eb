"""A tiny hand-made fold: three investors with 3, 2 and 1 past deals, two query startups.

Investor A backed three AI startups (one recently), B two e-commerce ones, C one medical
one; the queries are a new AI startup (backed by A) and a new medical one (backed by C).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from matcher.evaluation.protocol import Fold, Query

HISTORY_END = dt.date(2016, 1, 1)
AI, SHOP, MED = "artificial_intelligence", "ecommerce", "healthcare"

# (startup, industry, stage, investor, date)
DEALS = [
    ("S1", AI, "angel", "A", "2015-11-01"),
    ("S2", AI, "angel", "A", "2013-01-01"),
    ("S3", AI, "a", "A", "2012-01-01"),
    ("S4", SHOP, "a", "B", "2015-06-01"),
    ("S5", SHOP, "a", "B", "2015-07-01"),
    ("S6", MED, "angel", "C", "2014-03-01"),
]
DESCRIPTIONS = {AI: "人工智能 机器学习 视觉", SHOP: "电子商务 零售 平台", MED: "医疗健康 药品 医院"}


def startup(external_id: str, industry: str, stage: str) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "name": f"公司 {external_id}",
        "industries": [industry],
        "stage": stage,
        "description": DESCRIPTIONS.get(industry, industry),
    }


def interaction(startup_id: str, investor: str, day: str) -> dict[str, Any]:
    return {
        "external_id": f"X-{startup_id}-{investor}",
        "actor_kind": "investor",
        "actor_external_id": f"I-{investor}",
        "target_kind": "startup",
        "target_external_id": startup_id,
        "kind": "invested",
        "occurred_at": f"{day}T00:00:00+08:00",
    }


def records(extra_deals: Sequence[tuple[str, str, str, str, str]] = ()) -> dict[str, list[dict[str, Any]]]:
    deals = [*DEALS, *extra_deals]
    return {
        "startups": [startup(s, industry, stage) for s, industry, stage, _, _ in deals],
        "investors": [
            {"external_id": f"I-{name}", "name": f"投资方 {name}", "investor_type": "vc"} for name in "ABC"
        ],
        "interactions": [interaction(s, investor, day) for s, _, _, investor, day in deals],
    }


def queries() -> list[Query]:
    return [
        Query("q-ai", startup("Q-AI", AI, "angel"), frozenset({"I-A"}), dt.date(2018, 3, 1), "warm"),
        Query("q-med", startup("Q-MED", MED, "angel"), frozenset({"I-C"}), dt.date(2018, 5, 1), "cold"),
    ]


def fold(extra_deals: Sequence[tuple[str, str, str, str, str]] = ()) -> Fold:
    return Fold(
        name="tiny",
        records=records(extra_deals),
        queries=queries(),
        candidates=frozenset({"I-A", "I-B", "I-C"}),
        history_end=HISTORY_END,
    )
