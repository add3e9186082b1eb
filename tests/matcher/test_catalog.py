"""KindTable columns follow every upsert, edit and removal exactly, and grow in place on appends."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest

from matcher.catalog import Catalog, KindTable
from models.demo import DemoSize, generate_ecosystem
from models.enums import EntityKind
from models.transfer import ImportRowsError
from tests.factories import catalog_of, valid_id_number


def _record(row_id: int) -> dict[str, Any]:
    return {
        "id": row_id,
        "active": row_id % 7 != 0,
        "funding_ask_cny": None if row_id % 5 == 0 else row_id * 1000,
        "industries": [f"ind-{row_id % 3}", f"ind-{row_id % 4 + 3}"][: row_id % 3],
        "district": f"district-{row_id % 6}",
    }


def _read_every_column(table: KindTable) -> dict[str, Any]:
    codes, keys = table.groups("district", lambda r: r.get("district"))
    return {
        "ids": table.ids.tolist(),
        "alive": table.alive.tolist(),
        "ask": [None if np.isnan(ask) else ask for ask in table.numbers("funding_ask_cny").tolist()],
        "industries": {value: mask.tolist() for value, mask in table.members("industries").items()},
        "no industries": table.empty("industries").tolist(),
        "districts": [keys[code] for code in codes.tolist()],
    }


def _without_absent_values(columns: dict[str, Any]) -> dict[str, Any]:
    """A value no row holds any more keeps an all-False mask in a patched column; a built one omits it."""
    industries = {value: mask for value, mask in columns["industries"].items() if any(mask)}
    return columns | {"industries": industries}


def _fresh_copy(table: KindTable) -> KindTable:
    copy = KindTable(table.kind)
    for record in table.records:
        copy.upsert(record)
    return copy


def test_columns_read_before_appends_edits_and_removals_equal_columns_built_afterwards() -> None:
    table = KindTable(EntityKind.startup)
    for row_id in range(1, 6):
        table.upsert(_record(row_id))
    _read_every_column(table)  # every column is cached from here on
    for row_id in range(6, 140):
        table.upsert(_record(row_id))
        if row_id % 9 == 0:
            table.upsert(_record(row_id - 4) | {"industries": ["ind-new"], "funding_ask_cny": 7})
        if row_id % 13 == 0:
            table.remove(row_id - 2)
        if row_id % 17 == 0:
            assert _without_absent_values(_read_every_column(table)) == _read_every_column(_fresh_copy(table))
    assert _without_absent_values(_read_every_column(table)) == _read_every_column(_fresh_copy(table))


def test_an_appended_row_grows_a_column_in_place_rather_than_rebuilding_it() -> None:
    table = KindTable(EntityKind.startup)
    for row_id in range(1, 101):
        table.upsert(_record(row_id))
    first = table.numbers("funding_ask_cny")
    table.upsert(_record(101))  # the buffer doubles once ...
    grown = table.numbers("funding_ask_cny")
    for row_id in range(102, 150):  # ... and the next rows are written into it
        table.upsert(_record(row_id))
        assert np.shares_memory(table.numbers("funding_ask_cny"), grown)
    assert not np.shares_memory(first, grown)
    assert table.numbers("funding_ask_cny")[-1] == 149_000
    assert len(table.numbers("funding_ask_cny")) == len(table.ids) == 149


STARTUP = {"external_id": "S-1", "name": "光谷视觉", "industries": ["智能制造"], "stage": "天使轮"}
INVESTOR = {"external_id": "I-1", "name": "东湖天使", "investor_type": "angel", "stages": ["天使轮"]}


def test_from_records_takes_data_frames_or_dicts_and_checks_them_as_an_import_does() -> None:
    catalog = Catalog.from_records({"startups": pd.DataFrame([STARTUP]), "investor": [INVESTOR]})
    startup = catalog.tables[EntityKind.startup].record(catalog.row_id("startup", "S-1"))
    assert (startup["stage"], startup["industries"]) == ("angel", ["intelligent_manufacturing"])
    assert catalog.row_id(EntityKind.investor, "I-1") in catalog.tables[EntityKind.investor]


def test_a_bad_record_names_its_kind_row_and_field_and_nothing_is_built() -> None:
    bad = STARTUP | {"external_id": "S-2", "stage": "Z轮"}
    with pytest.raises(ImportRowsError, match=r"row 2: startups\.stage: .*Z轮"):
        Catalog.from_records({"startups": [STARTUP, bad]})


def test_from_records_refuses_an_unknown_kind_and_row_id_an_unknown_profile() -> None:
    with pytest.raises(ValueError, match="unknown kind 'startup-ups'"):
        Catalog.from_records({"startup-ups": [STARTUP]})
    with pytest.raises(KeyError, match="S-9"):
        Catalog.from_records({"startups": [STARTUP]}).row_id("startup", "S-9")


def _contents(catalog: Catalog) -> dict[str, Any]:
    """Everything a catalogue holds, creation times aside (a database and a notebook differ there)."""
    history = catalog.history
    nodes = sorted(history.last_active, key=str)
    return {
        "profiles": {
            kind: [
                {k: v for k, v in r.items() if k not in ("created_at", "updated_at")} for r in table.records
            ]
            for kind, table in catalog.tables.items()
        },
        "teams": {startup: sorted(people) for startup, people in catalog.team_of.items() if people},
        "startups of": {person: sorted(ids) for person, ids in catalog.startups_of.items() if ids},
        "relations": {n: {m: history.graph.relation(n, m) for m in history.related(n)} for n in nodes},
        "declined": {n: history.declined.get(n) for n in nodes},
        "applications": {n: history.applications.get(n) for n in nodes},
        "last active": history.last_active,
        "investments": {n: history.investments.get(n) for n in nodes},
        "deals": history.deals,
    }


def test_from_records_builds_without_a_database_the_catalogue_an_import_and_a_read_give(
    tmp_path: Path,
) -> None:
    ecosystem = generate_ecosystem(
        7,
        DemoSize(
            startups=60,
            investors=15,
            mentors=10,
            spaces=6,
            practice_bases=5,
            posts=8,
            students=20,
            interactions_target=300,
        ),
    )
    ecosystem["persons"][0]["id_number"] = valid_id_number(1)
    with patch("models.db.create_engine", side_effect=AssertionError("no database")):
        in_memory = Catalog.from_records(ecosystem)
    assert in_memory.history.deals
    assert any(in_memory.team_of.values())
    assert _contents(in_memory) == _contents(catalog_of(tmp_path, ecosystem))


def test_a_reference_to_a_profile_not_given_names_its_field_and_two_persons_may_not_share_an_id_number() -> (
    None
):
    person = {"external_id": "P-1", "name": "张伟", "role": "founder", "id_number": valid_id_number(1)}
    with pytest.raises(
        ImportRowsError, match=r"row 1: startups\.team\.0\.person_external_id: no person .*P-9"
    ):
        Catalog.from_records(
            {"persons": [person], "startups": [STARTUP | {"team": [{"person_external_id": "P-9"}]}]}
        )
    with pytest.raises(ImportRowsError, match=r"row 2: persons\.id_number: already registered"):
        Catalog.from_records({"persons": [person, person | {"external_id": "P-2"}]})
