"""A table held column by column reads back every record as written, in the narrowest columns."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import numpy as np

from matcher.catalog import KindTable
from matcher.columns import CodedField, IntegerField, RowStore, TextField
from models.clock import BEIJING
from models.enums import EntityKind, PersonRole


def _record(row_id: int, rng: random.Random) -> dict[str, Any]:
    record = {
        "id": row_id,
        "name": f"光谷{row_id}号" if row_id % 3 else "x" * rng.randint(0, 90),
        "funding_ask_cny": None if row_id % 5 == 0 else rng.randint(-(10**12), 10**12),
        "share": rng.random(),
        "returnee": row_id % 2 == 0,
        "role": PersonRole.student,
        "industries": ["ai", "biotech"][: row_id % 3],
        "created_at": dt.datetime(2020, 1, 1, tzinfo=BEIJING) + dt.timedelta(seconds=row_id * 7777.5),
        "founded_on": dt.date(2020, 1, 1) + dt.timedelta(days=row_id),
        "naive": dt.datetime(2020, 1, 1) + dt.timedelta(minutes=row_id),
        "code_or_text": row_id if row_id % 7 else "seven",
        "symbols": "😀" * (row_id % 4) + ("\ud800" if row_id == 5 else ""),
        "late": None if row_id < 50 else row_id,
    }
    if row_id % 11 == 0:
        del record["share"]
    return record


def test_every_record_reads_back_equal_and_of_the_same_types_after_edits_and_removals() -> None:
    rng = random.Random(7)
    table = KindTable(EntityKind.person)
    written = {}
    for row_id in range(1, 400):
        written[row_id] = _record(row_id, rng)
        table.upsert(written[row_id])
    for row_id in range(1, 400, 13):  # edits: fewer keys, a value too wide for int64
        written[row_id] = {"id": row_id, "name": "改名", "funding_ask_cny": 2**70}
        table.upsert(written[row_id])
    table.remove(17)
    written[17] = {"id": 17, "active": False}
    for row_id, record in written.items():
        read = table.record(row_id)
        assert read == record
        assert {k: type(v) for k, v in read.items()} == {k: type(v) for k, v in record.items()}
        assert dict(table.view(table.position(row_id))) == record
    assert [r["id"] for r in table.records] == list(written)
    assert table.records[-1] == written[399]
    assert table.records[1:3] == [written[2], written[3]]


def test_a_returned_list_is_the_callers_own() -> None:
    table = KindTable(EntityKind.startup)
    table.upsert({"id": 1, "industries": ["ai"]})
    table.upsert({"id": 2, "industries": ["ai"]})
    table.record(1)["industries"].append("changed")
    assert table.record(1)["industries"] == table.record(2)["industries"] == ["ai"]


def test_integers_take_the_narrowest_dtype_and_widen_when_a_value_needs_it() -> None:
    store = RowStore()
    for at in range(100):
        store.write(at, {"small": at, "unknown_yet": None}, overwrite=False)
    small = store.fields["small"]
    assert isinstance(small, IntegerField)
    assert small.numbers.dtype == np.int8
    store.write(100, {"small": 40_000, "unknown_yet": 3}, overwrite=False)
    assert small.numbers.dtype == np.int32
    assert store.value(5, "small") == 5
    # A column of None so far takes the type of its first value, keeping the earlier Nones.
    assert isinstance(store.fields["unknown_yet"], IntegerField)
    assert [store.value(at, "unknown_yet") for at in (0, 100)] == [None, 3]
    store.write(101, {"small": 2.5}, overwrite=False)  # not an integer: the column holds anything now
    assert isinstance(store.fields["small"], CodedField)
    assert [store.value(at, "small") for at in (5, 100, 101)] == [5, 40_000, 2.5]


def test_chinese_text_takes_two_bytes_a_character_and_a_repeated_text_its_bytes_once() -> None:
    store = RowStore()
    for at in range(1000):
        store.write(at, {"district": "洪山区", "description": "面向高校的智能视觉检测平台"}, overwrite=False)
    store.write(1000, {"district": "江夏区", "description": "english text"}, overwrite=False)
    for name in ("district", "description"):
        field = store.fields[name]
        assert isinstance(field, TextField)
    assert len(store.fields["district"].data) == 2 * (3 + 3)  # type: ignore[attr-defined]
    assert len(store.fields["description"].data) == 2 * 13 + len("english text")  # type: ignore[attr-defined]
    assert store.value(999, "description") == "面向高校的智能视觉检测平台"
    assert store.value(1000, "description") == "english text"


def test_sparse_ids_are_found_as_dense_ones() -> None:
    table = KindTable(EntityKind.startup)
    ids = [5, 3, 10**12, -4, 2**40 + 1, 7]
    for row_id in ids:
        table.upsert({"id": row_id, "name": str(row_id)})
    assert [table.position(row_id) for row_id in ids] == list(range(len(ids)))
    assert all(row_id in table for row_id in ids)
    assert 8 not in table
    assert "5" not in table
    assert table.ids.tolist() == ids


def test_rows_past_the_last_value_read_as_none_in_whole_column_reads() -> None:
    store = RowStore()
    store.write(0, {"seats": 5, "stage": ["seed"]}, overwrite=True)
    for at in range(1, 40):
        store.write(at, {"seats": None, "stage": None}, overwrite=True)
    store.write(40, {"name": "光谷"}, overwrite=True)

    floats = store.floats("seats", 41)
    assert floats is not None
    assert len(floats) == 41
    assert floats[0] == 5
    assert np.isnan(floats[1:]).all()
    assert list(store.values("stage", 41)) == [["seed"]] + [None] * 40
