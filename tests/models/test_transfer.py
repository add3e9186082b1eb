"""Bulk import and export: all or nothing, upsert by external id, Chinese intact, round trips."""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from api.cli import app as cli
from models.db import create_db_engine, migrate, session_factory
from models.kinds import KINDS
from models.tables import Base
from models.transfer import ImportRowsError, export_file, export_records, import_file, import_records
from tests.conftest import TEST_SECRET
from tests.factories import samples

FORMATS = ("csv", "xlsx", "json", "jsonl", "parquet")


def _import_samples(factory: sessionmaker[Session]) -> None:
    for slug, records in samples().items():
        import_records(factory, KINDS[slug], records, secret=TEST_SECRET)


def _export_all(factory: sessionmaker[Session]) -> dict[str, list[dict[str, Any]]]:
    with factory() as session:
        return {slug: export_records(session, spec, secret=TEST_SECRET) for slug, spec in KINDS.items()}


def _snapshot(engine: Engine, database_url: str) -> Any:
    """The database's whole content: the file's bytes for SQLite, every row otherwise."""
    engine.dispose()  # checkpoints the WAL into the main file
    if database_url.startswith("sqlite"):
        return Path(engine.url.database or "").read_bytes()
    with engine.connect() as connection:
        return {
            t.name: sorted(map(tuple, connection.execute(select(t)))) for t in Base.metadata.sorted_tables
        }


def _startups(count: int) -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"S-{n:04d}",
            "name": f"武汉第{n}号光电科技有限公司",
            "one_liner": "激光加工装备与光纤器件",
            "industries": ["智能制造"],
            "stage": "种子轮",
            "district": "光谷",
        }
        for n in range(1, count + 1)
    ]


@pytest.mark.parametrize("suffix", FORMATS)
def test_every_kind_round_trips_through_files(
    factory: sessionmaker[Session], tmp_path: Path, suffix: str
) -> None:
    _import_samples(factory)
    before = _export_all(factory)
    fresh_engine = create_db_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    migrate(fresh_engine)
    fresh = session_factory(fresh_engine)
    for slug, spec in KINDS.items():
        path = tmp_path / f"{slug}.{suffix}"
        assert export_file(factory, spec, path, secret=TEST_SECRET) == len(samples()[slug])
        again = import_file(factory, spec, path, secret=TEST_SECRET)
        assert (again.created, again.updated) == (0, len(samples()[slug])), slug
        import_file(fresh, spec, path, secret=TEST_SECRET)
    assert _export_all(factory) == before
    assert _export_all(fresh) == before
    fresh_engine.dispose()


def test_chinese_values_stay_intact_in_every_format(factory: sessionmaker[Session], tmp_path: Path) -> None:
    _import_samples(factory)
    for suffix in FORMATS:
        path = tmp_path / f"startups.{suffix}"
        export_file(factory, KINDS["startups"], path, secret=TEST_SECRET)
        if suffix not in ("parquet", "xlsx"):
            assert "武汉慧眼智能科技有限公司" in path.read_text(encoding="utf-8")
    frame = pd.read_parquet(tmp_path / "startups.parquet")
    assert frame.loc[0, "one_liner"] == "基于深度学习的工业视觉质检平台"
    assert pd.read_excel(tmp_path / "startups.xlsx").loc[0, "name"] == "武汉慧眼智能科技有限公司"


CHINESE_CSV = (
    "external_id,name,industries,stage,district\nS-9,武汉测试光电有限公司,智能制造|生命健康,天使轮,洪山区\n"
)


def _utf16_be_with_bom(text: str) -> bytes:
    return codecs.BOM_UTF16_BE + text.encode("utf-16-be")


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("utf-8"),
        lambda text: text.encode("utf-8-sig"),
        lambda text: text.encode("gb18030"),
        lambda text: text.encode("gbk"),
        lambda text: text.encode("utf-16"),  # little-endian with a BOM, as Excel's "Unicode text"
        _utf16_be_with_bom,
    ],
    ids=["utf-8", "utf-8-bom", "gb18030", "gbk", "utf-16-le-bom", "utf-16-be-bom"],
)
def test_a_chinese_csv_imports_in_every_encoding_chinese_tools_write(
    factory: sessionmaker[Session], tmp_path: Path, encode: Any
) -> None:
    path = tmp_path / "startups.csv"
    path.write_bytes(encode(CHINESE_CSV))
    import_file(factory, KINDS["startups"], path, secret=TEST_SECRET)
    [startup] = _export_all(factory)["startups"]
    assert (startup["name"], startup["stage"], startup["district"]) == (
        "武汉测试光电有限公司",
        "angel",
        "hongshan",
    )


