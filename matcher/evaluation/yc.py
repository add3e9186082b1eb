"""Y Combinator companies of 2005-2014 and their investors, mapped into our domain.

The data is read where it lies (``Settings().shared_data_dir / "yc-companies"``, the
``yc_2005_2014_startups_with_investors.csv`` file, CC BY-SA 4.0, aggregated from SeedDB,
CrunchBase and AngelList in 2014) and never copied.

The ``yc-2005-2014`` protocol (`yc_folds`) ranks investors for each company from its description
text, leave-one-out by batch: one fold per YC batch (year and session); its history is every
other batch's companies, investors and investment edges; its queries are the batch's companies
with at least one investor seen in that history, the truth being those investors; the
candidates are every investor in that history. Y Combinator itself is no investor here: every
company lists it, so it would be the right answer to every query and measure nothing.

The file gives no funding dates, so an edge is dated at its batch's start (January for Winter,
June for Summer) and the folds are not split by time. A query startup is what its founder would
enter: name, description, categories (mapped to industries; `UNKNOWN_INDUSTRY` when none maps),
headquarters and founding year; every company is at seed stage when it leaves YC. Its status
(operating, exited …) and amounts raised are outcomes and are never used.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from matcher.evaluation.crunchbase import UNKNOWN_INDUSTRY, map_crunchbase_category, name_id
from matcher.evaluation.cyzone import BEIJING_MIDNIGHT
from matcher.evaluation.protocol import Fold, Query, spread_sample
from models.enums import EntityKind, InteractionKind, InvestorType
from models.places import parse_location
from models.taxonomy import UnknownTermError, normalize_industry

__all__ = [
    "DATASET_DIR_NAME",
    "STARTUPS_FILE",
    "YcCompany",
    "map_yc_categories",
    "read_yc_companies",
    "yc_folds",
    "yc_records",
]

DATASET_DIR_NAME: Final = "yc-companies"
STARTUPS_FILE: Final = "yc_2005_2014_startups_with_investors.csv"
ACCELERATOR: Final = "Y Combinator"
STAGE_AFTER_YC: Final = "seed"
SESSION_START_MONTH: Final[Mapping[str, int]] = {"Winter": 1, "Spring": 3, "Summer": 6, "Fall": 9}

STARTUP_PREFIX: Final = "yc-S-"
INVESTOR_PREFIX: Final = "yc-I-"
INTERACTION_PREFIX: Final = "yc-X-"
# AngelList categories that neither our taxonomy nor Crunchbase's category codes spell alike.
CATEGORY_ALIASES: Final[Mapping[str, str]] = {"curated web": "web", "hardware + software": "hardware"}


@dataclass(frozen=True)
class YcCompany:
    name: str
    batch: str  # e.g. "2012 Summer"
    batch_start: dt.date
    description: str
    categories: tuple[str, ...]
    location: str
    founded_year: int | None
    investors: tuple[str, ...]  # Y Combinator left out

    @property
    def occurred_on(self) -> dt.date:
        return self.batch_start


def _split_list(cell: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(part.strip() for part in cell.split(",") if part.strip()))


def _company(row: Mapping[str, str]) -> YcCompany:
    year, session = row["Y Combinator Year"].strip(), row["Y Combinator Session"].strip()
    if session not in SESSION_START_MONTH:
        raise ValueError(f"Y Combinator Session: unknown session {session!r} for {row['Company']!r}")
    place = (row[f"Headquarters ({part})"].strip() for part in ("City", "US State", "Country"))
    founded = row["Year Founded"].strip()
    return YcCompany(
        name=row["Company"].strip(),
        batch=f"{year} {session}",
        batch_start=dt.date(int(year), SESSION_START_MONTH[session], 1),
        description=row["Description"].strip(),
        categories=_split_list(row["Categories"]),
        location=", ".join(dict.fromkeys(p for p in place if p)),
        founded_year=int(founded) if founded.isdigit() else None,
        investors=tuple(i for i in _split_list(row["Investors"]) if i != ACCELERATOR),
    )


def read_yc_companies(data_dir: Path) -> list[YcCompany]:
    """Every company of the file, in batch order (then file order)."""
    with (data_dir / STARTUPS_FILE).open(encoding="utf-8-sig", newline="") as handle:
        companies = [_company(row) for row in csv.DictReader(handle) if row["Company"].strip()]
    return sorted(companies, key=lambda c: c.batch_start)


@functools.cache  # an unknown term costs a fuzzy search for suggestions; each fold asks again
def _map_category(category: str) -> str | None:
    try:
        return normalize_industry(category)
    except UnknownTermError:
        pass
    key = category.casefold()
    try:
        return map_crunchbase_category(CATEGORY_ALIASES.get(key, key.replace(" ", "_")))
    except UnknownTermError:
        return None


def map_yc_categories(categories: Iterable[str]) -> list[str]:
    """Industry codes for AngelList-style categories; `UNKNOWN_INDUSTRY` when none maps."""
    codes = [code for code in map(_map_category, categories) if code is not None]
    return list(dict.fromkeys(codes)) or [UNKNOWN_INDUSTRY]


def _startup_record(company: YcCompany) -> dict[str, Any]:
    text = [company.description] if company.description else []
    if company.categories:
        text.append(f"Categories: {', '.join(company.categories)}.")
    if company.location:
        text.append(f"Based in {company.location}.")
    record: dict[str, Any] = {
        "external_id": name_id(STARTUP_PREFIX, company.name),
        "name": company.name,
        "industries": map_yc_categories(company.categories),
        "stage": STAGE_AFTER_YC,
        "description": " ".join(text),
    }
    if company.founded_year is not None and company.founded_year <= company.batch_start.year:
        record["founded_on"] = dt.date(company.founded_year, 1, 1).isoformat()
    return record | parse_location(company.location).fields()


def yc_records(companies: Sequence[YcCompany]) -> dict[str, list[dict[str, Any]]]:
    """Create-shaped records per kind slug: every company, every investor and each edge dated at
    the company's batch start. Investors get a name only: anything more would summarise the
    held-out batch too."""
    investors = dict.fromkeys(i for company in companies for i in company.investors)
    return {
        "startups": [_startup_record(company) for company in companies],
        "investors": [
            {
                "external_id": name_id(INVESTOR_PREFIX, name),
                "name": name,
                "investor_type": InvestorType.vc.value,
            }
            for name in investors
        ],
        "interactions": [
            {
                "external_id": name_id(INTERACTION_PREFIX, f"{company.name}|{investor}"),
                "actor_kind": EntityKind.investor.value,
                "actor_external_id": name_id(INVESTOR_PREFIX, investor),
                "target_kind": EntityKind.startup.value,
                "target_external_id": name_id(STARTUP_PREFIX, company.name),
                "kind": InteractionKind.invested.value,
                "occurred_at": company.batch_start.isoformat() + BEIJING_MIDNIGHT,
                "note": f"YC {company.batch}",
            }
            for company in companies
            for investor in company.investors
        ],
    }


def _batch_queries(held_out: Sequence[YcCompany], seen: frozenset[str]) -> list[Query]:
    queries = []
    for company in held_out:
        truth = frozenset(name_id(INVESTOR_PREFIX, i) for i in company.investors) & seen
        if truth:
            queries.append(Query(company.name, _startup_record(company), truth, company.batch_start))
    return queries


def yc_folds(data_dir: Path, *, sample: int | None = None) -> list[Fold]:
    """One fold per batch with at least one query (see the module docstring); ``sample`` keeps
    at most that many queries in all, spread over the batches in date order."""
    companies = read_yc_companies(data_dir)
    batches = list(dict.fromkeys(company.batch for company in companies))
    plans: list[tuple[str, list[YcCompany], frozenset[str]]] = []
    for batch in batches:
        history = [c for c in companies if c.batch != batch]
        seen = frozenset(name_id(INVESTOR_PREFIX, i) for c in history for i in c.investors)
        plans.append((batch, history, seen))
    queries = [
        (batch, query)
        for batch, _, seen in plans
        for query in _batch_queries([c for c in companies if c.batch == batch], seen)
    ]
    kept = spread_sample(queries, sample)
    folds = []
    for batch, history, seen in plans:
        fold_queries = [query for query_batch, query in kept if query_batch == batch]
        if fold_queries:
            name = f"yc-{batch.replace(' ', '-').lower()}"
            rewind = functools.partial(_rewound, name, history)
            folds.append(Fold(name, yc_records(history), fold_queries, seen, rewind=rewind))
    return folds


def _rewound(name: str, history: Sequence[YcCompany], cut: dt.date, until: dt.date) -> Fold:
    """The fold's other batches cut in time: those before ``cut`` as history, the companies of the
    batches from ``cut`` to ``until`` as queries (see `Fold.rewind`)."""
    before = [c for c in history if c.batch_start < cut]
    seen = frozenset(name_id(INVESTOR_PREFIX, i) for c in before for i in c.investors)
    later = [c for c in history if cut <= c.batch_start < until]
    return Fold(f"{name}/rewound", yc_records(before), _batch_queries(later, seen), seen, history_end=cut)
