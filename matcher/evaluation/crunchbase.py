"""The Crunchbase 2013 snapshot (US venture rounds and investor→company edges) mapped into our domain.

The data is read where it lies (``Settings().shared_data_dir / "crunchbase-2013"``) and never
copied; it is CC-BY(-NC) Crunchbase data, used for non-commercial offline evaluation only.

The edges file (company name, investor name, date, round size) is the backbone. A company's
category, location and founding date come from the snapshot's companies table, else from its
rounds or acquisitions rows (static attributes, so the 2013 snapshot leaks nothing about later
rounds); a round's type comes from the rounds table joined on (company name, date). Edges
without a date are dropped: they cannot be placed in time.

The ``crunchbase-2013`` protocol (`crunchbase_folds`): history is every edge dated before
2012-01-01; each query is a (company, date) round from 2012-01-01 on with at least one investor
seen in history; the truth is that round's investors seen in history that had not backed the
company in an earlier round (a follow-on is not a recommendation); the candidates are every
investor seen in history. A query is ``cold`` when its company has no edge before 2012, else
``warm-new`` (a round with only follow-on money asks nothing and is left out). Each query's
startup is a new profile (``cb-Q-…``), described only by what a founder would enter: name,
category, round, round size, location and founding date; its earlier rounds' backers are the
query's ``known`` investors, whom no method may offer (a founder's profile holds them, and the
product never shows a counterpart one is already related to) and whom the matcher's query
profile holds as relations (implicit ALS folds them in; `MatcherWorld.asking`).

Every startup profile needs an industry and a stage. A company without a usable category gets
`UNKNOWN_INDUSTRY`, the information-technology sector root, the least specific claim about a
Crunchbase 2013 company; a round whose type names no rung is placed by its size
(`stage_for_amount`), else on `UNKNOWN_STAGE`.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import difflib
import functools
import gzip
import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from matcher.evaluation.cyzone import BEIJING_MIDNIGHT
from matcher.evaluation.protocol import Fold, Query, spread_sample
from matcher.evaluation.split import TemporalSplit
from models.enums import EntityKind, InteractionKind, InvestorType
from models.places import Location, PlaceConflictError, resolve_location
from models.shipped import shipped_toml
from models.taxonomy import UnknownTermError, normalize_stage

__all__ = [
    "DATASET_DIR_NAME",
    "HISTORY_END",
    "UNKNOWN_INDUSTRY",
    "UNKNOWN_STAGE",
    "CompanyProfile",
    "Edge",
    "FundingRound",
    "crunchbase_folds",
    "crunchbase_records",
    "crunchbase_rounds",
    "founder_description",
    "map_crunchbase_category",
    "map_crunchbase_round",
    "name_id",
    "read_company_profiles",
    "read_edges",
    "read_round_types",
    "round_fold",
    "stage_for_amount",
    "startup_record",
]

DATASET_DIR_NAME: Final = "crunchbase-2013"
EDGES_FILE: Final = "investor-company-edges-2013.csv.gz"
COMPANIES_FILE: Final = "crunchbase-companies.csv.gz"
ROUNDS_FILE: Final = "crunchbase-rounds.csv.gz"
ACQUISITIONS_FILE: Final = "crunchbase-acquisitions.csv.gz"
SNAPSHOT_ENCODING: Final = "cp1252"  # the three datahoarder tables; the edges file is UTF-8

HISTORY_END: Final = dt.date(2012, 1, 1)
SPLIT: Final = TemporalSplit(history_end=HISTORY_END, test_start=HISTORY_END)

STARTUP_PREFIX: Final = "cb-S-"
INVESTOR_PREFIX: Final = "cb-I-"
INTERACTION_PREFIX: Final = "cb-X-"
QUERY_PREFIX: Final = "cb-Q-"

UNKNOWN_INDUSTRY: Final = "information_technology"
UNKNOWN_STAGE: Final = "a"  # series-a is the commonest typed round in the snapshot
# The snapshot's terms in our vocabularies, with where each choice comes from (data file).
_DATA: Final = shipped_toml("crunchbase.toml", package="matcher")
# Round-size bands (USD): below the first limit, that band's stage (see crunchbase.toml).
STAGE_BANDS_USD: Final[tuple[tuple[int, str], ...]] = tuple(
    (int(limit), str(stage)) for limit, stage in _DATA["stage_bands_usd"]
)
LATE_STAGE: Final = "c_plus"
USD_TO_CNY: Final = 6.3  # the 2012 average rate: rounds are asked for in CNY on the platform
SLUG_CHARS: Final = 40


def _mapping(table: dict[str, Any]) -> Mapping[str, str | None]:
    """A [categories] or [rounds] table of crunchbase.toml: term -> code, unmapped terms -> None."""
    mapped = {term: code for term, code in table.items() if term != "unmapped"}
    return MappingProxyType(mapped | dict.fromkeys(table["unmapped"]["terms"]))


_CRUNCHBASE_CATEGORIES: Final = _mapping(_DATA["categories"])


def map_crunchbase_category(category_code: str) -> str | None:
    """Industry code for a Crunchbase 2013 ``category_code``.

    None for blank values and for government/nonprofit/other; UnknownTermError for a
    value that is not one of the 42 Crunchbase categories (a typo should not vanish).
    """
    value = category_code.strip().casefold()
    if not value:
        return None
    if value not in _CRUNCHBASE_CATEGORIES:
        suggestions = difflib.get_close_matches(value, _CRUNCHBASE_CATEGORIES, n=3)
        raise UnknownTermError("Crunchbase category", category_code, suggestions)
    return _CRUNCHBASE_CATEGORIES[value]


_CRUNCHBASE_ROUNDS: Final = _mapping(_DATA["rounds"])


def map_crunchbase_round(round_type: str) -> str | None:
    """Stage code for a Crunchbase ``funding_round_type``; None where it has no rung.

    Values outside the Crunchbase list go through `normalize_stage` (so "series-d"
    works) and raise UnknownTermError if that fails too.
    """
    value = round_type.strip().casefold()
    if not value:
        return None
    if value in _CRUNCHBASE_ROUNDS:
        return _CRUNCHBASE_ROUNDS[value]
    return normalize_stage(round_type)


@dataclass(frozen=True)
class CompanyProfile:
    """What a founder would say about the company, independent of any round."""

    category_code: str
    city: str
    region: str
    state_code: str
    country_code: str
    founded_on: dt.date | None


@dataclass(frozen=True)
class Edge:
    company: str
    investor: str
    occurred_on: dt.date
    amount_usd: int | None


@dataclass(frozen=True)
class FundingRound:
    """Every edge of one company on one day: a round and its investors (in file order)."""

    company: str
    occurred_on: dt.date
    investors: tuple[str, ...]
    amount_usd: int | None
    round_type: str

    @property
    def event_id(self) -> str:
        return f"{self.company}@{self.occurred_on.isoformat()}"


# --- reading ------------------------------------------------------------------------------


def _rows(path: Path, encoding: str) -> Iterator[dict[str, str]]:
    with gzip.open(path, "rt", encoding=encoding, newline="") as handle:
        yield from csv.DictReader(handle)


def _day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        return None


def _amount(value: str) -> int | None:
    try:
        return int(float(value)) if value.strip() else None
    except ValueError:
        return None


def read_edges(data_dir: Path) -> list[Edge]:
    """Dated investor→company edges, exact duplicates dropped, in file order."""
    edges: dict[Edge, None] = {}
    for row in _rows(data_dir / EDGES_FILE, "utf-8"):
        day = _day(row["funded_when"])
        company, investor = row["company_name"].strip(), row["investor_name"].strip()
        if day is not None and company and investor:
            edges.setdefault(Edge(company, investor, day, _amount(row["amount_usd"])), None)
    return list(edges)


def read_company_profiles(data_dir: Path) -> dict[str, CompanyProfile]:
    """Company name → profile, from the companies table first, then rounds, then acquisitions."""
    profiles: dict[str, CompanyProfile] = {}
    for row in _rows(data_dir / COMPANIES_FILE, SNAPSHOT_ENCODING):
        profiles.setdefault(row["name"].strip(), _profile(row, "", _day(row["founded_at"])))
    for row in _rows(data_dir / ROUNDS_FILE, SNAPSHOT_ENCODING):
        profiles.setdefault(row["company_name"].strip(), _profile(row, "company_", None))
    for row in _rows(data_dir / ACQUISITIONS_FILE, SNAPSHOT_ENCODING):
        for side in ("company_", "acquirer_"):
            profiles.setdefault(row[f"{side}name"].strip(), _profile(row, side, None))
    return profiles


def _profile(row: Mapping[str, str], prefix: str, founded_on: dt.date | None) -> CompanyProfile:
    return CompanyProfile(
        category_code=row[f"{prefix}category_code"].strip(),
        city=row[f"{prefix}city"].strip(),
        region=row[f"{prefix}region"].strip(),
        state_code=row[f"{prefix}state_code"].strip(),
        country_code=row.get(f"{prefix}country_code", "").strip(),
        founded_on=founded_on,
    )


def read_round_types(data_dir: Path) -> dict[tuple[str, dt.date], str]:
    """(company name, day) → ``funding_round_type``; the first row wins where a day has several."""
    types: dict[tuple[str, dt.date], str] = {}
    for row in _rows(data_dir / ROUNDS_FILE, SNAPSHOT_ENCODING):
        day = _day(row["funded_at"])
        if day is not None:
            types.setdefault((row["company_name"].strip(), day), row["funding_round_type"].strip())
    return types


def crunchbase_rounds(
    edges: Iterable[Edge], round_types: Mapping[tuple[str, dt.date], str]
) -> list[FundingRound]:
    """Edges grouped by (company, day), in date order."""
    grouped: dict[tuple[str, dt.date], list[Edge]] = defaultdict(list)
    for edge in edges:
        grouped[(edge.company, edge.occurred_on)].append(edge)
    rounds = [
        FundingRound(
            company=company,
            occurred_on=day,
            investors=tuple(dict.fromkeys(edge.investor for edge in group)),
            amount_usd=next((edge.amount_usd for edge in group if edge.amount_usd is not None), None),
            round_type=round_types.get((company, day), ""),
        )
        for (company, day), group in grouped.items()
    ]
    return sorted(rounds, key=lambda r: (r.occurred_on, r.company))


# --- mapping into our domain ----------------------------------------------------------


def name_id(prefix: str, name: str) -> str:
    """A readable external id for a name: its slug plus a hash of the exact name, so two names
    that slug alike never share an id."""
    slug = re.sub(r"[^0-9a-z_.\-]+", "-", name.casefold()).strip("-")[:SLUG_CHARS]
    digest = hashlib.sha1(name.encode("utf-8"), usedforsecurity=False).hexdigest()[:8]
    return f"{prefix}{slug}-{digest}"


def stage_for_amount(amount_usd: int | None) -> str | None:
    if amount_usd is None:
        return None
    return next((stage for limit, stage in STAGE_BANDS_USD if amount_usd < limit), LATE_STAGE)


def _stage(funding_round: FundingRound) -> str:
    return (
        map_crunchbase_round(funding_round.round_type)
        or stage_for_amount(funding_round.amount_usd)
        or UNKNOWN_STAGE
    )


def _industries(profile: CompanyProfile | None) -> list[str]:
    industry = map_crunchbase_category(profile.category_code) if profile is not None else None
    return [industry or UNKNOWN_INDUSTRY]


def founder_description(funding_round: FundingRound, profile: CompanyProfile | None) -> str:
    """The profile text a founder would write: category, location, round and its size."""
    parts = []
    if profile is not None and profile.category_code:
        parts.append(f"Category: {profile.category_code.replace('_', ' ')}.")
    if profile is not None:
        place = ", ".join(dict.fromkeys(p for p in (profile.city, profile.region, profile.state_code) if p))
        if place:
            parts.append(f"Based in {place}.")
    kind = funding_round.round_type.replace("-", " ") if funding_round.round_type else "funding"
    size = f" of ${funding_round.amount_usd:,}" if funding_round.amount_usd is not None else ""
    parts.append(f"Raising a {kind} round{size}.")
    return " ".join(parts)


def company_location(profile: CompanyProfile) -> Location:
    """The company's place from its city, state and country columns; where the snapshot's
    columns contradict each other (a few rows do), the city alone."""
    city, country = profile.city or None, profile.country_code or None
    try:
        return resolve_location(country=country, province=profile.state_code or None, city=city)
    except PlaceConflictError:
        return resolve_location(city=city)


def startup_record(
    funding_round: FundingRound, profile: CompanyProfile | None, external_id: str
) -> dict[str, Any]:
    """A StartupCreate-shaped profile of the company as of ``funding_round``."""
    record: dict[str, Any] = {
        "external_id": external_id,
        "name": funding_round.company,
        "industries": _industries(profile),
        "stage": _stage(funding_round),
        "description": founder_description(funding_round, profile),
    }
    if funding_round.amount_usd is not None:
        record["funding_ask_cny"] = round(funding_round.amount_usd * USD_TO_CNY)
    if profile is not None:
        record |= company_location(profile).fields()
    if (
        profile is not None
        and profile.founded_on is not None
        and profile.founded_on <= funding_round.occurred_on
    ):
        record["founded_on"] = profile.founded_on.isoformat()
    return record


def _interaction(funding_round: FundingRound, investor: str) -> dict[str, Any]:
    key = f"{funding_round.event_id}|{investor}".encode()
    return {
        "external_id": INTERACTION_PREFIX + hashlib.sha1(key, usedforsecurity=False).hexdigest()[:20],
        "actor_kind": EntityKind.investor.value,
        "actor_external_id": name_id(INVESTOR_PREFIX, investor),
        "target_kind": EntityKind.startup.value,
        "target_external_id": name_id(STARTUP_PREFIX, funding_round.company),
        "kind": InteractionKind.invested.value,
        "occurred_at": funding_round.occurred_on.isoformat() + BEIJING_MIDNIGHT,
        "note": funding_round.round_type,
    }


def crunchbase_records(
    history: Sequence[FundingRound], profiles: Mapping[str, CompanyProfile]
) -> dict[str, list[dict[str, Any]]]:
    """Create-shaped records per kind slug for the given (history) rounds.

    A startup is described as of its latest round; investors get a name only: industries,
    stages or a thesis would summarise their whole history.
    """
    latest = {r.company: r for r in sorted(history, key=lambda r: r.occurred_on)}
    investors = dict.fromkeys(investor for r in history for investor in r.investors)
    return {
        "startups": [
            startup_record(r, profiles.get(company), name_id(STARTUP_PREFIX, company))
            for company, r in latest.items()
        ],
        "investors": [
            {
                "external_id": name_id(INVESTOR_PREFIX, name),
                "name": name,
                "investor_type": InvestorType.vc.value,
            }
            for name in investors
        ],
        "interactions": [_interaction(r, investor) for r in history for investor in r.investors],
    }


# --- the protocol ---------------------------------------------------------------------


def crunchbase_folds(data_dir: Path, *, sample: int | None = None) -> list[Fold]:
    """The ``crunchbase-2013`` protocol's single temporal fold (see the module docstring)."""
    rounds = crunchbase_rounds(read_edges(data_dir), read_round_types(data_dir))
    fold = round_fold(rounds, read_company_profiles(data_dir), SPLIT)
    return [dataclasses.replace(fold, queries=spread_sample(fold.queries, sample))]


