"""Reasons a person can check: short bilingual sentences built from the strongest features."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from matcher.catalog import History, _as_list
from matcher.config import ExplainConfig
from matcher.features import QUARTER_DAYS
from matcher.geography import GEOGRAPHY_FEATURES, footprint, location_of
from matcher.graph import Node
from matcher.kinds import MATCHING
from models.enums import EntityKind, InteractionKind
from models.places import Location, distance_between, place_names
from models.schemas import BEIJING
from models.taxonomy import (
    ANYWHERE,
    AREAS,
    INDUSTRIES,
    STAGES,
    code_similarity,
    distance_km,
    industry_ancestors,
)

YEAR_DAYS = 365
# Industry credit (models.taxonomy.code_similarity) a peer needs to be called similar: the same
# industry or one within the other, not merely the same broad sector.
SIMILAR_PEER_MIN_INDUSTRY = 0.5


@dataclass(frozen=True)
class Reason:
    feature: str
    zh: str
    en: str


@dataclass(frozen=True)
class ExplainContext:
    asker_kind: EntityKind
    query: Mapping[str, Any]
    candidate_node: Node
    candidate: Mapping[str, Any]
    keywords: Callable[[], list[str]]  # shared words, computed only if a text reason is given
    history: History
    records: Callable[[Node], Mapping[str, Any] | None]
    peers: tuple[Node, ...]  # the graph feature's seeds: profiles like the query's, or sharing its relations
    peers_are_similar: bool
    path: Callable[[], list[tuple[Node, InteractionKind, Node]]]  # shortest relation path, if any
    applied_on: dt.datetime | None = None  # when an open application between the two was made
    now: dt.datetime | None = None  # the matcher's clock: counts of deals are as of then
    asker_node: Node | None = None  # who asked, for the reasons naming its own relations


def _count(n: int, singular: str, plural: str) -> str:
    """English number agreement: "1 company", "5 companies"."""
    return f"{n} {singular if n == 1 else plural}"


def _money(cny: Any) -> tuple[str, str]:
    amount = float(cny or 0)
    return f"{amount / 10_000:,.0f}万元", f"¥{amount / 1_000_000:,.1f}M"


# Stored codes are already normalised; caching skips re-normalising them for every reason.
_ancestors = functools.lru_cache(maxsize=None)(industry_ancestors)


def _shared_industry(ctx: ExplainContext) -> Reason | None:
    mine = _as_list(ctx.query.get("industries")) or _as_list(ctx.query.get("industry"))
    theirs = _as_list(ctx.candidate.get("industries")) or _as_list(ctx.candidate.get("industry"))
    chains = {code: _ancestors(code) for code in theirs if code in INDUSTRIES}
    for code in mine:
        if code in INDUSTRIES:
            for other, chain in chains.items():
                shared = code if code in chain else other if other in _ancestors(code) else None
                if shared:
                    term = INDUSTRIES[shared]
                    return Reason("industry", f"同在{term.zh}领域", f"both in {term.en.lower()}")
    return None


def _stage(ctx: ExplainContext) -> Reason | None:
    startup, investor = (ctx.query, ctx.candidate_node) if "stage" in ctx.query else (ctx.candidate, None)
    stage = STAGES.get(startup.get("stage", ""))
    if stage is None:
        return None
    if investor is not None:
        same_stage = [
            n for n in ctx.history.related(investor) if (r := ctx.records(n)) and r.get("stage") == stage.code
        ]
        if same_stage:
            count = len(same_stage)
            return Reason(
                "stage",
                f"投资过{count}家{stage.zh}阶段企业",
                f"invested in {_count(count, 'company', 'companies')} at {stage.en}",
            )
        return None  # "invests at seed" restates the round asked for; no fact to check
    return Reason("stage", f"投资阶段覆盖{stage.zh}", f"invests at {stage.en}")


def _ticket(ctx: ExplainContext) -> Reason | None:
    startup, investor = (
        (ctx.query, ctx.candidate) if "funding_ask_cny" in ctx.query else (ctx.candidate, ctx.query)
    )
    ask, high = startup.get("funding_ask_cny"), investor.get("ticket_max_cny")
    if not ask or high is None:
        return None
    (low_zh, low_en), (high_zh, high_en), (ask_zh, ask_en) = (
        _money(investor.get("ticket_min_cny")),
        _money(high),
        _money(ask),
    )
    return Reason(
        "ticket",
        f"单笔投资{low_zh}–{high_zh}，覆盖融资需求{ask_zh}",
        f"tickets of {low_en}–{high_en} cover the {ask_en} asked",
    )


def _proximity(ctx: ExplainContext) -> Reason | None:
    mine = ctx.query.get("district")
    theirs = _as_list(ctx.candidate.get("districts")) or _as_list(ctx.candidate.get("district"))
    if ANYWHERE in theirs:
        return None  # the default of every profile that stated nothing: no fact to check
    if not isinstance(mine, str) or mine not in AREAS or not theirs or theirs[0] not in AREAS:
        return None
    if mine in theirs:
        area = AREAS[mine]
        return Reason("proximity", f"同在{area.zh}", f"both in {area.en}")
    km = min(distance_km(mine, t) for t in theirs if t in AREAS)
    return Reason("proximity", f"相距约{km:.0f}公里", f"about {km:.0f} km away")


def _capacity(ctx: ExplainContext) -> Reason | None:
    record, kind = ctx.candidate, ctx.candidate_node[0]
    if kind is EntityKind.investor and ctx.now is not None and record.get("deals_per_quarter"):
        since = ctx.now - dt.timedelta(days=QUARTER_DAYS)
        done = sum(
            1 for when in ctx.history.investments.get(ctx.candidate_node, ()) if since <= when < ctx.now
        )
        budget = int(record["deals_per_quarter"])
        return Reason(
            "capacity",
            f"近一季度投资{done}笔，计划每季{budget}笔",
            f"{_count(done, 'deal', 'deals')} in the last quarter of {budget} planned",
        )
    room = MATCHING[kind].room
    n = 0 if room is None else room.left(record)
    return Reason("capacity", room.zh.format(n=n), room.en.format(n=n)) if room and n > 0 else None


def _text(ctx: ExplainContext) -> Reason | None:
    shared = ctx.keywords()
    if not shared:
        return None  # "descriptions match" names nothing a person could check
    words = "、".join(shared)
    return Reason(
        "semantic",
        f"描述契合（共同关键词：{words}）",
        f"descriptions match (shared keywords: {', '.join(shared)})",
    )


def _graph(ctx: ExplainContext) -> Reason | None:
    related = ctx.history.related(ctx.candidate_node)
    linked = (p for p in ctx.peers if p in related)
    peer = next((r for p in linked if (r := ctx.records(p)) is not None and _comparable(ctx, r)), None)
    if peer is None:
        return None
    name = peer.get("name", "")
    if ctx.peers_are_similar:
        return Reason(
            "graph_proximity", f"合作过与您相似的「{name}」", f"worked with “{name}”, similar to you"
        )
    return Reason(
        "graph_proximity",
        f"与您有共同合作方的「{name}」也与其合作",
        f"“{name}”, who shares partners with you, works with them",
    )


def _comparable(ctx: ExplainContext, peer: Mapping[str, Any]) -> bool:
    """A peer called "similar to you" must share the asker's industry (a diagnostics company is
    no robotics startup's peer, however close their texts); other peers are named for the
    relations they share, which need no likeness."""
    mine = _industry_codes(ctx.query)
    if not ctx.peers_are_similar or not mine:  # an asker stating no industry is compared by text alone
        return True
    return code_similarity(mine, _industry_codes(peer)) >= SIMILAR_PEER_MIN_INDUSTRY


def _industry_codes(record: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(_as_list(record.get("industries")) or _as_list(record.get("industry")))


RELATION_WORDS: dict[InteractionKind, tuple[str, str]] = {
    InteractionKind.invested: ("投资", "invested in"),
    InteractionKind.admitted: ("入驻", "hosted"),
    InteractionKind.mentored: ("辅导", "mentored"),
    InteractionKind.placed: ("录用", "placed"),
}


def _overlap(ctx: ExplainContext) -> Reason | None:
    """An investor's deals beside a startup's own backers (a syndicate forms around them), else
    the shortest chain of relations from the one who asked to the candidate, spelled out."""
    return _backers_co_investor(ctx) or _relation_path(ctx)


def _backers_co_investor(ctx: ExplainContext) -> Reason | None:
    """The asking startup's backer sharing the most portfolio companies with the candidate investor,
    and how many (ties: the backer first by node); None for other pairs or where none shares one."""
    asker, candidate = ctx.asker_node, ctx.candidate_node
    if asker is None or asker[0] is not EntityKind.startup or candidate[0] is not EntityKind.investor:
        return None
    graph = ctx.history.graph
    backers = sorted(n for n in ctx.history.related(asker) if n[0] is EntityKind.investor and n != candidate)
    counts = [(graph.co_investments(backer, candidate), backer) for backer in backers]
    shared, backer = max(counts, key=lambda item: item[0], default=(0, asker))
    record = ctx.records(backer) if shared else None
    if record is None:
        return None
    name = str(record.get("name", ""))
    return Reason(
        "graph_overlap",
        f"与您的投资方「{name}」共同投资过{shared}家企业",
        f"co-invested in {_count(shared, 'company', 'companies')} with your backer “{name}”",
    )


def _relation_path(ctx: ExplainContext) -> Reason | None:
    hops = ctx.path()
    if not hops:
        return None
    zh, en = "您", "you"
    for _, kind, node in hops:
        (zh_word, en_word), (zh_name, en_name) = (
            RELATION_WORDS.get(kind, ("关联", "related to")),
            _name(ctx, node),
        )
        zh += f"—{zh_word}—{zh_name}"
        en += f" – {en_word} – {en_name}"
    return Reason("graph_overlap", f"关系链：{zh}", f"relation path: {en}")


def _name(ctx: ExplainContext, node: Node) -> tuple[str, str]:
    record = None if node == ctx.candidate_node else ctx.records(node)
    if record is None:
        return "对方", "them"
    name = str(record.get("name", ""))
    return f"「{name}」", f"“{name}”"


def _recency(ctx: ExplainContext) -> Reason | None:
    if ctx.candidate_node[0] is EntityKind.investor:
        return _activity(ctx, "recency")
    when = ctx.history.last_active.get(ctx.candidate_node)
    return None if when is None else Reason("recency", f"最近活跃于{when:%Y-%m}", f"last active {when:%Y-%m}")


def _activity(ctx: ExplainContext, feature: str) -> Reason | None:
    """An investor's deals in the year before the clock, or its latest deal when none."""
    dates = [when for when in ctx.history.investments.get(ctx.candidate_node, ()) if _before(ctx, when)]
    if not dates:
        return None
    end = ctx.now or max(dates)
    recent = sum(1 for when in dates if when >= end - dt.timedelta(days=YEAR_DAYS))
    if recent:
        return Reason(feature, f"近一年投资{recent}次", f"{_count(recent, 'deal', 'deals')} in the last year")
    last = max(dates)
    return Reason(feature, f"最近一次投资于{last:%Y-%m}", f"last deal in {last:%Y-%m}")


