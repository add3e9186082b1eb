"""Properties of policy matching, over random profiles and the shipped policies."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from matcher.catalog import Catalog
from matcher.policies import (
    STATUS_RANK,
    TableColumns,
    check_record,
    eligible_ids,
    evaluate,
)
from models.enums import CardTier, Degree, EntityKind, Hukou, PersonRole
from models.policies import PolicySet, Window, load_policies, shipped_policy_files
from tests.policy_profiles import TODAY, place

POLICIES: PolicySet = load_policies(shipped_policy_files())
INDUSTRIES = ["artificial_intelligence", "biotechnology", "robotics", "payments", "insurance"]
AREAS = [None, "hongshan", "east_lake_hightech", "wuchang", "jiangxia"]
STAGES = ["idea", "seed", "angel", "pre_a", "a", "a_plus", "b", "c_plus", "strategic"]

PERSON_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "role": st.sampled_from([r.value for r in PersonRole]),
    "card_tier": st.sampled_from([t.value for t in CardTier]),
    "degree": st.sampled_from([d.value for d in Degree]),
    "graduation_year": st.none() | st.integers(1995, 2030),
    "birth_year": st.none() | st.integers(1960, 2008),
    "hukou": st.none() | st.sampled_from([h.value for h in Hukou]),
    "returnee": st.booleans(),
    "district": st.sampled_from(AREAS),
    "industries": st.lists(st.sampled_from(INDUSTRIES), max_size=2, unique=True),
    "on_team": st.booleans(),
}
STARTUP_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "stage": st.sampled_from(STAGES),
    "industries": st.lists(st.sampled_from(INDUSTRIES), min_size=1, max_size=2, unique=True),
    "district": st.sampled_from(AREAS),
    "founded_on": st.none() | st.dates(dt.date(2015, 1, 1), dt.date(2026, 12, 1)),
    "headcount": st.none() | st.integers(0, 50),
    "funding_received_cny": st.none() | st.integers(0, 10**8),
}
FIELDS = {EntityKind.person: PERSON_FIELDS, EntityKind.startup: STARTUP_FIELDS}
kinds = st.sampled_from([EntityKind.person, EntityKind.startup])


def _profile(kind: EntityKind) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(FIELDS[kind])


def _checks(kind: EntityKind, fields: dict[str, Any], policies: PolicySet = POLICIES) -> dict[str, Any]:
    catalog = Catalog.empty()
    record = place(catalog, kind, 1, **fields)
    return {c.policy.id: c for c in check_record(policies.policies.values(), catalog, kind, record, TODAY)}


@settings(max_examples=150, deadline=None)
@given(data=st.data(), kind=kinds)
def test_meeting_one_more_criterion_never_makes_a_profile_less_eligible(
    data: st.DataObject, kind: EntityKind
) -> None:
    before = data.draw(_profile(kind))
    name = data.draw(st.sampled_from(sorted(FIELDS[kind])))
    after = {**before, name: data.draw(FIELDS[kind][name])}
    old, new = _checks(kind, before), _checks(kind, after)
    for policy_id, check in old.items():
        met_before = {c.path for c in check.criteria if c.met}
        met_after = {c.path for c in new[policy_id].criteria if c.met}
        if met_before < met_after:
            assert STATUS_RANK[new[policy_id].status] >= STATUS_RANK[check.status], policy_id


@settings(max_examples=150, deadline=None)
@given(data=st.data(), kind=kinds)
def test_almost_lists_exactly_the_unmet_criteria(data: st.DataObject, kind: EntityKind) -> None:
    fields = data.draw(_profile(kind))
    catalog = Catalog.empty()
    record = place(catalog, kind, 1, **fields)
    columns = TableColumns(catalog, kind)
    for check in check_record(POLICIES.policies.values(), catalog, kind, record, TODAY):
        # each criterion's verdict is the vectorised one over the catalogue
        for criterion, shown in zip(check.policy.criteria, check.criteria, strict=False):
            assert bool(evaluate(criterion, columns, TODAY).true[0]) == shown.met
        unmet = [c.path for c in check.criteria if not c.met]
        assert [c.path for c in check.unmet] == unmet
        if check.status == "almost":
            assert 1 <= len(unmet) <= 2
            assert all(c.hint is not None for c in check.unmet)
        if check.status == "eligible":
            assert unmet == []


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    kind=kinds,
    opens=st.dates(dt.date(2016, 1, 1), dt.date(2030, 1, 1)),
    length=st.none() | st.integers(0, 4000),
)
def test_a_policy_outside_its_window_is_never_eligible(
    data: st.DataObject, kind: EntityKind, opens: dt.date, length: int | None
) -> None:
    window = Window(opens=opens, closes=None if length is None else opens + dt.timedelta(days=length))
    assume(not window.contains(TODAY))
    policies = PolicySet({p.id: dataclasses.replace(p, window=window) for p in POLICIES.policies.values()})
    fields = data.draw(_profile(kind))
    catalog = Catalog.empty()
    record = place(catalog, kind, 1, **fields)
    for check in check_record(policies.policies.values(), catalog, kind, record, TODAY):
        assert check.status == "not_eligible"
        assert check.unmet[-1].path == "window"
        assert eligible_ids(check.policy, catalog, TODAY).size == 0


@settings(max_examples=60, deadline=None)
@given(profiles=st.lists(_profile(EntityKind.startup), min_size=1, max_size=12))
def test_the_eligible_list_is_every_profile_whose_own_check_is_eligible(
    profiles: list[dict[str, Any]],
) -> None:
    catalog = Catalog.empty()
    records = [place(catalog, EntityKind.startup, i + 1, **fields) for i, fields in enumerate(profiles)]
    for policy in POLICIES.for_kind(EntityKind.startup):
        listed = set(eligible_ids(policy, catalog, TODAY).tolist())
        own = {
            r["id"]
            for r in records
            if next(c for c in check_record([policy], catalog, EntityKind.startup, r, TODAY)).status
            == "eligible"
        }
        assert listed == own, policy.id


def test_a_profile_change_changes_its_results_both_ways() -> None:
    catalog = Catalog.empty()
    place(catalog, EntityKind.startup, 1, stage="angel")
    policy = POLICIES.get("series-a-talent-pay")
    table = catalog.tables[EntityKind.startup]
    assert eligible_ids(policy, catalog, TODAY).tolist() == []  # columns now cached
    before = {
        c.policy.id: c.status
        for c in check_record([policy], catalog, EntityKind.startup, table.record(1), TODAY)
    }
    assert before == {"series-a-talent-pay": "almost"}
    place(catalog, EntityKind.startup, 1, stage="a")  # the edit the service applies from the change feed
    after = {
        c.policy.id: c.status
        for c in check_record([policy], catalog, EntityKind.startup, table.record(1), TODAY)
    }
    assert after == {"series-a-talent-pay": "eligible"}
    assert eligible_ids(policy, catalog, TODAY).tolist() == [1]
    place(catalog, EntityKind.startup, 2, stage="b")  # a new profile joins the cached columns
    assert eligible_ids(policy, catalog, TODAY).tolist() == [1, 2]
    catalog.remove(EntityKind.startup, 1)
    assert eligible_ids(policy, catalog, TODAY).tolist() == [2]


def test_those_who_applied_are_left_off_the_eligible_list() -> None:
    catalog = Catalog.empty()
    for row_id in (1, 2, 3):
        place(catalog, EntityKind.startup, row_id, stage="a")
    policy = POLICIES.get("series-a-talent-pay")
    assert eligible_ids(policy, catalog, TODAY, exclude=[2]).tolist() == [1, 3]


def test_eligible_policies_come_first_ordered_by_value() -> None:
    catalog = Catalog.empty()
    record = place(catalog, EntityKind.startup, 1, stage="a")
    rich = dataclasses.replace(
        POLICIES.get("equity-incentive-fund"),
        benefits=(
            POLICIES.get("equity-incentive-fund").benefits[0].model_copy(update={"cap_cny": 2_000_000}),
        ),
    )
    policies = [*POLICIES.for_kind(EntityKind.startup), rich]
    policies = [p for p in policies if p is not POLICIES.get("equity-incentive-fund")]
    order = [
        (c.policy.id, c.status) for c in check_record(policies, catalog, EntityKind.startup, record, TODAY)
    ]
    eligible = [policy_id for policy_id, status in order if status == "eligible"]
    assert eligible[0] == "equity-incentive-fund"
    statuses = [STATUS_RANK[status] for _, status in order]
    assert statuses == sorted(statuses, reverse=True)