def round_fold(
    rounds: Sequence[FundingRound], profiles: Mapping[str, CompanyProfile], split: TemporalSplit
) -> Fold:
    """The protocol's fold for ``split``; it rewinds to any earlier cut by building the same fold
    from the history's rounds alone (see `Fold.rewind`)."""
    history, test = split.partition(rounds)
    seen = {investor for r in history for investor in r.investors}
    known_companies = {r.company for r in history}
    backers: defaultdict[str, set[str]] = defaultdict(set)
    for r in history:
        backers[r.company].update(r.investors)
    queries: list[Query] = []
    for r in sorted(test, key=lambda r: r.occurred_on):
        new = [i for i in r.investors if i in seen and i not in backers[r.company]]
        known = frozenset(name_id(INVESTOR_PREFIX, i) for i in backers[r.company] if i in seen)
        backers[r.company].update(r.investors)
        if new:
            truth = frozenset(name_id(INVESTOR_PREFIX, i) for i in new)
            startup = startup_record(r, profiles.get(r.company), name_id(QUERY_PREFIX, r.event_id))
            segment = "warm-new" if r.company in known_companies else "cold"
            queries.append(Query(r.event_id, startup, truth, r.occurred_on, segment, known))
    split.assert_no_leak(history, queries)
    return Fold(
        name="crunchbase-2013",
        records=crunchbase_records(history, profiles),
        queries=queries,
        candidates=frozenset(name_id(INVESTOR_PREFIX, i) for i in seen),
        history_end=split.history_end,
        rewind=functools.partial(_rewound, history, profiles),
    )


def _rewound(
    history: Sequence[FundingRound], profiles: Mapping[str, CompanyProfile], cut: dt.date, until: dt.date
) -> Fold:
    inside = [r for r in history if r.occurred_on < until]
    split = TemporalSplit(history_end=cut, test_start=cut)
    return dataclasses.replace(round_fold(inside, profiles, split), rewind=None)
