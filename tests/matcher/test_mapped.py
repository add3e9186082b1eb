"""Memory-mapped state: files unlike their manifest are written again, never read; a mapped
catalogue and lexical store answer as the private ones did, and later edits stay private."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from matcher.catalog import Catalog, KindTable
from matcher.config import MatcherConfig, RerankConfig
from matcher.mapped import MANIFEST, MappedFileMismatchError, load_arrays, save_arrays, shared
from matcher.matcher import MAPPED_DIR, Matcher
from models.db import create_db_engine, session_factory
from models.enums import EntityKind
from tests.conftest import TEST_SECRET
from tests.doubles import HashingEncoder
from tests.factories import load_small_demo
from tests.matcher.test_columns import _record

ARRAYS: dict[str, np.ndarray] = {
    "ids": np.arange(1000, dtype=np.int64),
    "text": np.frombuffer("光谷".encode() * 50, np.uint8),
}


def _truncate(folder: Path) -> None:
    path = folder / "ids.bin"
    path.write_bytes(path.read_bytes()[:-8])


def _flip_a_byte(folder: Path) -> None:
    path = folder / "ids.bin"
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))


def _bump_the_version(folder: Path) -> None:
    manifest = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps(manifest | {"schema_version": manifest["schema_version"] + 1}))


def _remove_a_file(folder: Path) -> None:
    (folder / "text.bin").unlink()


@pytest.mark.parametrize("damage", [_truncate, _flip_a_byte, _bump_the_version, _remove_a_file])
def test_a_file_unlike_its_manifest_is_never_read_and_is_written_again(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    folder = tmp_path / "columns"
    save_arrays(folder, ARRAYS)
    damage(folder)
    with pytest.raises(MappedFileMismatchError):
        load_arrays(folder)
    mapped = shared(folder, ARRAYS)
    for name, array in ARRAYS.items():
        np.testing.assert_array_equal(mapped[name], array)
    assert isinstance(mapped["ids"].base, np.memmap)
    # A plain ndarray over the mapping: an np.memmap runs Python code on every slice.
    assert type(mapped["ids"]) is np.ndarray
    np.testing.assert_array_equal(load_arrays(folder)["ids"], ARRAYS["ids"])


def test_equal_arrays_map_the_files_there_and_other_arrays_replace_them(tmp_path: Path) -> None:
    folder = tmp_path / "columns"
    shared(folder, ARRAYS)
    written = (folder / "ids.bin").stat().st_ino
    shared(folder, {name: array.copy() for name, array in ARRAYS.items()})  # another worker, same state
    assert (folder / "ids.bin").stat().st_ino == written
    changed = ARRAYS | {"ids": np.arange(1, 1001, dtype=np.int64)}
    np.testing.assert_array_equal(shared(folder, changed)["ids"], changed["ids"])
    assert (folder / "ids.bin").stat().st_ino != written


def test_a_mapped_table_reads_as_before_and_keeps_later_edits_to_itself(tmp_path: Path) -> None:
    rng = random.Random(3)
    records = {row_id: _record(row_id, rng) for row_id in range(1, 300)}
    first, second = KindTable(EntityKind.startup), KindTable(EntityKind.startup)
    for record in records.values():
        first.upsert(record)
        second.upsert(record)
    folder = tmp_path / "startups"
    first.share(folder)
    second.share(folder)  # a second worker of the host maps the same files
    assert isinstance(first._store.fields["name"].arrays()["starts"].base, np.memmap)
    assert [first.record(i) for i in records] == list(records.values())
    edited = records[5] | {"name": "改名后的公司", "funding_ask_cny": 1}
    first.upsert(edited)
    first.upsert(_record(400, rng))
    first.remove(7)
    assert first.record(5) == edited
    assert first.record(400)["id"] == 400
    assert 7 not in first
    assert [second.record(i) for i in records] == list(records.values())
    assert 7 in second
    np.testing.assert_array_equal(load_arrays(folder)["table.ids"][:299], np.arange(1, 300))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder: Path = tmp_path_factory.mktemp("mapped")
    load_small_demo(f"sqlite:///{folder / 'demo.db'}", seed=13, secret=TEST_SECRET)
    return folder / "demo.db"


def _matcher(source: Path, index_dir: Path) -> Matcher:
    engine = create_db_engine(f"sqlite:///{source}")
    with session_factory(engine)() as session:
        catalog = Catalog.from_database(session)
    engine.dispose()
    config = MatcherConfig(rerank=RerankConfig(exposure_cap=None))
    return Matcher(encoder=HashingEncoder(), config=config, index_dir=index_dir).fit(catalog)


def _answers(matcher: Matcher) -> list[list[tuple[int, float, tuple[str, ...]]]]:
    return [
        [(m.id, round(m.score, 9), tuple(r.en for r in m.reasons)) for m in matcher.recommend(a, i, c)]
        for a, c in ((EntityKind.investor, EntityKind.startup), (EntityKind.startup, EntityKind.investor))
        for i in matcher.catalog_.tables[a].ids[:10].tolist()
    ]


def test_a_shared_matcher_answers_as_its_private_state_did_before_and_after_edits(
    demo: Path, tmp_path: Path
) -> None:
    private, mapped = _matcher(demo, tmp_path / "a"), _matcher(demo, tmp_path / "b")
    mapped.share()
    assert (tmp_path / "b" / MAPPED_DIR / "lexical" / "startup" / MANIFEST).exists()
    assert _answers(mapped) == _answers(private)
    for matcher in (private, mapped):
        startups = matcher.catalog_.tables[EntityKind.startup]
        row_id = int(startups.ids[2])
        matcher.upsert_profile(
            EntityKind.startup, startups.record(row_id) | {"description": "面向高校的智能视觉检测平台"}
        )
        matcher.remove_profile(EntityKind.investor, int(matcher.catalog_.tables[EntityKind.investor].ids[0]))
    assert _answers(mapped) == _answers(private)


def test_postings_an_older_build_mapped_as_weights_are_written_anew_as_counts(
    demo: Path, tmp_path: Path
) -> None:
    older = _matcher(demo, tmp_path / "served")
    for channel in older.channels_.kinds.values():  # postings as builds before counts held them
        channel.weighting, channel._postings = None, None
    older.share()
    folder = tmp_path / "served" / MAPPED_DIR / "lexical" / "startup"
    assert load_arrays(folder)["postings.data"].dtype == np.float32
    private, served = _matcher(demo, tmp_path / "private"), _matcher(demo, tmp_path / "served")
    served.share()
    assert load_arrays(folder)["postings.data"].dtype == np.uint8
    assert _answers(served) == _answers(private) == _answers(older)


def test_an_erased_profiles_texts_leave_the_columns_and_the_files_written_next(
    demo: Path, tmp_path: Path
) -> None:
    matcher = _matcher(demo, tmp_path / "erased")
    matcher.share()
    people = matcher.catalog_.tables[EntityKind.person]
    row_id = int(people.ids[4])
    marked = people.record(row_id) | {"bio": "独一无二的简介文字", "name": "Zed Unique"}
    matcher.upsert_profile(EntityKind.person, marked)
    matcher.share()
    files = b"".join(p.read_bytes() for p in (tmp_path / "erased" / MAPPED_DIR).rglob("*.bin"))
    assert "独一无二的简介文字".encode("utf-16-le") in files
    matcher.erase_profile(EntityKind.person, row_id)
    matcher.share()
    files = b"".join(p.read_bytes() for p in (tmp_path / "erased").rglob("*") if p.is_file())
    for text in ("独一无二的简介文字", "Zed Unique"):
        assert text.encode("utf-16-le") not in files
        assert text.encode() not in files
    assert people.record(row_id) == {"id": row_id, "active": False}
    assert people.record(int(people.ids[5]))["id"] == int(people.ids[5])