def _before(ctx: ExplainContext, when: dt.datetime) -> bool:
    return ctx.now is None or when < ctx.now


def _local(ctx: ExplainContext) -> Reason | None:
    """Where the investor has backed companies in the startup's city (or province), counted
    as of the clock; else the shared city or the distance between the two."""
    investor, startup, subject = _investor_and_startup(ctx)
    place = location_of(startup)
    if investor is not None and ctx.now is not None:
        stated = location_of(ctx.candidate if investor == ctx.candidate_node else ctx.query)
        # Usually in the history's memo already: the features counted it.
        print_ = footprint(investor, ctx.history, functools.partial(_place_of, ctx), ctx.now, stated)
        for code, counts in ((place.city, print_.cities), (place.province, print_.provinces)):
            if code is not None and counts.get(code, 0) > 0:
                zh, en = place_names(code)
                n = counts[code]
                return Reason(
                    "local_deals",
                    f"{subject[0]}投过{n}家{zh}企业",
                    f"{subject[1]} {_count(n, 'company', 'companies')} in {en}",
                )
    theirs = location_of(ctx.candidate)
    if place.city is not None and place.city == theirs.city:
        zh, en = place_names(place.city)
        return Reason("same_city", f"同在{zh}", f"both in {en}")
    km = distance_between(location_of(ctx.query), theirs)
    if km is not None and place.city is not None and theirs.city is not None:
        return Reason("distance", f"相距约{km:,.0f}公里", f"about {km:,.0f} km away")
    return None


