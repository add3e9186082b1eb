"""Bulk import and export of any kind as CSV, JSON (or JSON lines) and Parquet.

Import is all or nothing: every row is validated first, every problem is collected, and
only a file without problems is written, in one transaction, upserting by ``external_id``.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import io
import json
import math
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl.utils.exceptions import InvalidFileException
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models.changes import BULK
from models.clock import beijing_now
from models.coercion import coercions
from models.db import transaction
from models.files import write_atomically
from models.kinds import IMPORT_ORDER, KINDS, BatchIdNumbers, KindSpec, WriteContext
from models.refs import KnownIds, ReferenceCheckError
from models.repository import Repository, fill_row
from models.spreadsheets import csv_bytes, xlsx_bytes

SUPPORTED_SUFFIXES = (".csv", ".xlsx", ".json", ".jsonl", ".parquet")
SAVE_AS_UTF8 = (
    "请在 Excel 或 WPS 中另存为 “CSV UTF-8” 或 .xlsx 后重新导入 / "
    "save it as “CSV UTF-8” or .xlsx (Excel: Save As) and import it again"
)
# Byte-order marks, longest first: UTF-32's LE mark begins with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Below this share of CJK among the non-ASCII characters, bytes that happen to decode as
# GB18030 are more likely another legacy encoding (Big5, Latin-1) read as mojibake.
_MIN_CJK_SHARE = 0.8
Progress = Callable[[Iterable[Any], int, str], Iterable[Any]]
# Called with the import's session and its written rows (flushed, ids known) before the commit,
# so whatever it writes (a notice, say) commits or rolls back with the import.
BeforeCommit = Callable[[Session, Sequence[Any]], None]


def _no_progress(items: Iterable[Any], _total: int, _label: str) -> Iterable[Any]:
    return items


@dataclass(frozen=True)
class RowProblem:
    """One reason a row cannot be imported; rows count data rows from 1 (a header is no row)."""

    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.reason}"


class ImportRowsError(ValueError):
    """Raised when any row of an import is bad; nothing was written."""

    def __init__(self, problems: Sequence[RowProblem]) -> None:
        self.problems = list(problems)
        super().__init__(self.summary() + ":\n" + "\n".join(self.lines()))

    def by_row(self) -> dict[int, list[RowProblem]]:
        """The problems grouped by row, rows in order (row 0 is the file as a whole)."""
        grouped: dict[int, list[RowProblem]] = {}
        for problem in sorted(self.problems, key=lambda p: p.row):
            grouped.setdefault(problem.row, []).append(problem)
        return grouped

    def summary(self) -> str:
        """Counts rows, not problems: one row with two bad cells is one bad row."""
        rows = [row for row in self.by_row() if row > 0]
        if not rows:
            return "the file cannot be read; nothing was imported / 文件无法读取，未导入任何数据"
        return (
            f"{len(rows)} bad row(s) with {len(self.problems)} problem(s); nothing was imported / "
            f"{len(rows)} 行有误，共 {len(self.problems)} 处问题，未导入任何数据"
        )

    def lines(self) -> list[str]:
        """One line per bad row, listing each of its problems."""
        return [
            ("file" if row == 0 else f"row {row}")
            + ": "
            + "; ".join(f"{p.column}: {p.reason}" for p in problems)
            for row, problems in self.by_row().items()
        ]


@dataclass(frozen=True)
class Normalisation:
    """A vocabulary value a row gave as another spelling, stored as its code ("B+ → b")."""

    row: int
    field: str
    change: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.change}"


@dataclass(frozen=True)
class ImportReport:
    kind: str
    created: int
    updated: int
    normalised: tuple[Normalisation, ...] = ()


# --- reading files --------------------------------------------------------------------


def read_records(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV, JSON, JSON-lines or Parquet file as plain Python dicts, empty cells omitted."""
    frame = _read_frame(path)
    return [_clean_record(record) for record in frame.to_dict(orient="records")]


