"""The 创业邦 (cyzone.cn) investment events, 2010-2015 and 2018-2019, mapped into our domain.

The data is read where it lies (``Settings().shared_data_dir / "china-cyzone-investment-events"``)
and never copied into the repository; its README says it is for internal offline evaluation
only. Events become Create-shaped records for ``startups``, ``investors`` and ``interactions``
and enter the database through `models.transfer.import_records`, the same path a user's bulk
import takes, so the schemas and their checks apply to them too.

What is kept: venture rounds only (`map_cyzone_round` gives a stage; IPOs, 新三板, M&A,
debt, crowdfunding and unknown rounds are dropped), disclosed investors only (id 9999999 /
未透露 are dropped), and investees whose industry tags map to at least one industry (a startup
profile needs one). An investor's thesis summarises what it did before ``until`` only (its
most frequent industry tags, rounds and cities), as a fund's profile page would; it gets no
structured industries or stages, which the matcher enforces as hard rules and so would bar
an investor from every field it had not entered yet.

The early-stage protocol (`cyzone_early_queries`): history is the events before the split's
``history_end``; each query is a test-period 种子轮/天使轮/Pre-A/A轮/A+轮 event with at least
one disclosed investor seen in history, the candidates are every investor seen in history, and
the truth is the event's disclosed investors seen in history. The query startup carries only
what a new founder would type in: its name, industry tags, round and the place of its
registered company name (country, province, city and, in Wuhan, the district when named).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import functools
import gzip
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

from sqlalchemy.orm import Session, sessionmaker

from matcher.evaluation.protocol import Fold, Query, spread_sample
from matcher.evaluation.split import TemporalSplit
from models.enums import EntityKind, InteractionKind, InvestorType
from models.kinds import KINDS
from models.places import CITIES, location_from_company_name
from models.settings import Settings
from models.shipped import shipped_toml
from models.taxonomy import (
    STAGES,
    find_industry,
    industry_ancestors,
    normalize_stage,
    spelling_key,
)
from models.transfer import import_records

__all__ = [
    "CYZONE_AMBIGUOUS_TAGS",
    "CYZONE_PLACEHOLDER_TAGS",
    "CYZONE_SPLIT",
    "DATASET_DIR_NAME",
    "EARLY_ROUNDS",
    "EVENTS_FILE",
    "INVESTORS_FILE",
    "CyzoneEvent",
    "Query",
    "cyzone_data_dir",
    "cyzone_early_queries",
    "cyzone_folds",
    "cyzone_records",
    "early_fold",
    "early_queries",
    "founder_description",
    "history_investor_ids",
    "import_cyzone",
    "investor_thesis",
    "load_cyzone",
    "map_cyzone_industries",
    "map_cyzone_round",
    "read_cyzone_events",
    "read_investor_names",
    "registered_city",
    "wuhan_district",
]

DATASET_DIR_NAME: Final = "china-cyzone-investment-events"
EVENTS_FILE: Final = "events_2010-2015_2018-2019.csv.gz"
INVESTORS_FILE: Final = "investors.csv"
UNDISCLOSED_ID: Final = "9999999"
UNDISCLOSED_NAME: Final = "未透露"
# cyzone's terms, with where each choice comes from (data file).
_DATA: Final = shipped_toml("cyzone.toml", package="matcher")
EARLY_ROUNDS: Final = frozenset(_DATA["early_rounds"])

STARTUP_PREFIX: Final = "cz-S-"
INVESTOR_PREFIX: Final = "cz-I-"
INTERACTION_PREFIX: Final = "cz-X-"
QUERY_PREFIX: Final = "cz-Q-"
MAX_INDUSTRIES: Final = 20  # the schema's IndustryList limit
# How much of an investor's history its thesis names: enough to say what it backs, short
# enough that a one-off deal does not read as a focus.
THESIS_TAGS: Final = 12
THESIS_ROUNDS: Final = 3
THESIS_CITIES: Final = 3
BEIJING_MIDNIGHT: Final = "T00:00:00+08:00"
# History is 2010-2015; the test period is 2018-2019 (the dataset has nothing in between).
CYZONE_SPLIT: Final = TemporalSplit(history_end=dt.date(2016, 1, 1), test_start=dt.date(2018, 1, 1))


# cyzone's "nothing here" markers and its tags too ambiguous to alias (see cyzone.toml).
CYZONE_PLACEHOLDER_TAGS: Final[frozenset[str]] = frozenset(_DATA["placeholder_tags"])
CYZONE_AMBIGUOUS_TAGS: Final[frozenset[str]] = frozenset(_DATA["ambiguous_tags"])


def _split_tags(tags: str | Sequence[str]) -> list[str]:
    raw = re.split(r"[,，]", tags) if isinstance(tags, str) else list(tags)
    return [t.strip() for t in raw if t and t.strip()]


def map_cyzone_industries(tags: str | Sequence[str]) -> list[str]:
    """Industry codes for one cyzone ``industries`` value (comma list or list of tags).

    Each known tag contributes its own (most specific) code. An unknown or ambiguous tag
    contributes the code of the row's top-level tag instead: that is the known tag with
    the shortest ancestor chain, not simply the first tag, because cyzone writes many
    rows leaf first. Placeholders such as 未透露 and unknown rows yield nothing; this
    function never raises on tag content. Codes are de-duplicated in first-seen order.
    """
    cleaned = [t for t in _split_tags(tags) if t not in CYZONE_PLACEHOLDER_TAGS]
    per_tag = [None if t in CYZONE_AMBIGUOUS_TAGS else find_industry(t) for t in cleaned]
    known = [c for c in per_tag if c is not None]
    top = min(known, key=lambda c: len(industry_ancestors(c))) if known else None
    out: list[str] = []
    for code in per_tag:
        chosen = code if code is not None else top
        if chosen is not None and chosen not in out:
            out.append(chosen)
    return out


# Crunchbase 2013 category_code -> industry. Broad categories map to a sector or a

# cyzone series values that are not venture rounds of a start-up. They are public-market
# or secondary transactions (IPO, 新三板 listing/placement, 定增 by listed companies,
# 股权转让, 私有化), debt, M&A, or carry no stage information (众筹 is used for any size,
# 未披露/不明确 mean unknown).
_CYZONE_NON_VENTURE: Final[frozenset[str]] = frozenset(
    spelling_key(s)
    for s in (
        "IPO",
        "上市（非IPO）",
        "并购",
        "新三板定增",
        "新三板挂牌",
        "上市公司定增",
        "股权转让",
        "债权融资",
        "私有化",
        "众筹",
        "未披露",
        "不明确",
    )
)


def map_cyzone_round(series: str) -> str | None:
    """Stage code for a cyzone ``series`` value, or None for non-venture rounds.

    种子轮->seed, 天使轮->angel, Pre-A->pre_a, A轮->a, A+轮/Pre-B->a_plus, B轮/B+轮/Pre-C->b,
    C轮 ... F+轮, Pre-D..Pre-F and Pre-IPO -> c_plus, 战略投资->strategic. None for blank
    and for the non-venture values listed in `_CYZONE_NON_VENTURE`. A value that is
    neither raises UnknownTermError, so new cyzone round names get noticed.
    """
    if not series.strip() or spelling_key(series) in _CYZONE_NON_VENTURE:
        return None
    return normalize_stage(series)


@dataclass(frozen=True)
class CyzoneEvent:
    """One venture-round event with its disclosed investors (id, name), in file order."""

    event_id: str
    investee_id: str
    shortname: str
    fullname: str
    series: str
    stage: str
    industry_tags: str
    industries: tuple[str, ...]
    investors: tuple[tuple[str, str], ...]
    occurred_on: dt.date


def cyzone_data_dir(settings: Settings | None = None) -> Path:
    return (settings or Settings()).shared_data_dir / DATASET_DIR_NAME


# --- reading ------------------------------------------------------------------------------


def _open_text(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _disclosed(ids: str, names: str) -> tuple[tuple[str, str], ...]:
    id_list = [part.strip() for part in ids.split(",")]
    name_list = [part.strip() for part in names.split(",")]
    if len(name_list) != len(id_list):
        # The names cell is sometimes cut short; ids are authoritative, names optional.
        name_list = [""] * len(id_list)
    pairs = {
        investor_id: name.removesuffix("...").strip()
        for investor_id, name in zip(id_list, name_list, strict=True)
        if investor_id.isdigit() and investor_id != UNDISCLOSED_ID and name != UNDISCLOSED_NAME
    }
    return tuple(pairs.items())


def read_cyzone_events(data_dir: Path, *, every: int = 1) -> list[CyzoneEvent]:
    """Venture-round events of ``data_dir / EVENTS_FILE``, first row per event id kept.

    ``every`` keeps only every n-th data row (a cheap, spread-out sample for smoke tests).
    An unknown round name raises `UnknownTermError`, so new cyzone rounds get noticed.
    """
    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    events: dict[str, CyzoneEvent] = {}
    with _open_text(data_dir / EVENTS_FILE) as handle:
        for number, row in enumerate(csv.DictReader(handle)):
            if number % every:
                continue
            event = _event(row)
            if event is not None:
                events.setdefault(event.event_id, event)
    return list(events.values())


def _event(row: Mapping[str, str]) -> CyzoneEvent | None:
    series = row["series"].strip()
    stage = map_cyzone_round(series)
    if stage is None:
        return None
    tags = row["industries"].strip()
    return CyzoneEvent(
        event_id=row["event_id"].strip(),
        investee_id=row["investee_id"].strip(),
        shortname=row["investee_shortname"].strip(),
        fullname=row["investee_fullname"].strip(),
        series=series,
        stage=stage,
        industry_tags=tags,
        industries=tuple(map_cyzone_industries(tags)[:MAX_INDUSTRIES]),
        investors=_disclosed(row["investor_ids"], row["investor_names"]),
        occurred_on=dt.date.fromisoformat(row["date"].strip()),
    )


def read_investor_names(data_dir: Path) -> dict[str, str]:
    """investor_id -> full name from ``investors.csv`` (the event cells truncate long lists);
    empty when the file is absent."""
    path = data_dir / INVESTORS_FILE
    if not path.exists():
        return {}
    with _open_text(path) as handle:
        return {
            row["investor_id"].strip(): row["investor_name"].strip()
            for row in csv.DictReader(handle)
            if row["investor_name"].strip()
        }


# --- mapping into our domain ----------------------------------------------------------


def registered_city(fullname: str) -> str | None:
    """The city (中文) a registered company name puts its seat in, branch forms included
    (``XX（武汉）有限公司``); None when the name names no city."""
    city = location_from_company_name(fullname).city
    return CITIES[city].zh if city is not None and city in CITIES else None


def wuhan_district(fullname: str) -> str | None:
    """An area code when the registered name puts the company in a district or zone of Wuhan
    (武汉市江岸区…, 武汉光谷…); otherwise None: we never guess where in Wuhan it is."""
    return location_from_company_name(fullname).district


def _tags(event: CyzoneEvent) -> list[str]:
    return [tag.strip() for tag in event.industry_tags.replace("，", ",").split(",") if tag.strip()]


def founder_description(event: CyzoneEvent) -> str:
    """The profile text a founder would write: city, industry tags and current round."""
    parts = []
    city = registered_city(event.fullname)
    if city is not None:
        parts.append(f"所在城市：{city}")
    tags = "、".join(_tags(event))
    if tags:
        parts.append(f"行业：{tags}")
    stage = STAGES[event.stage].zh
    parts.append(f"融资轮次：{event.series}" + ("" if stage == event.series else f"（{stage}）"))
    return "；".join(parts) + "。"


def investor_thesis(portfolio: Sequence[CyzoneEvent]) -> str:
    """An investor's focus read off the events it took part in (in the words founders use):
    its most frequent industry tags, rounds and company cities."""
    tags = Counter(tag for event in portfolio for tag in _tags(event))
    rounds = Counter(event.series for event in portfolio)
    cities = Counter(city for event in portfolio if (city := registered_city(event.fullname)) is not None)
    parts = [
        f"{label}：" + "、".join(term for term, _ in counts.most_common(limit))
        for label, counts, limit in (
            ("投资领域", tags, THESIS_TAGS),
            ("投资轮次", rounds, THESIS_ROUNDS),
            ("投资城市", cities, THESIS_CITIES),
        )
        if counts
    ]
    return "；".join(parts) + "。" if parts else ""


def _startup_record(event: CyzoneEvent, external_id: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "external_id": external_id,
        "name": event.shortname or event.fullname,
        "industries": list(event.industries),
        "stage": event.stage,
        "description": founder_description(event),
    }
    return record | location_from_company_name(event.fullname).fields()


def _chronological(events: Iterable[CyzoneEvent]) -> list[CyzoneEvent]:
    return sorted(events, key=lambda e: (e.occurred_on, e.event_id))


def _usable(event: CyzoneEvent) -> bool:
    return bool(event.industries) and bool(event.shortname or event.fullname)


def cyzone_records(
    events: Iterable[CyzoneEvent],
    *,
    until: dt.date | None = None,
    investor_names: Mapping[str, str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Create-shaped records per kind slug for the events dated before ``until``.

    A startup is described by its most recent usable event (name, industries, stage); an
    investor is named from ``investor_names`` or else from its first event, and described by
    `investor_thesis` over its events before ``until``.
    """
    names = investor_names or {}
    kept = [e for e in _chronological(events) if _usable(e) and (until is None or e.occurred_on < until)]
    latest: dict[str, CyzoneEvent] = {e.investee_id: e for e in kept}
    investors: dict[str, str] = {}
    portfolios: defaultdict[str, list[CyzoneEvent]] = defaultdict(list)
    interactions: list[dict[str, Any]] = []
    for event in kept:
        for investor_id, event_name in event.investors:
            investors.setdefault(investor_id, names.get(investor_id) or event_name or f"投资方 {investor_id}")
            portfolios[investor_id].append(event)
            interactions.append(
                {
                    "external_id": f"{INTERACTION_PREFIX}{event.event_id}-{investor_id}",
                    "actor_kind": EntityKind.investor.value,
                    "actor_external_id": f"{INVESTOR_PREFIX}{investor_id}",
                    "target_kind": EntityKind.startup.value,
                    "target_external_id": f"{STARTUP_PREFIX}{event.investee_id}",
                    "kind": InteractionKind.invested.value,
                    "occurred_at": event.occurred_on.isoformat() + BEIJING_MIDNIGHT,
                    "note": event.series,
                }
            )
    return {
        "startups": [_startup_record(e, f"{STARTUP_PREFIX}{sid}") for sid, e in latest.items()],
        "investors": [
            {
                "external_id": f"{INVESTOR_PREFIX}{investor_id}",
                "name": name,
                "investor_type": InvestorType.vc.value,
                "thesis": investor_thesis(portfolios[investor_id]),
            }
            for investor_id, name in investors.items()
        ],
        "interactions": interactions,
    }


