"""Every reason on real queries names a concrete fact: a place, a company, a number or an industry.

Real 创业邦 and Crunchbase rounds (thinned so the test stays quick) are imported as a deployment
would hold them, each query startup asks for investors, and every reason of every match shown
is checked in both languages.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pytest

from matcher.evaluation.crunchbase import DATASET_DIR_NAME as CRUNCHBASE_DIR
from matcher.evaluation.crunchbase import EDGES_FILE, crunchbase_folds
from matcher.evaluation.cyzone import (
    CYZONE_SPLIT,
    EVENTS_FILE,
    cyzone_data_dir,
    cyzone_records,
    early_queries,
    history_investor_ids,
    read_cyzone_events,
)
from matcher.evaluation.protocol import Fold, spread_sample
from matcher.evaluation.world import MatcherWorld
from matcher.matcher import Match
from models.enums import EntityKind
from models.places import CITIES, COUNTRIES, PROVINCES
from models.settings import Settings
from models.taxonomy import AREAS, INDUSTRIES
from tests.doubles import HashingEncoder

QUERIES = 12
_DIGIT = re.compile(r"\d")
_NAMED = re.compile(r"「[^」]+」|“[^”]+”")
_WRONG_PLURAL = re.compile(r"\b1 (?:companies|deals|relations)\b")
_KEYWORDS = ("共同关键词", "shared keywords")  # words that passed the stop-list (matcher.keywords)
FACT_WORDS = (
    frozenset(
        word
        for table in (CITIES, PROVINCES, COUNTRIES)
        for entry in table.values()
        for word in (entry.zh, entry.en)
    )
    | {word for area in AREAS.values() for word in (area.zh, area.en)}
    | {word for industry in INDUSTRIES.values() for word in (industry.zh, industry.en.lower())}
)


def names_a_fact(sentence: str) -> bool:
    return bool(
        _DIGIT.search(sentence)
        or _NAMED.search(sentence)
        or any(marker in sentence for marker in _KEYWORDS)
        or any(word in sentence for word in FACT_WORDS)
    )


def _require(path: Path) -> None:
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the dataset must be present in CI: {path}")
        pytest.skip(f"no dataset at {path}")


def _matches(fold: Fold, folder: Path) -> Iterable[Match]:
    world = MatcherWorld.build(fold, encoder=HashingEncoder(), directory=folder)
    matcher = world.matcher()
    for query in fold.queries:
        with world.asking(matcher, query) as row_id:
            yield from matcher.recommend(EntityKind.startup, row_id, EntityKind.investor, k=10)


def _check(matches: Iterable[Match]) -> int:
    checked = 0
    for match in matches:
        for reason in match.reasons:
            for sentence in (reason.zh, reason.en):
                assert names_a_fact(sentence), (
                    f"{match.name}: {reason.feature} says nothing to check: {sentence}"
                )
            assert not _WRONG_PLURAL.search(reason.en), reason.en
            checked += 1
    return checked


def test_reasons_on_real_cyzone_queries_name_facts(tmp_path: Path) -> None:
    directory = cyzone_data_dir(Settings())
    _require(directory / EVENTS_FILE)
    events = read_cyzone_events(directory, every=8)
    split = CYZONE_SPLIT
    fold = Fold(
        name="cyzone-reasons",
        records=cyzone_records(events, until=split.history_end),
        queries=spread_sample(early_queries(events, split), QUERIES),
        candidates=history_investor_ids(events, split.history_end),
        history_end=split.history_end,
    )
    assert _check(_matches(fold, tmp_path)) > QUERIES


def test_reasons_on_real_crunchbase_queries_name_facts(tmp_path: Path) -> None:
    directory = Settings().shared_data_dir / CRUNCHBASE_DIR
    _require(directory / EDGES_FILE)
    (fold,) = crunchbase_folds(directory, sample=QUERIES)
    # A tenth of the history keeps the import quick and still gives every investor a past.
    interactions = list(fold.records["interactions"])[::10]
    startups = {i["target_external_id"] for i in interactions}
    investors = {i["actor_external_id"] for i in interactions}
    thinned = replace(
        fold,
        records={
            "startups": [s for s in fold.records["startups"] if s["external_id"] in startups],
            "investors": [i for i in fold.records["investors"] if i["external_id"] in investors],
            "interactions": interactions,
        },
        candidates=frozenset(investors),
    )
    assert _check(_matches(thinned, tmp_path)) > QUERIES
