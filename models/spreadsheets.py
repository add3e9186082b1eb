"""Tables as the files staff open in a spreadsheet: CSV that Excel reads as Chinese, or xlsx.

Every export (bulk export, an investor's pipeline, a policy's eligible list) goes through here,
so each gets the same byte-order mark and the same cleaning of cells a worksheet refuses.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

CSV_MEDIA = "text/csv; charset=utf-8"
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

__all__ = ["CSV_MEDIA", "XLSX_MEDIA", "csv_bytes", "xlsx_bytes"]


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 with a byte-order mark: without it Excel on Chinese Windows reads the ANSI code page (GBK)."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows([_blank_if_missing(cell) for cell in row] for row in rows)
    return text.getvalue().encode("utf-8-sig")


def xlsx_bytes(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, sheet_title: str | None = None
) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook always has its first sheet
    if sheet_title:
        sheet.title = sheet_title
    sheet.append(list(header))
    for row in rows:
        sheet.append([_worksheet_cell(cell) for cell in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _is_missing(cell: Any) -> bool:
    return cell is None or (isinstance(cell, float) and math.isnan(cell))


def _blank_if_missing(cell: Any) -> Any:
    return "" if _is_missing(cell) else cell


def _worksheet_cell(cell: Any) -> Any:
    # openpyxl raises on control characters a name or text may hold: they have no place in a cell.
    if isinstance(cell, str):
        return ILLEGAL_CHARACTERS_RE.sub("", cell)
    return None if _is_missing(cell) else cell