def _place_of(ctx: ExplainContext, node: Node) -> Location:
    return location_of(ctx.records(node))


def _investor_and_startup(ctx: ExplainContext) -> tuple[Node | None, Mapping[str, Any], tuple[str, str]]:
    if ctx.candidate_node[0] is EntityKind.investor:
        return ctx.candidate_node, ctx.query, ("", "backed")
    if ctx.asker_kind is EntityKind.investor and "id" in ctx.query:
        return (EntityKind.investor, int(ctx.query["id"])), ctx.candidate, ("您", "you backed")
    return None, ctx.query, ("", "")


def _applied(ctx: ExplainContext) -> Reason | None:
    if ctx.applied_on is None:
        return None
    day = ctx.applied_on.astimezone(BEIJING).date()
    return Reason("applied", f"已申请（{day:%Y-%m-%d}）", f"applied on {day:%Y-%m-%d}")


def _popularity(ctx: ExplainContext) -> Reason | None:
    """How active an investor is, or whom a candidate already works with: both facts to check,
    never the bare relation count (that would only restate popularity)."""
    if ctx.candidate_node[0] is EntityKind.investor:
        return _activity(ctx, "popularity")
    phrases = RELATION_PHRASES.get(ctx.candidate_node[0], {})
    counts = {kind: len(ctx.history.graph.neighbours(ctx.candidate_node, kind)) for kind in phrases}
    if not any(counts.values()):
        return None
    kind = max(counts, key=counts.__getitem__)  # the first listed among equals
    n = counts[kind]
    zh, one, many = phrases[kind]
    return Reason("popularity", zh.format(n=n), (one if n == 1 else many).format(n=n))