def _read_frame(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        # Everything as text: the schema, not pandas, decides what a number or a date is.
        return pd.read_csv(io.StringIO(decode_text(path.read_bytes())), dtype=object, keep_default_na=False)
    if suffix == ".xlsx":
        return _read_workbook(path)
    if suffix in (".json", ".jsonl"):
        return pd.read_json(path, orient="records", lines=suffix == ".jsonl", dtype=False)
    if suffix == ".parquet":
        return pd.read_parquet(path)
    raise ValueError(f"file: unsupported type '{suffix}'; use one of {', '.join(SUPPORTED_SUFFIXES)}")


def _read_workbook(path: Path) -> pd.DataFrame:
    """The first sheet; empty cells stay empty, not the text "nan"."""
    try:
        return pd.read_excel(path, dtype=object, engine="openpyxl", keep_default_na=False, na_values=[])
    except (zipfile.BadZipFile, InvalidFileException, KeyError) as error:
        raise ValueError(
            "the file is not an Excel workbook (.xlsx); 请用 Excel 或 WPS 另存为 .xlsx 或 “CSV UTF-8” / "
            "save it as .xlsx or “CSV UTF-8”"
        ) from error


def decode_text(data: bytes) -> str:
    """Text of a file from Chinese Excel, WPS or a script: UTF-8 (with or without a BOM),
    UTF-16 with a BOM, or GB18030 (a superset of GBK and GB2312); refused in words otherwise."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if b"\x00" in data:
        raise ValueError(f"the file looks like UTF-16 without a byte-order mark; {SAVE_AS_UTF8}")
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise ValueError(f"the file is neither UTF-8 nor GB18030/GBK text; {SAVE_AS_UTF8}") from None
    if _cjk_share(text) < _MIN_CJK_SHARE:
        raise ValueError(
            f"the file's encoding is unclear (not UTF-8; GBK would give garbled text); {SAVE_AS_UTF8}"
        )
    return text


def _cjk_share(text: str) -> float:
    wide = [char for char in text if ord(char) > 0x7F]
    cjk = [char for char in wide if unicodedata.east_asian_width(char) in ("W", "F")]
    return len(cjk) / len(wide) if wide else 1.0


def _clean_record(record: dict[Any, Any]) -> dict[str, Any]:
    cleaned = {str(key): _plain(value) for key, value in record.items()}
    return {key: value for key, value in cleaned.items() if value is not None and value != ""}


def _plain(value: Any) -> Any:
    """numpy/pandas scalars and arrays as plain Python values; missing values as None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.ndarray):
        return [_plain(item) for item in value.tolist()]
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return _plain(value.item())
    return value


def _decode_text_cells(spec: KindSpec, record: dict[str, Any]) -> dict[str, Any]:
    """CSV cells of list fields hold a JSON array or a '|'-separated list."""
    decoded = dict(record)
    for name, value in record.items():
        if isinstance(value, str) and name in spec.list_fields:
            text = value.strip()
            decoded[name] = (
                json.loads(text) if text.startswith("[") else [p for p in text.split("|") if p.strip()]
            )
    return decoded


# --- importing ------------------------------------------------------------------------


def import_file(
    factory: sessionmaker[Session],
    spec: KindSpec,
    path: Path,
    *,
    secret: str,
    progress: Progress = _no_progress,
    before_commit: BeforeCommit | None = None,
) -> ImportReport:
    try:
        records = read_records(path)
    except (ValueError, OSError) as error:
        raise ImportRowsError([RowProblem(0, "file", str(error))]) from error
    return import_records(
        factory, spec, records, secret=secret, progress=progress, before_commit=before_commit
    )


# Up to this many rows an import enters the change feed row by row, and each process applies
# it as it applies any write (one row costs one profile's update); above it, one "reload" entry
# has each process rebuild off its lock and swap, cheaper than thousands of single updates.
ROW_BY_ROW_MAX_ROWS = 200


