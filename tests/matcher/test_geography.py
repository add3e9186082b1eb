"""Investors' geography is learned from their deals as of a date, and reasons name the place."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from matcher.catalog import Catalog
from matcher.config import MatcherConfig, SideWeights
from matcher.directions import DIRECTIONS
from matcher.explain import _count
from matcher.geography import GEOGRAPHY_FEATURES, footprint, location_of, pair_geography
from matcher.graph import Node, RelationEvent
from matcher.matcher import Matcher
from models.enums import EntityKind, InteractionKind
from models.places import Location
from models.schemas import BEIJING
from tests.doubles import NO_EXPOSURE_CAP, HashingEncoder
from tests.factories import catalog_of, invested

CITIES = {
    "S-wh1": "武汉",
    "S-wh2": "武汉市洪山区",
    "S-wh3": "光谷",
    "S-bj": "北京",
    "S-sz": "深圳",
    "S-xy": "襄阳",
}


def _startup(external_id: str, city: str) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "name": external_id,
        "industries": ["ai"],
        "stage": "seed",
        "city": city,
    }


PROFILES = {
    "startups": [_startup(sid, city) for sid, city in CITIES.items()] + [_startup("S-query", "Wuhan")],
    "investors": [
        {"external_id": "I-local", "name": "东湖创投", "investor_type": "vc"},
        {"external_id": "I-far", "name": "深港资本", "investor_type": "vc", "city": "Shenzhen"},
        {"external_id": "I-new", "name": "新基金", "investor_type": "angel"},
    ],
    "interactions": [
        invested("I-local", "S-wh1", "2014-03-01"),
        invested("I-local", "S-wh2", "2014-06-01"),
        invested("I-local", "S-xy", "2014-07-01"),
        invested("I-local", "S-bj", "2015-02-01"),
        invested("I-far", "S-sz", "2014-05-01"),
        invested("I-far", "S-bj", "2014-08-01"),
        invested("I-local", "S-wh3", "2016-05-01"),  # after the clock of most tests
    ],
}
CLOCK = dt.datetime(2015, 1, 1, tzinfo=BEIJING)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return catalog_of(tmp_path_factory.mktemp("geography"), PROFILES)


def _node(catalog: Catalog, kind: EntityKind, external_id: str) -> tuple[Node, dict[str, Any]]:
    record = next(r for r in catalog.tables[kind].records if r["external_id"] == external_id)
    return (kind, int(record["id"])), record


def _place_of(catalog: Catalog) -> Any:
    def place_of(node: Node) -> Location:
        table = catalog.tables[node[0]]
        return location_of(table.record(node[1]) if node[1] in table else None)

    return place_of


def _placed(catalog: Catalog, kind: EntityKind, external_id: str) -> tuple[Node, Location]:
    node, record = _node(catalog, kind, external_id)
    return node, location_of(record)


def _features(catalog: Catalog, when: dt.datetime) -> dict[str, np.ndarray]:
    query = _placed(catalog, EntityKind.startup, "S-query")
    pool = [_placed(catalog, EntityKind.investor, i) for i in ("I-local", "I-far", "I-new")]
    return pair_geography(query, pool, catalog.history, _place_of(catalog), when)


def test_footprint_counts_deals_per_city_and_province_and_learns_a_home(catalog: Catalog) -> None:
    local, _ = _node(catalog, EntityKind.investor, "I-local")
    seen = footprint(local, catalog.history, _place_of(catalog), CLOCK)
    assert seen.deals == 3
    assert seen.cities == {"wuhan": 2, "xiangyang": 1}
    assert seen.provinces == {"hubei": 3}
    assert seen.home.city == "wuhan"  # learned: most of its deals
    far, record = _node(catalog, EntityKind.investor, "I-far")
    stated = footprint(far, catalog.history, _place_of(catalog), CLOCK, location_of(record))
    assert stated.home.city == "shenzhen"  # stated wins over what it did


def test_local_investors_score_higher_on_every_geography_feature(catalog: Catalog) -> None:
    features = _features(catalog, CLOCK)
    local, far, new = 0, 1, 2
    assert features["local_deals"][local] > features["local_deals"][far] == 0.0
    assert features["local_share"][local] == pytest.approx((2 / 3 + 3 / 3) / 2)
    assert (features["same_city"][local], features["same_city"][far]) == (1.0, 0.0)
    assert features["same_province"][far] == 0.0
    assert features["distance"][local] > features["distance"][far]
    assert features["same_city"][new] == features["distance"][new] == 0.5  # nothing known: neutral
    for name in GEOGRAPHY_FEATURES:
        assert np.all((features[name] >= 0) & (features[name] <= 1)), name


def test_moving_the_clock_changes_nothing_before_it(catalog: Catalog, tmp_path: Path) -> None:
    before = _features(catalog, CLOCK)
    # A deal after the clock, and one on its very day, are invisible at the clock.
    fresh = catalog_of(tmp_path, PROFILES)
    local, _ = _node(fresh, EntityKind.investor, "I-local")
    far, _ = _node(fresh, EntityKind.investor, "I-far")
    wh1, _ = _node(fresh, EntityKind.startup, "S-wh1")
    for investor, when in ((far, CLOCK), (far, CLOCK + dt.timedelta(days=30)), (local, CLOCK)):
        fresh.history.observe(RelationEvent(*investor, *wh1, InteractionKind.invested, when))
    after = _features(fresh, CLOCK)
    for name in GEOGRAPHY_FEATURES:
        np.testing.assert_array_equal(before[name], after[name], err_msg=name)
    # Later clocks see the later deals: the 2016 Wuhan deal counts by 2017.
    later = _features(catalog, dt.datetime(2017, 1, 1, tzinfo=BEIJING))
    assert later["local_deals"][0] > before["local_deals"][0]


_FOUNDER_TO_INVESTOR = DIRECTIONS[(EntityKind.startup, EntityKind.investor)]
# A founder's view of investors led by their local deals: half the weight moves onto them.
_LOCAL_FIRST = MatcherConfig(
    rerank=NO_EXPOSURE_CAP.rerank,
    weights={
        "startup→investor": SideWeights(
            asker={
                name: 0.5 * weight + (0.5 if name == "local_deals" else 0.0)
                for name, weight in ({"local_deals": 0.0} | dict(_FOUNDER_TO_INVESTOR.asker_weights)).items()
            },
            candidate=dict(_FOUNDER_TO_INVESTOR.candidate_weights),
        )
    },
)


def test_reasons_name_the_place_and_count_with_number_agreement(catalog: Catalog) -> None:
    matcher = Matcher(encoder=HashingEncoder(), config=_LOCAL_FIRST, clock=lambda: CLOCK).fit(catalog)
    query, _ = _node(catalog, EntityKind.startup, "S-query")
    matches = matcher.recommend(EntityKind.startup, query[1], EntityKind.investor)
    local = next(m for m in matches if m.external_id == "I-local")
    sentences = {(r.zh, r.en) for r in local.reasons}
    assert ("投过2家武汉企业", "backed 2 companies in Wuhan") in sentences
    assert (_count(1, "company", "companies"), _count(5, "company", "companies")) == (
        "1 company",
        "5 companies",
    )
    for match in matches:
        for reason in match.reasons:
            assert not re.search(r"\b1 (?:companies|deals)\b", reason.en), reason.en


@pytest.mark.parametrize("places", ["read from the records", "the matcher's, decoded once per row"])
def test_a_footprint_is_recounted_only_when_a_deal_or_a_backed_startup_changes(
    tmp_path: Path, places: str
) -> None:
    fresh = catalog_of(tmp_path, PROFILES)
    matcher = Matcher(encoder=HashingEncoder()).fit(fresh)
    local, _ = _node(fresh, EntityKind.investor, "I-local")
    # The matcher's places follow every edit, as places read from the records do.
    place_of = _place_of(fresh) if places == "read from the records" else matcher._place_of
    first = footprint(local, fresh.history, place_of, CLOCK)
    # A new profile with no deal comes and goes, as each evaluation query does: nothing to recount.
    _, template = _node(fresh, EntityKind.startup, "S-query")
    newcomer = {**template, "id": max(fresh.tables[EntityKind.startup].ids) + 1, "external_id": "S-new"}
    matcher.upsert_profile(EntityKind.startup, newcomer)
    matcher.remove_profile(EntityKind.startup, newcomer["id"])
    assert footprint(local, fresh.history, place_of, CLOCK) is first
    assert first.cities == {"wuhan": 2, "xiangyang": 1}
    # A backed startup moves to Wuhan.
    _, xiangyang = _node(fresh, EntityKind.startup, "S-xy")
    matcher.upsert_profile(EntityKind.startup, {**xiangyang, "city": "wuhan"})
    assert footprint(local, fresh.history, place_of, CLOCK).cities == {"wuhan": 3}
    # A new deal, before the clock.
    (_, shenzhen), _ = _node(fresh, EntityKind.startup, "S-sz")
    investor = local[1]
    when = dt.datetime(2014, 9, 1, tzinfo=BEIJING)
    matcher.observe(
        RelationEvent(
            EntityKind.investor, investor, EntityKind.startup, shenzhen, InteractionKind.invested, when
        )
    )
    assert footprint(local, fresh.history, place_of, CLOCK).cities == {"wuhan": 3, "shenzhen": 1}
    # The backed startup leaves: its deal no longer counts.
    matcher.remove_profile(EntityKind.startup, shenzhen)
    assert footprint(local, fresh.history, place_of, CLOCK).cities == {"wuhan": 3}


def test_a_footprint_is_kept_between_moments_after_every_event_and_recounted_before_one(
    tmp_path: Path,
) -> None:
    fresh = catalog_of(tmp_path, PROFILES)
    matcher = Matcher(encoder=HashingEncoder()).fit(fresh)
    local, _ = _node(fresh, EntityKind.investor, "I-local")
    latest = max(deal.occurred_at for deal in fresh.history.deals)
    first = footprint(local, fresh.history, matcher._place_of, latest + dt.timedelta(seconds=1))
    # Served queries ask as of their own now: the same deals lie before each.
    assert footprint(local, fresh.history, matcher._place_of, latest + dt.timedelta(days=30)) is first
    first_deal = min(when for when, _ in fresh.history.deals_by_investor[local])
    assert footprint(local, fresh.history, matcher._place_of, first_deal).deals == 0
    assert footprint(local, fresh.history, matcher._place_of, latest + dt.timedelta(days=1)) == first
