"""The ``demo`` protocol: the generated Wuhan ecosystem's own investments as time-ordered truth.

`models.demo.generate_ecosystem` draws its history from hidden tastes the matcher never reads, so
its realised ``invested`` outcomes are a fair test. History is every startup↔investor
interaction (views, contacts, meetings, investments, declines …) dated before `HISTORY_END`,
with the profiles they need; each query is a startup that receives investment on or after
`HISTORY_END`, asked as of its first such investment, its truth being every investor that
invested in it then. The query's startup is a copy of its profile under a new id (``demo-Q-…``),
so asking never disturbs the history's own profile. The candidates are every investor profile:
on the platform an investor is registered before any deal, and its profile (thesis, industries,
stages, tickets) is written by the generator up front, not summarised from the test period. A
query is ``cold`` when its startup has no startup↔investor interaction in history, else ``warm``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from matcher.evaluation.protocol import Fold, Query, spread_sample
from matcher.evaluation.split import TemporalSplit
from models.demo import DemoSize, generate_ecosystem
from models.enums import EntityKind, InteractionKind
from models.settings import Settings

__all__ = ["DEMO_SEED", "HISTORY_END", "demo_folds", "demo_records"]

DEMO_SEED: Final = 42  # the seed `make run` loads
HISTORY_END: Final = dt.date(2026, 1, 1)  # the demo's last ten months of investments are the test
SPLIT: Final = TemporalSplit(history_end=HISTORY_END, test_start=HISTORY_END)
MATCHING_KINDS: Final = frozenset({EntityKind.startup.value, EntityKind.investor.value})
QUERY_PREFIX: Final = "demo-Q-"


@dataclass(frozen=True)
class DatedInteraction:
    occurred_on: dt.date  # the Beijing day the generator wrote it for
    record: Mapping[str, Any]


def _dated(interactions: Iterable[Mapping[str, Any]]) -> list[DatedInteraction]:
    return [
        DatedInteraction(dt.datetime.fromisoformat(record["occurred_at"]).date(), record)
        for record in interactions
        if {record["actor_kind"], record["target_kind"]} == MATCHING_KINDS
    ]


def demo_records(
    ecosystem: Mapping[str, Sequence[Mapping[str, Any]]], history: Sequence[DatedInteraction]
) -> dict[str, list[dict[str, Any]]]:
    """Create-shaped records per kind slug, in import order: the persons that startup teams and
    investor partners refer to, every startup and investor, and the history's interactions."""
    startups = [dict(record) for record in ecosystem["startups"]]
    investors = [dict(record) for record in ecosystem["investors"]]
    referenced = {member["person_external_id"] for record in startups for member in record.get("team", [])}
    referenced |= {record["partner_external_id"] for record in investors if record.get("partner_external_id")}
    return {
        "persons": [dict(record) for record in ecosystem["persons"] if record["external_id"] in referenced],
        "startups": startups,
        "investors": investors,
        "interactions": [dict(item.record) for item in history],
    }


def _queries(
    ecosystem: Mapping[str, Sequence[Mapping[str, Any]]],
    history: Sequence[DatedInteraction],
    test: Sequence[DatedInteraction],
) -> list[Query]:
    startups = {record["external_id"]: record for record in ecosystem["startups"]}
    backers: dict[str, set[str]] = defaultdict(set)
    first_day: dict[str, dt.date] = {}
    for item in test:
        if item.record["kind"] == InteractionKind.invested.value:
            startup_id = item.record["target_external_id"]
            backers[startup_id].add(item.record["actor_external_id"])
            first_day.setdefault(startup_id, item.occurred_on)
    known = {item.record[side] for item in history for side in ("actor_external_id", "target_external_id")}
    queries = [
        Query(
            event_id=f"demo-{startup_id}",
            startup={**startups[startup_id], "external_id": f"{QUERY_PREFIX}{startup_id}"},
            truth=frozenset(investors),
            occurred_on=first_day[startup_id],
            segment="warm" if startup_id in known else "cold",
        )
        for startup_id, investors in backers.items()
    ]
    return sorted(queries, key=lambda q: (q.occurred_on, q.event_id))


def demo_folds(
    settings: Settings | None = None,
    *,
    sample: int | None = None,
    seed: int = DEMO_SEED,
    size: DemoSize = DemoSize(),
) -> list[Fold]:
    """The demo protocol's single temporal fold (see the module docstring).

    ``settings`` is accepted so every protocol is built alike; the demo is generated, not read.
    """
    del settings
    ecosystem = generate_ecosystem(seed, size)
    history, test = SPLIT.partition(
        sorted(_dated(ecosystem["interactions"]), key=lambda item: item.occurred_on)
    )
    queries = _queries(ecosystem, history, test)
    SPLIT.assert_no_leak(history, queries)
    return [
        Fold(
            name="demo",
            records=demo_records(ecosystem, history),
            queries=spread_sample(queries, sample),
            candidates=frozenset(record["external_id"] for record in ecosystem["investors"]),
            history_end=HISTORY_END,
        )
    ]