def import_cyzone(
    factory: sessionmaker[Session],
    events: Iterable[CyzoneEvent],
    *,
    until: dt.date | None = None,
    investor_names: Mapping[str, str] | None = None,
    secret: str,
) -> dict[str, int]:
    """Import the events before ``until`` through `import_records`; rows written per kind."""
    records = cyzone_records(events, until=until, investor_names=investor_names)
    counts: dict[str, int] = {}
    for slug in ("startups", "investors", "interactions"):  # interactions refer to the other two
        report = import_records(factory, KINDS[slug], records[slug], secret=secret)
        counts[slug] = report.created + report.updated
    return counts


def load_cyzone(
    factory: sessionmaker[Session], data_dir: Path, *, until: dt.date | None = None, secret: str
) -> dict[str, int]:
    """Read the dataset in ``data_dir`` and import its history before ``until``."""
    return import_cyzone(
        factory,
        read_cyzone_events(data_dir),
        until=until,
        investor_names=read_investor_names(data_dir),
        secret=secret,
    )


# --- the early-stage protocol ---------------------------------------------------------


def history_investor_ids(events: Iterable[CyzoneEvent], until: dt.date) -> frozenset[str]:
    """External ids of every investor `cyzone_records` imports for history before ``until``:
    the candidate set of the protocol."""
    return frozenset(
        f"{INVESTOR_PREFIX}{investor_id}"
        for event in events
        if _usable(event) and event.occurred_on < until
        for investor_id, _ in event.investors
    )


