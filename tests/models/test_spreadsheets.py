import io
import math

from openpyxl import load_workbook

from models.spreadsheets import csv_bytes, xlsx_bytes

HEADER = ("id", "name", "ask")
ROWS = [(1, "光谷\x07机器人", 500.0), (2, None, math.nan)]


def test_csv_starts_with_a_bom_and_writes_missing_cells_blank() -> None:
    content = csv_bytes(HEADER, ROWS)
    assert content.startswith(b"\xef\xbb\xbf")
    lines = content.decode("utf-8-sig").splitlines()
    assert lines == ["id,name,ask", "1,光谷\x07机器人,500.0", "2,,"]


def test_xlsx_drops_characters_a_worksheet_refuses_and_keeps_the_rest() -> None:
    book = load_workbook(io.BytesIO(xlsx_bytes(HEADER, ROWS, sheet_title="pipeline")))
    sheet = book["pipeline"]
    assert [list(row) for row in sheet.iter_rows(values_only=True)] == [
        ["id", "name", "ask"],
        [1, "光谷机器人", 500],
        [2, None, None],
    ]
