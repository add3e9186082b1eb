"""The facts a person decides by, per kind of profile recommended, in that kind's own terms.

One registry, :data:`SUMMARIES`: each kind names its facts, each fact is a small function of
the candidate's record (and, for an investor's deals, the history). A fact that is unknown is
left out rather than shown empty. Terms from the taxonomy read "中文 / English".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from matcher.catalog import History, _as_list
from matcher.graph import Node
from models.enums import EntityKind, InteractionKind
from models.schemas import BEIJING
from models.taxonomy import AREAS, INDUSTRIES, STAGES

# An investor's recent deals: those of the last year, and the latest few by name.
RECENT_DEALS_DAYS = 365
LATEST_DEALS_SHOWN = 3


@dataclass(frozen=True)
class SummaryContext:
    node: Node
    record: Mapping[str, Any]
    history: History
    records: Callable[[Node], Mapping[str, Any] | None]
    now: dt.datetime


Fact = Callable[[SummaryContext], Any]


def _term(vocabulary: Mapping[str, Any], code: Any) -> str | None:
    term = vocabulary.get(code) if isinstance(code, str) else None
    return f"{term.zh} / {term.en}" if term is not None else None


def plain(name: str) -> Fact:
    return lambda ctx: ctx.record.get(name)


def term(name: str, vocabulary: Mapping[str, Any]) -> Fact:
    return lambda ctx: _term(vocabulary, ctx.record.get(name))


def terms(name: str, vocabulary: Mapping[str, Any]) -> Fact:
    return lambda ctx: (
        [t for code in _as_list(ctx.record.get(name)) if (t := _term(vocabulary, code))] or None
    )


def day(name: str) -> Fact:
    return lambda ctx: _iso_day(ctx.record.get(name))


def _iso_day(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.astimezone(BEIJING).date().isoformat()
    return value.isoformat() if isinstance(value, dt.date) else None


def _places(ctx: SummaryContext) -> list[str] | None:
    codes = _as_list(ctx.record.get("districts"))
    if "anywhere" in codes:
        return ["全市 / anywhere in the city"]
    return [t for code in codes if (t := _term(AREAS, code))] or None


def _period(ctx: SummaryContext) -> str | None:
    start, end = _iso_day(ctx.record.get("period_start")), _iso_day(ctx.record.get("period_end"))
    return f"{start} – {end}" if start and end else start or end


def _mentee_places_left(ctx: SummaryContext) -> int:
    return max(0, int(ctx.record.get("max_mentees") or 0) - int(ctx.record.get("current_mentees") or 0))


def _recent_deals(ctx: SummaryContext) -> dict[str, Any]:
    """How many deals in the last year, and the latest few by name and date."""
    since = ctx.now - dt.timedelta(days=RECENT_DEALS_DAYS)
    count = sum(1 for when in ctx.history.investments.get(ctx.node, ()) if when >= since)
    graph = ctx.history.graph
    deals = []
    if ctx.node in graph:
        for startup in graph.neighbours(ctx.node, EntityKind.startup):
            relation = graph.relation(ctx.node, startup)
            if relation is not None and InteractionKind.invested in relation.kinds:
                deals.append((relation.last_at, startup))
    deals.sort(key=lambda deal: (deal[0], deal[1][1]), reverse=True)
    latest = [
        {"name": str(record.get("name", "")), "on": _iso_day(when)}
        for when, startup in deals[:LATEST_DEALS_SHOWN]
        if (record := ctx.records(startup)) is not None
    ]
    return {"last_year": count, "portfolio": len(deals), "latest": latest}


SUMMARIES: dict[EntityKind, dict[str, Fact]] = {
    EntityKind.startup: {
        "stage": term("stage", STAGES),
        "funding_ask_cny": plain("funding_ask_cny"),
        "district": term("district", AREAS),
        "founded_on": day("founded_on"),
        "industries": terms("industries", INDUSTRIES),
    },
    EntityKind.investor: {
        "investor_type": plain("investor_type"),
        "ticket_min_cny": plain("ticket_min_cny"),
        "ticket_max_cny": plain("ticket_max_cny"),
        "stages": terms("stages", STAGES),
        "districts": _places,
        "deals": _recent_deals,
    },
    EntityKind.mentor: {
        "expertise": plain("expertise"),
        "industries": terms("industries", INDUSTRIES),
        "district": term("district", AREAS),
        "mentee_places_left": _mentee_places_left,
    },
    EntityKind.space: {
        "space_type": plain("space_type"),
        "district": term("district", AREAS),
        "seats_vacant": plain("seats_vacant"),
        "seats_total": plain("seats_total"),
        "monthly_fee_cny": plain("monthly_fee_cny"),
        "monthly_subsidy_cny": plain("monthly_subsidy_cny"),
    },
    EntityKind.practice_base: {
        "enterprise_name": plain("enterprise_name"),
        "district": term("district", AREAS),
        "slots_free": plain("slots_free"),
        "period": _period,
        "majors_wanted": plain("majors_wanted"),
    },
    EntityKind.post: {
        "enterprise_name": plain("enterprise_name"),
        "post_type": plain("post_type"),
        "industry": term("industry", INDUSTRIES),
        "district": term("district", AREAS),
        "headcount": plain("headcount"),
        "min_degree": plain("min_degree"),
    },
    EntityKind.person: {
        "university": plain("university"),
        "major": plain("major"),
        "degree": plain("degree"),
        "graduation_year": plain("graduation_year"),
        "skills": plain("skills"),
        "district": term("district", AREAS),
    },
}


def summary(ctx: SummaryContext) -> dict[str, Any]:
    """The kind's facts about one candidate; unknown ones (None, empty) left out."""
    facts = {name: fact(ctx) for name, fact in SUMMARIES[ctx.node[0]].items()}
    return {name: value for name, value in facts.items() if value not in (None, [], "")}