# A candidate's relations by the kind of profile at the other end, in the words of its role:
# Chinese, English singular, English plural.
RELATION_PHRASES: Final[dict[EntityKind, dict[EntityKind, tuple[str, str, str]]]] = {
    EntityKind.startup: {
        EntityKind.investor: ("已获{n}家机构投资", "backed by {n} investor", "backed by {n} investors"),
        EntityKind.space: ("入驻过{n}个孵化空间", "incubated in {n} space", "incubated in {n} spaces"),
        EntityKind.mentor: ("获{n}位导师辅导", "mentored by {n} mentor", "mentored by {n} mentors"),
    },
    EntityKind.space: {
        EntityKind.startup: ("已孵化{n}家企业", "has hosted {n} startup", "has hosted {n} startups")
    },
    EntityKind.mentor: {
        EntityKind.startup: ("辅导过{n}家企业", "has mentored {n} startup", "has mentored {n} startups")
    },
    EntityKind.practice_base: {
        EntityKind.person: ("已接收{n}名实习生", "has taken {n} intern", "has taken {n} interns")
    },
    EntityKind.post: {EntityKind.person: ("已录用{n}人", "has placed {n} person", "has placed {n} people")},
}


EXPLAINERS: dict[str, Callable[[ExplainContext], Reason | None]] = {
    "industry": _shared_industry,
    "stage": _stage,
    "ticket": _ticket,
    "proximity": _proximity,
    "capacity": _capacity,
    "semantic": _text,
    "lexical": _text,
    "graph_proximity": _graph,
    "graph_overlap": _overlap,
    "recency": _recency,
    "applied": _applied,
    "popularity": _popularity,
    "segment_popularity": _popularity,
    "peer_investors": _graph,
    "industry_share": _shared_industry,
    "stage_share": _stage,
    "place_share": _local,
    "activity_90": _recency,
    "activity_365": _recency,
    "recent_popularity": _popularity,
    "co_investment": _graph,
    **dict.fromkeys(GEOGRAPHY_FEATURES, _local),
}


GRAPH_FEATURES = ("graph_proximity", "graph_overlap")


def reasons(
    ctx: ExplainContext, contributions: Mapping[str, float], config: ExplainConfig
) -> tuple[Reason, ...]:
    """Sentences for the strongest contributions, strongest first, one per kind of reason.

    A relation in the graph and a place ("backed 5 companies in Wuhan") are the most checkable
    reasons there are, so when they counted at all they are added even if other features
    counted more.
    """
    chosen: list[Reason] = []
    _add(chosen, _applied(ctx))  # an application is what its receiver looks for first
    ranked = sorted(contributions.items(), key=lambda item: (-item[1], item[0]))
    for feature, value in ranked:
        if len(chosen) == config.max_reasons or (value < config.min_contribution and chosen):
            break
        _add(chosen, EXPLAINERS[feature](ctx))
    for family in (GRAPH_FEATURES, GEOGRAPHY_FEATURES):
        if not any(r.feature in family for r in chosen):
            for feature in family:
                if contributions.get(feature, 0.0) >= config.min_contribution and _add(
                    chosen, EXPLAINERS[feature](ctx)
                ):
                    break
    return tuple(chosen)


def _add(chosen: list[Reason], reason: Reason | None) -> bool:
    if reason is None or any(r.zh == reason.zh for r in chosen):
        return False
    chosen.append(reason)
    return True
