"""A kind's stored vector index is read only when its files match their manifest; else rebuilt."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from matcher.catalog import Catalog
from matcher.channels import Channels
from matcher.config import RetrievalConfig
from models.enums import EntityKind
from tests.doubles import HashingEncoder

STARTUPS = 40
GRAPH = RetrievalConfig(exact_threshold=10)  # forty startups make an HNSW graph


def _startups() -> Catalog:
    catalog = Catalog.empty()
    for n in range(1, STARTUPS + 1):
        row = {"id": n, "external_id": f"S-{n}", "name": f"第{n}号公司", "one_liner": f"工业视觉 质检 {n} 号"}
        catalog.tables[EntityKind.startup].upsert(row)
    return catalog


def _flip_a_byte(path: Path) -> None:
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))


def _bump_the_version(path: Path) -> None:
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "schema_version": manifest["schema_version"] + 1}))


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("vectors.npy", _flip_a_byte),
        ("index.faiss", lambda path: path.write_bytes(path.read_bytes()[:-1])),
        ("manifest.json", _bump_the_version),
    ],
)
def test_a_stored_index_unlike_its_manifest_is_rebuilt_not_read(
    tmp_path: Path, name: str, damage: Callable[[Path], None]
) -> None:
    catalog = _startups()
    built = Channels.build(catalog, HashingEncoder(), retrieval=GRAPH, index_dir=tmp_path)
    built.save(tmp_path)
    ids = list(range(1, STARTUPS + 1))
    expected = built.kinds[EntityKind.startup].index.vectors_of(ids)

    intact = HashingEncoder()
    Channels.build(catalog, intact, retrieval=GRAPH, index_dir=tmp_path, kinds={EntityKind.startup})
    assert intact.encoded == 0  # read from the files

    damage(tmp_path / "startup.index" / name)
    rebuilding = HashingEncoder()
    read = Channels.build(
        catalog, rebuilding, retrieval=GRAPH, index_dir=tmp_path, kinds={EntityKind.startup}
    )
    assert rebuilding.encoded == STARTUPS
    np.testing.assert_array_equal(read.kinds[EntityKind.startup].index.vectors_of(ids), expected)
