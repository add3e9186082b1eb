"""The dataset mappers' tables, moved from Python literals to matcher/data/*.toml, load to
exactly the objects the literals built.

The digests were taken from the literals' objects just before the move (order included: the
close-match suggestions for a typo follow it). A deliberate change to a table changes its
digest; put the new one here in the same commit.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from matcher.evaluation import crunchbase, cyzone


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=False).encode()).hexdigest()


@pytest.mark.parametrize(
    ("value", "digest"),
    [
        (
            list(crunchbase._CRUNCHBASE_CATEGORIES.items()),
            "411f5e871b8a8228eba526afb83c4ccbbf24787d373c62475f475a86f7e022cc",
        ),
        (
            list(crunchbase._CRUNCHBASE_ROUNDS.items()),
            "4693a5d5f4c0a6f2a522a3727c4b74dd39722beb50c25ca5c51912ef92b59742",
        ),
        (
            list(crunchbase.STAGE_BANDS_USD),
            "299d6695f67a5864688a6c7ae4184ed0ad56cf23dd41c9a1de06a22fd165fe9b",
        ),
        (sorted(cyzone.EARLY_ROUNDS), "60850f1f04c559e5a7a412f25691fd5551bf69dd1297a94a5c85f612010e5342"),
        (
            sorted(cyzone.CYZONE_PLACEHOLDER_TAGS),
            "8caef9f22a63f5c6f224260554e2c2f4f1f8a38e2cbe4818ed8e4668622037fa",
        ),
        (
            sorted(cyzone.CYZONE_AMBIGUOUS_TAGS),
            "2d390e7fda7a3585d81c68ff1c13e8533c48782c53d82ed21967ad38a95ba6a9",
        ),
    ],
    ids=[
        "crunchbase categories",
        "crunchbase rounds",
        "stage bands",
        "early rounds",
        "placeholders",
        "ambiguous",
    ],
)
def test_each_table_loads_to_the_objects_the_literals_built(value: object, digest: str) -> None:
    assert _digest(value) == digest


def test_the_tables_keep_their_types() -> None:
    assert all(isinstance(limit, int) for limit, _ in crunchbase.STAGE_BANDS_USD)
    assert crunchbase.map_crunchbase_category("government") is None
    assert crunchbase.map_crunchbase_round("series-c+") == "c_plus"
    assert isinstance(cyzone.EARLY_ROUNDS, frozenset)
