"""The Crunchbase 2013 loader and the ``crunchbase-2013`` protocol, on a tiny fixture in the real format
(gzipped CSV; the snapshot tables in Windows-1252 with CR line ends, the edges file in UTF-8)."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from matcher.evaluation.crunchbase import (
    ACQUISITIONS_FILE,
    COMPANIES_FILE,
    DATASET_DIR_NAME,
    EDGES_FILE,
    HISTORY_END,
    ROUNDS_FILE,
    crunchbase_folds,
    map_crunchbase_category,
    map_crunchbase_round,
    name_id,
    stage_for_amount,
)
from matcher.evaluation.protocol import Fold
from models.clock import BEIJING
from models.kinds import KINDS
from models.schemas import StartupCreate
from models.settings import Settings
from models.tables import Interaction, Investor, Startup
from models.taxonomy import INDUSTRIES, UnknownTermError
from models.transfer import import_records
from tests.conftest import TEST_SECRET
from tests.factories import shared_data_file

COMPANY_COLUMNS = [
    "permalink", "name", "category_code", "funding_total_usd", "status", "country_code", "state_code",
    "region", "city", "funding_rounds", "founded_at", "founded_month", "founded_quarter", "founded_year",
    "first_funding_at", "last_funding_at", "last_milestone_at",
]  # fmt: skip
ROUND_COLUMNS = [
    "company_permalink", "company_name", "company_category_code", "company_country_code",
    "company_state_code", "company_region", "company_city", "funding_round_type", "funded_at",
    "funded_month", "funded_quarter", "funded_year", "raised_amount_usd",
]  # fmt: skip
SIDE = ["permalink", "name", "category_code", "country_code", "state_code", "region", "city"]
ACQUISITION_COLUMNS = [
    *(f"company_{c}" for c in SIDE), *(f"acquirer_{c}" for c in SIDE),
    "acquired_at", "acquired_month", "acquired_quarter", "acquired_year", "price_amount",
    "price_currency_code",
]  # fmt: skip

# (name, category, state, region, city, founded_at)
COMPANIES = [
    ("Alpha", "web", "CA", "SF Bay", "San Francisco", "2009-01-01"),
    ("Beta", "biotech", "MA", "Boston", "Cambridge", ""),
    ("Café Société", "other", "NY", "New York", "New York", "2013-01-01"),  # founded after its round
]
# (name, category, city, round type, funded_at, amount)
ROUNDS = [
    ("Alpha", "web", "San Francisco", "series-a", "2011-06-01", "3000000"),
    ("Alpha", "web", "San Francisco", "series-b", "2012-03-01", "9000000"),
    ("Gamma", "mobile", "Austin", "angel", "2012-05-01", "400000"),  # not in the companies table
]
# (company, investor, funded_when, amount_usd)
EDGES = [
    # history
    ("Alpha", "Inv One", "2011-06-01", "3000000"),
    ("Alpha", "Inv Two", "2011-06-01", "3000000"),
    ("Beta", "Inv Three", "2010-02-01", ""),
    ("Beta", "Inv Three", "2010-02-01", ""),  # an exact duplicate row
    ("Café Société", "Inv Four", "2011-12-31", "500000"),  # the last history day
    ("Undated", "Inv Ghost", "", ""),  # no date: never placed in time
    # test period
    ("Alpha", "Inv One", "2012-03-01", "9000000"),  # warm: Alpha raised before 2012; a follow-on
    ("Alpha", "Inv Three", "2012-03-01", "9000000"),  # a new backer of a warm company
    ("Alpha", "New Fund", "2012-03-01", "9000000"),  # never seen in history: no truth
    ("Gamma", "Inv Two", "2012-05-01", "400000"),  # cold: Gamma's first edge
    ("Gamma", "Inv Four", "2012-05-01", "400000"),
    ("Delta", "Inv Three", "2012-01-01", "20000000"),  # history_end itself is test; category via acquisitions
    ("Epsilon", "New Fund", "2013-02-01", "100000"),  # only an unseen investor: no query
    ("Alpha", "Late Fund", "2013-06-01", ""),  # Late Fund is no candidate
]


def _write(path: Path, columns: Sequence[str], rows: Sequence[Sequence[str]], *, snapshot: bool) -> None:
    encoding, line_end = ("cp1252", "\r") if snapshot else ("utf-8", "\n")
    with gzip.open(path, "wt", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator=line_end)
        writer.writerow(columns)
        writer.writerows(rows)


def _company_row(name: str, category: str, state: str, region: str, city: str, founded: str) -> list[str]:
    slug = f"/company/{name.lower()}"
    return [slug, name, category, "1000", "operating", "USA", state, region, city, "1", founded,
            founded[:7], "", founded[:4], "", "", ""]  # fmt: skip


def write_fixture(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    _write(directory / COMPANIES_FILE, COMPANY_COLUMNS, [_company_row(*c) for c in COMPANIES], snapshot=True)
    _write(
        directory / ROUNDS_FILE,
        ROUND_COLUMNS,
        [[f"/company/{n.lower()}", n, cat, "USA", "", "", city, kind, day, day[:7], "", day[:4], amount]
         for n, cat, city, kind, day, amount in ROUNDS],
        snapshot=True,
    )  # fmt: skip
    delta = ["/company/delta", "Delta", "ecommerce", "USA", "WA", "Seattle", "Seattle"]
    buyer = ["/company/big", "Big Co", "enterprise", "USA", "WA", "Seattle", "Redmond"]
    _write(
        directory / ACQUISITIONS_FILE,
        ACQUISITION_COLUMNS,
        [[*delta, *buyer, "2013-05-01", "2013-05", "2013-Q2", "2013", "", "USD"]],
        snapshot=True,
    )
    _write(directory / EDGES_FILE, ["company_name", "investor_name", "funded_when", "amount_usd"], EDGES,
           snapshot=False)  # fmt: skip
    return directory


def inv(name: str) -> str:
    return name_id("cb-I-", name)


@pytest.fixture
def fold(tmp_path: Path) -> Fold:
    (only,) = crunchbase_folds(write_fixture(tmp_path / DATASET_DIR_NAME))
    return only


def _day(occurred_at: str) -> dt.date:
    return dt.datetime.fromisoformat(occurred_at).date()


# --- the split ------------------------------------------------------------------------


def test_no_test_period_edge_reaches_the_history(fold: Fold) -> None:
    interactions = fold.records["interactions"]
    assert all(_day(x["occurred_at"]) < HISTORY_END for x in interactions)
    # Alpha→One, Alpha→Two, Beta→Three (its duplicate row once), Café→Four; the undated edge is dropped.
    pairs = {(x["target_external_id"], x["actor_external_id"]) for x in interactions}
    assert pairs == {
        (name_id("cb-S-", "Alpha"), inv("Inv One")),
        (name_id("cb-S-", "Alpha"), inv("Inv Two")),
        (name_id("cb-S-", "Beta"), inv("Inv Three")),
        (name_id("cb-S-", "Café Société"), inv("Inv Four")),
    }
    assert len(interactions) == len(pairs)
    assert {s["name"] for s in fold.records["startups"]} == {"Alpha", "Beta", "Café Société"}
    # Alpha is described as of its last history round, not its 2012 series-b.
    alpha = next(s for s in fold.records["startups"] if s["name"] == "Alpha")
    assert alpha["stage"] == "a"
    assert "9,000,000" not in alpha["description"]
    assert fold.history_end == HISTORY_END
    assert all(q.occurred_on >= HISTORY_END for q in fold.queries)


def test_candidates_are_history_investors_and_truth_only_holds_them(fold: Fold) -> None:
    assert fold.candidates == {inv("Inv One"), inv("Inv Two"), inv("Inv Three"), inv("Inv Four")}
    assert {i["external_id"] for i in fold.records["investors"]} == fold.candidates
    by_id = {q.event_id: q for q in fold.queries}
    # Epsilon's only investor is unseen; Alpha's 2013 round has only Late Fund: neither is a query.
    assert list(by_id) == ["Delta@2012-01-01", "Alpha@2012-03-01", "Gamma@2012-05-01"]
    assert by_id["Alpha@2012-03-01"].truth == {inv("Inv Three")}  # New Fund and the follow-on left out
    assert by_id["Gamma@2012-05-01"].truth == {inv("Inv Two"), inv("Inv Four")}
    assert by_id["Delta@2012-01-01"].truth == {inv("Inv Three")}
    assert all(q.truth <= fold.candidates for q in fold.queries)
    # Alpha's earlier backers are known: no method may offer them; a cold company has none.
    assert by_id["Alpha@2012-03-01"].known == {inv("Inv One"), inv("Inv Two")}
    assert not by_id["Gamma@2012-05-01"].known
    assert not by_id["Delta@2012-01-01"].known


def test_cold_and_warm_segments(fold: Fold) -> None:
    segments = {q.startup["name"]: q.segment for q in fold.queries}
    assert segments == {"Alpha": "warm-new", "Gamma": "cold", "Delta": "cold"}
    # Every query is asked as a new profile, never over a history startup.
    history_ids = {s["external_id"] for s in fold.records["startups"]}
    assert not {q.startup["external_id"] for q in fold.queries} & history_ids


def test_query_startup_is_what_a_founder_would_enter(fold: Fold) -> None:
    by_name = {q.startup["name"]: q.startup for q in fold.queries}
    assert by_name["Alpha"] == {
        "external_id": name_id("cb-Q-", "Alpha@2012-03-01"),
        "name": "Alpha",
        "industries": ["mobile_internet"],
        "stage": "b",
        "description": "Category: web. Based in San Francisco, SF Bay, CA. "
        "Raising a series b round of $9,000,000.",
        "funding_ask_cny": 56_700_000,
        "founded_on": "2009-01-01",
        "country": "US",
        "province": "CA",
        "city": "san_francisco",
    }
    assert by_name["Gamma"]["industries"] == ["mobile_internet"]  # category from the rounds table
    assert by_name["Gamma"]["stage"] == "angel"
    assert by_name["Delta"]["industries"] == ["ecommerce"]  # category from the acquisitions table
    assert by_name["Delta"]["stage"] == "c_plus"  # no typed round: placed by its $20M size
    for query in fold.queries:
        StartupCreate.model_validate(query.startup)
        text = str(query.startup)
        assert not any(name in text for name in ("Inv ", "New Fund", "Late Fund"))


def test_unknown_category_and_stage_fall_back() -> None:
    assert stage_for_amount(None) is None
    assert [stage_for_amount(a) for a in (999_999, 1_000_000, 5_499_999, 11_500_000)] == [
        "angel",
        "a",
        "a",
        "c_plus",
    ]


def test_history_imports_through_the_import_path(fold: Fold, factory: sessionmaker[Session]) -> None:
    for slug in ("startups", "investors", "interactions"):
        report = import_records(
            factory, KINDS[slug], [dict(row) for row in fold.records[slug]], secret=TEST_SECRET
        )
        assert report.created == len(fold.records[slug])
    with factory() as session:
        startups = {s.name: s for s in session.scalars(select(Startup))}
        assert set(startups) == {"Alpha", "Beta", "Café Société"}  # Windows-1252 decoded
        assert startups["Café Société"].industries == ["information_technology"]  # "other" maps to nothing
        assert startups["Café Société"].founded_on is None  # founded after the round: not believed
        assert startups["Beta"].industries == ["biotechnology"]
        investors = list(session.scalars(select(Investor)))
        assert all(i.industries == [] and i.stages == [] and i.thesis == "" for i in investors)
        days = [x.occurred_at.astimezone(BEIJING).date() for x in session.scalars(select(Interaction))]
        assert len(days) == 4
        assert max(days) == dt.date(2011, 12, 31)


def test_sample_keeps_at_most_n_queries_spread_over_time(tmp_path: Path) -> None:
    data_dir = write_fixture(tmp_path / "cb")
    (sampled,) = crunchbase_folds(data_dir, sample=2)
    assert [q.event_id for q in sampled.queries] == ["Delta@2012-01-01", "Gamma@2012-05-01"]
    with pytest.raises(ValueError, match="sample must be at least 1"):
        crunchbase_folds(data_dir, sample=0)


def test_protocol_on_the_real_data() -> None:
    directory = Settings().shared_data_dir / DATASET_DIR_NAME
    if not (directory / EDGES_FILE).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Crunchbase dataset must be present in CI: {directory}")
        pytest.skip(f"no Crunchbase dataset at {directory}")
    (fold,) = crunchbase_folds(directory)
    segments = [q.segment for q in fold.queries]
    assert 7_000 < len(fold.queries) < 9_000  # rounds with only follow-on money ask nothing
    assert 10_000 < len(fold.candidates) < 12_000
    assert 45_000 < len(fold.records["interactions"]) < 55_000
    assert segments.count("cold") > segments.count("warm-new") > 1_000
    assert all(q.truth <= fold.candidates for q in fold.queries)


# ------------------------------------------------- mapping the dataset's values to our codes


CRUNCHBASE_CATEGORIES = [
    "advertising",
    "analytics",
    "automotive",
    "biotech",
    "cleantech",
    "consulting",
    "design",
    "ecommerce",
    "education",
    "enterprise",
    "fashion",
    "finance",
    "games_video",
    "government",
    "hardware",
    "health",
    "hospitality",
    "legal",
    "local",
    "manufacturing",
    "medical",
    "messaging",
    "mobile",
    "music",
    "nanotech",
    "network_hosting",
    "news",
    "nonprofit",
    "other",
    "pets",
    "photo_video",
    "public_relations",
    "real_estate",
    "search",
    "security",
    "semiconductor",
    "social",
    "software",
    "sports",
    "transportation",
    "travel",
    "web",
]


def test_crunchbase_categories_all_mapped() -> None:
    assert len(CRUNCHBASE_CATEGORIES) == 42
    unmapped = set()
    for category in CRUNCHBASE_CATEGORIES:
        code = map_crunchbase_category(category)
        if code is None:
            unmapped.add(category)
        else:
            assert code in INDUSTRIES
    assert unmapped == {"other", "nonprofit", "government"}
    assert map_crunchbase_category("biotech") == "biotechnology"
    assert map_crunchbase_category("semiconductor") == "integrated_circuits"
    assert map_crunchbase_category("") is None
    with pytest.raises(UnknownTermError, match="biotek"):
        map_crunchbase_category("biotek")


@pytest.mark.parametrize(
    ("round_type", "code"),
    [
        ("angel", "angel"),
        ("series-a", "a"),
        ("series-b", "b"),
        ("series-c+", "c_plus"),
        ("venture", None),
        ("private-equity", None),
        ("post-ipo", None),
        ("crowdfunding", None),
        ("other", None),
    ],
)
def test_map_crunchbase_round(round_type: str, code: str | None) -> None:
    assert map_crunchbase_round(round_type) == code


def test_crunchbase_values_all_handled() -> None:
    import pandas as pd

    companies = pd.read_csv(
        shared_data_file("crunchbase-2013", "crunchbase-companies.csv.gz"),
        usecols=["category_code"],
        dtype=str,
        encoding="cp1252",
    )
    categories = set(companies["category_code"].dropna())
    assert categories == set(CRUNCHBASE_CATEGORIES)
    rounds = pd.read_csv(
        shared_data_file("crunchbase-2013", "crunchbase-rounds.csv.gz"),
        usecols=["funding_round_type"],
        dtype=str,
        encoding="cp1252",
    )
    for round_type in rounds["funding_round_type"].dropna().unique():
        map_crunchbase_round(round_type)  # must not raise
