"""The YC 2005-2014 loader and the leave-one-batch-out ``yc-2005-2014`` protocol, on a tiny fixture
with the real file's columns."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from matcher.evaluation.crunchbase import name_id
from matcher.evaluation.protocol import Fold
from matcher.evaluation.yc import DATASET_DIR_NAME, STARTUPS_FILE, map_yc_categories, yc_folds
from models.kinds import KINDS
from models.schemas import StartupCreate
from models.settings import Settings
from models.tables import Interaction, Investor, Startup
from models.transfer import import_records
from tests.conftest import TEST_SECRET

COLUMNS = [
    "Company", "Satus", "Year Founded", "Mapping Location", "Description", "Categories", "Founders",
    "Y Combinator Year", "Y Combinator Session", "Investors", "Amounts raised in different funding rounds",
    "Office Address", "Headquarters (City)", "Headquarters (US State)", "Headquarters (Country)", "Logo",
    "Seed-DB / Mattermark Profile", "Crunchbase / Angel List Profile", "Website",
]  # fmt: skip

# (company, founded, description, categories, year, session, investors)
COMPANIES = [
    ("Aardvark", "2009", "Social search: ask your network.", "Search, Social Media", "2010", "Winter",
     "SV Angel, Y Combinator, Ron Conway"),
    ("Bolt", "", "Payments for marketplaces.", "", "2010", "Winter", "Y Combinator"),
    ("Curio", "2011", "Video encoding in the cloud.", "Curated Web, Video", "2011", "Summer",
     "SV Angel, Y Combinator, Andreessen Horowitz, SV Angel"),
    ("Dune", "2012", "Robots for warehouses.", "Robotics", "2011", "Summer", "Brand New Fund, Y Combinator"),
    ("Ember", "", "A marketplace for tutors.", "Unknownish Stuff", "2012", "Winter",
     "Ron Conway, Andreessen Horowitz, Y Combinator"),
]  # fmt: skip


def write_fixture(directory: Path, companies: Sequence[tuple[str, ...]] = COMPANIES) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / STARTUPS_FILE).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS, restval="")
        writer.writeheader()
        for name, founded, text, categories, year, session, investors in companies:
            writer.writerow(
                {
                    "Company": name, "Satus": "Exited", "Year Founded": founded, "Description": text,
                    "Categories": categories, "Y Combinator Year": year, "Y Combinator Session": session,
                    "Investors": investors, "Amounts raised in different funding rounds": "$1200000",
                    "Headquarters (City)": "San Francisco", "Headquarters (US State)": "California",
                    "Headquarters (Country)": "USA",
                }
            )  # fmt: skip
    return directory


def inv(name: str) -> str:
    return name_id("yc-I-", name)


@pytest.fixture
def folds(tmp_path: Path) -> dict[str, Fold]:
    return {fold.name: fold for fold in yc_folds(write_fixture(tmp_path / DATASET_DIR_NAME))}


def test_one_fold_per_batch_and_the_held_out_batch_never_in_its_history(folds: dict[str, Fold]) -> None:
    assert list(folds) == ["yc-2010-winter", "yc-2011-summer", "yc-2012-winter"]
    held_out = {
        "yc-2010-winter": {"Aardvark", "Bolt"},
        "yc-2011-summer": {"Curio", "Dune"},
        "yc-2012-winter": {"Ember"},
    }
    for name, fold in folds.items():
        startup_names = {s["name"] for s in fold.records["startups"]}
        assert startup_names == {c[0] for c in COMPANIES} - held_out[name]
        held_out_ids = {name_id("yc-S-", company) for company in held_out[name]}
        assert not {x["target_external_id"] for x in fold.records["interactions"]} & held_out_ids
        assert fold.history_end is None


def test_truth_only_holds_history_investors_and_yc_is_never_one(folds: dict[str, Fold]) -> None:
    winter_2010 = folds["yc-2010-winter"]
    assert winter_2010.candidates == {inv("SV Angel"), inv("Andreessen Horowitz"), inv("Brand New Fund"),
                                      inv("Ron Conway")}  # fmt: skip
    # Bolt lists only Y Combinator: nothing to rank for.
    assert [(q.event_id, q.truth) for q in winter_2010.queries] == [
        ("Aardvark", frozenset({inv("SV Angel"), inv("Ron Conway")}))
    ]
    # Dune's only investor appears in no other batch.
    summer_2011 = folds["yc-2011-summer"]
    assert [(q.event_id, q.truth) for q in summer_2011.queries] == [
        ("Curio", frozenset({inv("SV Angel"), inv("Andreessen Horowitz")}))
    ]
    assert inv("Brand New Fund") not in summer_2011.candidates
    for fold in folds.values():
        assert inv("Y Combinator") not in fold.candidates
        assert all(q.truth <= fold.candidates for q in fold.queries)
        assert {i["external_id"] for i in fold.records["investors"]} == fold.candidates


def test_query_startup_is_the_founders_own_text(folds: dict[str, Fold]) -> None:
    (curio,) = folds["yc-2011-summer"].queries
    assert curio.startup == {
        "external_id": name_id("yc-S-", "Curio"),
        "name": "Curio",
        "industries": ["mobile_internet", "online_video"],  # Curated Web via Crunchbase's "web"; Video
        "stage": "seed",
        "description": "Video encoding in the cloud. Categories: Curated Web, Video. "
        "Based in San Francisco, California, USA.",
        "founded_on": "2011-01-01",
        "country": "US",
        "province": "CA",
        "city": "san_francisco",
    }
    (ember,) = folds["yc-2012-winter"].queries
    assert ember.startup["industries"] == ["information_technology"]
    assert "founded_on" not in ember.startup
    for fold in folds.values():
        for query in fold.queries:
            StartupCreate.model_validate(query.startup)
            assert "Exited" not in str(query.startup)
            assert "1200000" not in str(query.startup)


def test_categories_map_through_our_taxonomy_then_crunchbase_codes() -> None:
    assert map_yc_categories(["Robotics"]) == ["robotics"]
    assert map_yc_categories(["Search", "Social Media"])[0] == "mobile_internet"
    assert map_yc_categories([]) == ["information_technology"]


def test_fold_history_imports_through_the_import_path(
    folds: dict[str, Fold], factory: sessionmaker[Session]
) -> None:
    fold = folds["yc-2011-summer"]
    for slug in ("startups", "investors", "interactions"):
        import_records(factory, KINDS[slug], [dict(row) for row in fold.records[slug]], secret=TEST_SECRET)
    with factory() as session:
        assert set(session.scalars(select(Startup.name))) == {"Aardvark", "Bolt", "Ember"}
        assert set(session.scalars(select(Investor.name))) == {
            "SV Angel",
            "Ron Conway",
            "Andreessen Horowitz",
        }
        # Aardvark→SV Angel, Aardvark→Ron Conway, Ember→Ron Conway, Ember→a16z
        assert session.scalar(select(func.count()).select_from(Interaction)) == 4


def test_sample_and_a_bad_session(tmp_path: Path) -> None:
    data_dir = write_fixture(tmp_path / "yc")
    sampled = yc_folds(data_dir, sample=2)
    assert [(f.name, [q.event_id for q in f.queries]) for f in sampled] == [
        ("yc-2010-winter", ["Aardvark"]),
        ("yc-2012-winter", ["Ember"]),
    ]
    bad = write_fixture(tmp_path / "bad", [(*COMPANIES[0][:5], "Autumn", COMPANIES[0][6])])
    with pytest.raises(ValueError, match="unknown session 'Autumn'"):
        yc_folds(bad)


def test_protocol_on_the_real_data() -> None:
    directory = Settings().shared_data_dir / DATASET_DIR_NAME
    if not (directory / STARTUPS_FILE).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the YC dataset must be present in CI: {directory}")
        pytest.skip(f"no YC dataset at {directory}")
    folds = yc_folds(directory)
    assert 15 <= len(folds) <= 19
    assert 200 < sum(len(f.queries) for f in folds) < 300
    assert all(600 < len(f.candidates) < 800 for f in folds)
    assert all(q.truth <= f.candidates for f in folds for q in f.queries)