def import_records(
    factory: sessionmaker[Session],
    spec: KindSpec,
    records: Sequence[dict[str, Any]],
    *,
    secret: str,
    progress: Progress = _no_progress,
    before_commit: BeforeCommit | None = None,
) -> ImportReport:
    """Upsert ``records`` by external_id, all or nothing; raises :class:`ImportRowsError`.
    ``before_commit`` sees the written rows inside the import's transaction."""
    prepared = [_with_interaction_id(spec, _decode_text_cells(spec, r)) for r in records]
    with transaction(factory) as session:
        session.info[BULK] = len(prepared) > ROW_BY_ROW_MAX_ROWS
        repository = Repository(session, secret=secret)
        existing = repository.by_external_ids(
            spec, [r["external_id"] for r in prepared if "external_id" in r]
        )
        rows = [existing.get(record.get("external_id", "")) for record in prepared]
        models, normalised = _validated(
            spec,
            prepared,
            lambda number, record: repository.merged(spec, rows[number - 1], record),
            progress,
        )
        problems: list[RowProblem] = []
        written: list[Any] = []
        for number, (row, model) in enumerate(
            progress(list(zip(rows, models, strict=True)), len(models), f"write {spec.slug}"), start=1
        ):
            try:
                written.append(repository.save(spec, row, model, flush=False))
            except ReferenceCheckError as problem:
                problems.append(RowProblem(number, problem.field, problem.reason))
        session.flush()
        if problems:
            # Raising inside the transaction rolls every written row back.
            raise ImportRowsError(problems)
        if before_commit is not None:
            before_commit(session, written)
    created = sum(1 for row in rows if row is None)
    return ImportReport(
        spec.slug, created=created, updated=len(models) - created, normalised=tuple(normalised)
    )


def _validated(
    spec: KindSpec,
    prepared: Sequence[dict[str, Any]],
    merge: Callable[[int, dict[str, Any]], BaseModel],
    progress: Progress = _no_progress,
) -> tuple[list[BaseModel], list[Normalisation]]:
    """Every record as its Create model (``merge`` validates record number n, from 1), and the
    spellings normalised; raises :class:`ImportRowsError` with every problem of every row."""
    problems = list(_duplicate_ids(prepared))
    models: list[BaseModel] = []
    normalised: list[Normalisation] = []
    for number, record in enumerate(progress(prepared, len(prepared), f"validate {spec.slug}"), start=1):
        try:
            model = merge(number, record)
        except ValidationError as error:
            problems.extend(_row_problems(number, error))
            continue
        models.append(model)
        normalised.extend(
            Normalisation(number, name, change) for name, change in coercions(record, model).items()
        )
    if problems:
        raise ImportRowsError(sorted(problems, key=lambda p: p.row))
    return models, normalised


def rows_in_memory(records: Mapping[str, Sequence[dict[str, Any]]], *, secret: str) -> dict[str, list[Any]]:
    """The rows an import of ``records`` (slug -> records) into an empty database would write,
    built in memory with no database: each record validated through its kind's Create schema,
    each reference resolved among the records, row ids numbered from 1 per kind in the order
    given, as a fresh database numbers them.

    Raises :class:`ImportRowsError` naming each problem's row (from 1) and ``slug.field``.
    """
    context = WriteContext(KnownIds(), secret, BatchIdNumbers())
    now = beijing_now()
    built: dict[str, list[Any]] = {}
    for slug in IMPORT_ORDER:
        if records.get(slug):
            try:
                built[slug] = _kind_in_memory(KINDS[slug], records[slug], context, now)
            except ImportRowsError as error:
                raise ImportRowsError(
                    [replace(p, column=f"{slug}.{p.column}") for p in error.problems]
                ) from None
    return built