@pytest.mark.parametrize(
    "data",
    [
        "external_id,name\nS-9,Café Müller\n".encode("latin-1"),
        CHINESE_CSV.encode("utf-16-le"),  # no BOM
        "external_id,name\nS-9,臺北創新\n".encode("big5"),
    ],
    ids=["latin-1", "utf-16-without-bom", "big5"],
)
def test_an_unclear_encoding_is_refused_in_words_with_the_fix(
    factory: sessionmaker[Session], tmp_path: Path, data: bytes
) -> None:
    path = tmp_path / "startups.csv"
    path.write_bytes(data)
    with pytest.raises(ImportRowsError) as refused:
        import_file(factory, KINDS["startups"], path, secret=TEST_SECRET)
    message = str(refused.value)
    assert "另存为" in message
    assert "save it as" in message
    assert "codec" not in message
    assert "UTF-8" in message


def test_a_csv_export_starts_with_a_bom_so_excel_reads_chinese(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    _import_samples(factory)
    path = tmp_path / "startups.csv"
    export_file(factory, KINDS["startups"], path, secret=TEST_SECRET)
    assert path.read_bytes().startswith(codecs.BOM_UTF8)


def test_a_file_named_xlsx_that_is_no_workbook_is_refused_in_words(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "startups.xlsx"
    path.write_bytes(b"PK not a workbook")
    with pytest.raises(ImportRowsError, match=r"not an Excel workbook"):
        import_file(factory, KINDS["startups"], path, secret=TEST_SECRET)


def test_export_never_contains_contact_data(factory: sessionmaker[Session], tmp_path: Path) -> None:
    _import_samples(factory)
    path = tmp_path / "persons.json"
    export_file(factory, KINDS["persons"], path, secret=TEST_SECRET)
    text = path.read_text(encoding="utf-8")
    assert "13800138000" not in text
    assert "zhangwei@example.cn" not in text
    assert "id_number" not in text


def test_one_bad_row_in_a_thousand_changes_nothing(
    factory: sessionmaker[Session], engine: Engine, database_url: str, tmp_path: Path
) -> None:
    _import_samples(factory)
    records = _startups(1000)
    records[499]["stage"] = "Z轮"
    path = tmp_path / "startups.csv"
    pd.DataFrame(records).assign(industries=lambda f: f["industries"].map(json.dumps)).to_csv(
        path, index=False
    )
    before = _snapshot(engine, database_url)
    with pytest.raises(ImportRowsError) as caught:
        import_file(factory, KINDS["startups"], path, secret=TEST_SECRET)
    assert next(str(p) for p in caught.value.problems).startswith("row 500, column stage: ")
    assert len(caught.value.problems) == 1
    assert _snapshot(engine, database_url) == before


def test_every_bad_row_is_reported(factory: sessionmaker[Session]) -> None:
    records = _startups(5)
    records[1]["stage"] = "Z轮"
    records[3].pop("name")
    records[4]["external_id"] = "S-0001"
    with pytest.raises(ImportRowsError) as caught:
        import_records(factory, KINDS["startups"], records, secret=TEST_SECRET)
    reported = {(p.row, p.column) for p in caught.value.problems}
    assert reported == {(2, "stage"), (4, "name"), (5, "external_id")}


def test_a_missing_reference_rolls_back_rows_already_written(
    factory: sessionmaker[Session], engine: Engine, database_url: str
) -> None:
    _import_samples(factory)
    interactions = [
        samples()["interactions"][0] | {"external_id": "X-2", "kind": "viewed"},
        samples()["interactions"][0]
        | {"external_id": "X-3", "kind": "viewed", "target_external_id": "S-404"},
    ]
    before = _snapshot(engine, database_url)
    with pytest.raises(ImportRowsError) as caught:
        import_records(factory, KINDS["interactions"], interactions, secret=TEST_SECRET)
    assert [str(p) for p in caught.value.problems] == [
        "row 2, column target_external_id: no startup with external_id 'S-404'"
    ]
    assert _snapshot(engine, database_url) == before


def test_import_upserts_by_external_id(factory: sessionmaker[Session]) -> None:
    first = import_records(factory, KINDS["startups"], _startups(3), secret=TEST_SECRET)
    changed = [r | {"one_liner": "新的一句话介绍"} for r in _startups(4)]
    second = import_records(factory, KINDS["startups"], changed, secret=TEST_SECRET)
    assert (first.created, second.created, second.updated) == (3, 1, 3)
    exported = _export_all(factory)["startups"]
    assert [r["one_liner"] for r in exported] == ["新的一句话介绍"] * 4


def test_interactions_without_external_id_import_idempotently(factory: sessionmaker[Session]) -> None:
    _import_samples(factory)
    event = {k: v for k, v in samples()["interactions"][0].items() if k != "external_id"} | {"kind": "viewed"}
    import_records(factory, KINDS["interactions"], [event], secret=TEST_SECRET)
    report = import_records(factory, KINDS["interactions"], [event], secret=TEST_SECRET)
    assert (report.created, report.updated) == (0, 1)


def test_csv_list_cells_accept_pipes(factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "startups.csv"
    path.write_text(
        "external_id,name,industries,stage\nS-9,测试公司,智能制造|生命健康,天使轮\n", encoding="utf-8"
    )
    import_file(factory, KINDS["startups"], path, secret=TEST_SECRET)
    assert _export_all(factory)["startups"][0]["industries"] == ["intelligent_manufacturing", "life_health"]


def test_cli_import_exits_2_and_prints_every_bad_row(database_url: str, tmp_path: Path) -> None:
    records = _startups(3)
    records[0]["district"] = "朝阳区"
    records[2]["funding_ask_cny"] = "很多"
    path = tmp_path / "startups.json"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    env = {"MATCHER_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": database_url}
    result = CliRunner().invoke(cli, ["import", "startups", str(path)], env=env)
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert any(line.startswith("row 1: district: ") and "朝阳区" in line for line in lines)
    assert any(line.startswith("row 3: funding_ask_cny: ") for line in lines)
    assert any(line.startswith("2 bad row(s) with 2 problem(s)") for line in lines)
    ok = CliRunner().invoke(cli, ["import", "startups", str(_write(tmp_path, _startups(2)))], env=env)
    assert ok.exit_code == 0, ok.output
    out = tmp_path / "out.csv"
    exported = CliRunner().invoke(cli, ["export", "startup", str(out)], env=env)
    assert exported.exit_code == 0, exported.output
    assert len(pd.read_csv(out)) == 2


def test_cli_rejects_an_unknown_kind(tmp_path: Path) -> None:
    path = _write(tmp_path, _startups(1))
    result = CliRunner().invoke(
        cli, ["import", "unicorns", str(path)], env={"MATCHER_DATA_DIR": str(tmp_path)}
    )
    assert result.exit_code == 2
    assert "unknown kind 'unicorns'" in result.output


def test_the_cli_imports_a_gbk_csv_and_exports_xlsx(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "startups.csv"
    path.write_bytes(CHINESE_CSV.encode("gbk"))
    env = {"MATCHER_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": database_url}
    imported = CliRunner().invoke(cli, ["import", "startups", str(path)], env=env)
    assert imported.exit_code == 0, imported.output
    out = tmp_path / "out.xlsx"
    exported = CliRunner().invoke(cli, ["export", "startups", str(out)], env=env)
    assert exported.exit_code == 0, exported.output
    assert pd.read_excel(out).loc[0, "name"] == "武汉测试光电有限公司"


def test_the_cli_import_reports_every_spelling_it_normalised_nested_fields_by_path(
    database_url: str, tmp_path: Path
) -> None:
    env = {"MATCHER_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": database_url}
    person = samples()["persons"][0]
    persons = CliRunner().invoke(cli, ["import", "persons", str(_write(tmp_path, [person]))], env=env)
    assert persons.exit_code == 0, persons.output
    startup = _startups(1)[0] | {"team": [{"person_external_id": person["external_id"], "role": "合伙人"}]}
    expected = [
        "normalised / 已规范: row 1: industries: 智能制造 → intelligent_manufacturing",
        "normalised / 已规范: row 1: stage: 种子轮 → seed",
        "normalised / 已规范: row 1: district: 光谷 → east_lake_hightech",
        "normalised / 已规范: row 1: team.0.role: 合伙人 → cofounder",
    ]
    for done in ("1 created, 0 updated", "0 created, 1 updated"):  # a new row, then the same row again
        result = CliRunner().invoke(cli, ["import", "startups", str(_write(tmp_path, [startup]))], env=env)
        assert result.exit_code == 0, result.output
        assert result.output.splitlines() == [*expected, f"startups: {done}"]


def _write(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    path = tmp_path / "good.json"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path
