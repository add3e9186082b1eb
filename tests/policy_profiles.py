"""Profiles for policy tests, placed in a catalogue the way the service keeps them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from matcher.catalog import Catalog
from matcher.graph import RelationEvent
from models.enums import EntityKind, InteractionKind

TODAY = dt.date(2026, 12, 6)

DEFAULTS: dict[EntityKind, dict[str, Any]] = {
    EntityKind.person: {
        "role": "founder",
        "card_tier": "none",
        "degree": "bachelor",
        "graduation_year": None,
        "birth_year": None,
        "hukou": None,
        "returnee": False,
        "district": "hongshan",
        "industries": [],
    },
    EntityKind.startup: {
        "stage": "seed",
        "industries": ["artificial_intelligence"],
        "district": "east_lake_hightech",
        "founded_on": dt.date(2025, 6, 1),
        "headcount": 8,
        "funding_received_cny": None,
    },
    EntityKind.investor: {
        "investor_type": "vc",
        "industries": [],
        "stages": ["a"],
        "districts": ["anywhere"],
    },
    EntityKind.space: {
        "space_type": "maker_space",
        "district": "wuchang",
        "seats_total": 50,
        "seats_vacant": 5,
    },
}


def place(
    catalog: Catalog,
    kind: EntityKind,
    row_id: int,
    *,
    on_team: bool = False,
    wuhan_deals: int = 0,
    **fields: Any,
) -> dict[str, Any]:
    """Upsert one profile (defaults overridden by ``fields``); ``on_team`` puts a person on a
    startup's team, ``wuhan_deals`` records that many investments in Wuhan startups."""
    record = {
        "id": row_id,
        "external_id": f"{kind.value}-{row_id}",
        "name": "测试",
        **DEFAULTS[kind],
        **fields,
    }
    catalog.tables[kind].upsert(record)
    if on_team:
        catalog.startups_of[row_id].append(10_000 + row_id)
    for deal in range(wuhan_deals):
        startup_id = 20_000 + row_id * 100 + deal
        catalog.tables[EntityKind.startup].upsert(
            {"id": startup_id, "external_id": f"deal-{startup_id}", **DEFAULTS[EntityKind.startup]}
        )
        catalog.history.observe(
            RelationEvent(
                EntityKind.investor,
                row_id,
                EntityKind.startup,
                startup_id,
                InteractionKind.invested,
                dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
                1_000_000,
            )
        )
    return record