def _kind_in_memory(
    spec: KindSpec, records: Sequence[dict[str, Any]], context: WriteContext, now: dt.datetime
) -> list[Any]:
    prepared = [_with_interaction_id(spec, _decode_text_cells(spec, r)) for r in records]
    models, _ = _validated(spec, prepared, lambda _, record: spec.create.model_validate(record, strict=False))
    rows: list[Any] = []
    problems: list[RowProblem] = []
    for number, model in enumerate(models, start=1):
        row: Any = spec.table(id=number, created_at=now, updated_at=now)
        try:
            fill_row(spec, row, model, context)
        except ReferenceCheckError as problem:
            problems.append(RowProblem(number, problem.field, problem.reason))
            continue
        if spec.entity is not None:
            context.refs.remember(spec.entity, row.id, row.external_id)
        rows.append(row)
    if problems:
        raise ImportRowsError(problems)
    return rows


def _with_interaction_id(spec: KindSpec, record: dict[str, Any]) -> dict[str, Any]:
    """An interaction without an external id gets one derived from its content, so that
    importing the same history twice does not double it."""
    if spec.slug != "interactions" or "external_id" in record:
        return record
    key = "|".join(
        str(record.get(f, ""))
        for f in (
            "actor_kind",
            "actor_external_id",
            "kind",
            "target_kind",
            "target_external_id",
            "occurred_at",
        )
    )
    return {**record, "external_id": f"{spec.id_prefix}-{hashlib.sha256(key.encode()).hexdigest()[:24]}"}


def _duplicate_ids(records: Sequence[dict[str, Any]]) -> Iterator[RowProblem]:
    first_row: dict[str, int] = {}
    for number, record in enumerate(records, start=1):
        external_id = record.get("external_id")
        if external_id is None:
            continue
        if external_id in first_row:
            yield RowProblem(
                number, "external_id", f"'{external_id}' already appears in row {first_row[external_id]}"
            )
        else:
            first_row[external_id] = number


def _row_problems(number: int, error: ValidationError) -> Iterator[RowProblem]:
    for detail in error.errors(include_url=False):
        column = ".".join(str(part) for part in detail["loc"]) or "(row)"
        yield RowProblem(number, column, detail["msg"])


# --- exporting ------------------------------------------------------------------------


def export_records(session: Session, spec: KindSpec, *, secret: str) -> list[dict[str, Any]]:
    """Every row of the kind as Create-shaped dicts; personal contact data is never exported."""
    repository = Repository(session, secret=secret)
    table: Any = spec.table
    rows = session.scalars(select(table).order_by(table.id))
    return [
        spec.create.model_validate(repository.fields_of(spec, row)).model_dump(
            mode="json", exclude=set(spec.write_only)
        )
        for row in rows
    ]


def export_file(factory: sessionmaker[Session], spec: KindSpec, path: Path, *, secret: str) -> int:
    with factory() as session:
        records = export_records(session, spec, secret=secret)
    write_records(records, path, spec)
    return len(records)


def write_records(records: Sequence[dict[str, Any]], path: Path, spec: KindSpec) -> None:
    """Write atomically: a crash never leaves half a file under the final name."""
    suffix = path.suffix.lower()
    # external_id first: it is the key a person reading the file looks for.
    columns = [
        "external_id",
        *(n for n in spec.create.model_fields if n not in spec.write_only | {"external_id"}),
    ]
    frame = pd.DataFrame.from_records(list(records), columns=columns)
    content: str | bytes
    if suffix in (".csv", ".xlsx"):
        # A cell holds text: lists as JSON arrays, which import reads back.
        for column in frame.columns:
            if column in spec.list_fields:
                frame[column] = [json.dumps(v, ensure_ascii=False) for v in frame[column]]
    if suffix == ".csv":
        content = csv_bytes(list(frame.columns), frame.itertuples(index=False, name=None))
    elif suffix == ".xlsx":
        content = xlsx_bytes(list(frame.columns), frame.itertuples(index=False, name=None))
    elif suffix in (".json", ".jsonl"):
        lines = suffix == ".jsonl"
        content = frame.to_json(orient="records", force_ascii=False, lines=lines, indent=None if lines else 1)
    elif suffix == ".parquet":
        content = frame.to_parquet(index=False)
    else:
        raise ValueError(f"file: unsupported type '{suffix}'; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    write_atomically(path, content)