def early_queries(events: Sequence[CyzoneEvent], split: TemporalSplit) -> list[Query]:
    """The protocol's queries, in date order (see the module docstring)."""
    history, test = split.partition(_chronological(events))
    seen = history_investor_ids(history, split.history_end)
    queries: list[Query] = []
    for event in test:
        if event.series not in EARLY_ROUNDS or not event.industries:
            continue
        truth = frozenset(f"{INVESTOR_PREFIX}{i}" for i, _ in event.investors) & seen
        if not truth:
            continue
        startup = _startup_record(event, f"{QUERY_PREFIX}{event.event_id}")
        queries.append(Query(event.event_id, startup, truth, event.occurred_on))
    split.assert_no_leak(history, queries)
    return queries


def cyzone_early_queries(data_dir: Path, split: TemporalSplit) -> list[Query]:
    return early_queries(read_cyzone_events(data_dir), split)


def cyzone_folds(data_dir: Path, *, sample: int | None = None) -> list[Fold]:
    """The cyzone-early protocol as one fold: the history before 2016 as records, the early
    2018-2019 rounds as queries (``sample`` of them, spread evenly over time, when given)."""
    events = read_cyzone_events(data_dir)
    fold = early_fold(events, CYZONE_SPLIT, investor_names=read_investor_names(data_dir))
    return [dataclasses.replace(fold, queries=spread_sample(fold.queries, sample))]


def early_fold(
    events: Sequence[CyzoneEvent], split: TemporalSplit, *, investor_names: Mapping[str, str] | None = None
) -> Fold:
    """The early-stage protocol's fold for ``split``; it rewinds to any earlier cut by building
    the same fold from the history's events alone (see `Fold.rewind`)."""
    history = [e for e in events if e.occurred_on < split.history_end]
    return Fold(
        name="cyzone-early",
        records=cyzone_records(events, until=split.history_end, investor_names=investor_names),
        queries=early_queries(events, split),
        candidates=history_investor_ids(events, split.history_end),
        history_end=split.history_end,
        rewind=functools.partial(_rewound, history, investor_names),
    )


def _rewound(
    history: Sequence[CyzoneEvent], investor_names: Mapping[str, str] | None, cut: dt.date, until: dt.date
) -> Fold:
    """The fold as it stood at ``cut``: theses and startups from the events before it, the early
    rounds from ``cut`` to ``until`` as queries."""
    inside = [e for e in history if e.occurred_on < until]
    split = TemporalSplit(history_end=cut, test_start=cut)
    return dataclasses.replace(early_fold(inside, split, investor_names=investor_names), rewind=None)
