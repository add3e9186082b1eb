"""Policies as data: the shipped set follows the plan, bad files are refused by file, line and field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from alembic import command
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from models.db import alembic_config
from models.enums import EntityKind
from models.policies import (
    Policy,
    PolicyLoadError,
    PolicyRegistry,
    load_policies,
    parse_policy,
    shipped_policy_files,
    write_policy,
)
from models.settings import Settings

PLAN = Settings().shared_data_dir.parent / "reference" / "wuhan-city-partner-plan-2015.txt"

MINIMAL = """\
id = "test-policy"
version = 1
audience = "startup"
units = ["市科技局"]
title = { zh = "测试政策", en = "Test policy" }
summary = { zh = "测试", en = "Test" }
section = { ref = "二(一)4", zh = "测试", en = "Test" }
window = { opens = 2016-01-01 }

[[benefits]]
kind = "service"
text = { zh = "服务", en = "A service" }

[[criteria]]
field = "stage"
op = ">="
value = "A轮"
"""


def _plan_text() -> str:
    if not PLAN.exists():
        pytest.skip("the plan's text is not in ../shared/reference")
    return PLAN.read_text(encoding="utf-8")


def test_the_shipped_set_loads_with_at_least_fifteen_policies_for_several_audiences() -> None:
    policies = load_policies(shipped_policy_files())
    assert len(policies) >= 15
    audiences = {p.audience for p in policies.policies.values()}
    assert {EntityKind.person, EntityKind.startup, EntityKind.investor, EntityKind.space} <= audiences


def test_every_shipped_policy_cites_a_section_and_units_the_plan_names() -> None:
    plan = _plan_text()
    for policy in load_policies(shipped_policy_files()).policies.values():
        assert re.fullmatch(r"[一二三]\([一二三四五]\)\d{1,2}", policy.section.ref), policy.id
        for unit in policy.units:
            assert unit in plan, f"{policy.id}: '{unit}' is not a 责任单位 of the plan"


def test_a_benefit_without_a_number_is_marked_configurable_and_the_file_says_so() -> None:
    for policy in load_policies(shipped_policy_files()).policies.values():
        for benefit in policy.benefits:
            if benefit.kind != "service" and benefit.amount_cny is None and benefit.ratio is None:
                assert benefit.configurable, policy.id
        if policy.configurable:
            assert "configurable" in policy.text, policy.id


def test_ids_match_their_file_names() -> None:
    for name, body in shipped_policy_files():
        assert parse_policy(body, source=name).id == Path(name).stem


def _refusal(body: str) -> PolicyLoadError:
    with pytest.raises(PolicyLoadError) as caught:
        parse_policy(body, source="bad.toml")
    return caught.value


def test_an_unknown_key_is_refused_naming_file_line_and_field() -> None:
    error = _refusal(MINIMAL.replace("version = 1", 'version = 1\nvalid_for = "everyone"'))
    assert (error.file, error.line, error.field) == ("bad.toml", 3, "valid_for")
    assert "bad.toml:3: valid_for" in str(error)


def test_an_unknown_key_in_a_criterion_is_refused_at_its_line() -> None:
    error = _refusal(MINIMAL + "weight = 3\n")
    assert error.field == "criteria[0].weight"
    assert error.line == 18


def test_a_criterion_over_a_field_the_audience_lacks_is_refused() -> None:
    error = _refusal(MINIMAL.replace('field = "stage"', 'field = "card_tier"'))
    assert error.field == "criteria[0].field"
    assert error.line == 15
    assert "startup profiles have no field 'card_tier'" in error.reason


def test_a_value_of_the_wrong_type_is_refused() -> None:
    error = _refusal(
        MINIMAL.replace(
            'field = "stage"\nop = ">="\nvalue = "A轮"', 'field = "headcount"\nop = ">="\nvalue = "ten"'
        )
    )
    assert (error.field, error.line) == ("criteria[0].value", 17)
    assert "must be a number" in error.reason


def test_an_operator_that_does_not_apply_to_the_field_is_refused() -> None:
    error = _refusal(MINIMAL.replace('field = "stage"\nop = ">="', 'field = "district"\nop = ">="'))
    assert error.field == "criteria[0].op"


def test_an_unknown_code_is_refused() -> None:
    error = _refusal(MINIMAL.replace('"A轮"', '"Z轮"'))
    assert error.field == "criteria[0].value"


def test_definitions_that_refer_to_each_other_are_refused_as_a_cycle() -> None:
    body = (
        MINIMAL.replace(
            "[[benefits]]",
            '[definitions]\nfirst = { ref = "second" }\n'
            'second = { all = [{ ref = "first" }] }\n\n[[benefits]]',
        )
        + '\n[[criteria]]\nref = "first"\n'
    )
    error = _refusal(body)
    assert "cycle" in error.reason
    assert "first -> second -> first" in error.reason or "second -> first -> second" in error.reason
    assert error.line is not None


def test_a_syntax_error_names_its_line() -> None:
    error = _refusal(MINIMAL + "op = \n")
    assert error.file == "bad.toml"
    assert error.line is not None


def test_a_bad_file_leaves_the_previous_set_serving(tmp_path: Path) -> None:
    registry = PolicyRegistry(tmp_path)
    before = registry.current()
    (tmp_path / "test-policy.toml").write_text(MINIMAL.replace('field = "stage"', 'field = "nope"'), "utf-8")
    after = registry.current()
    assert after is before
    assert registry.last_error is not None
    assert registry.last_error.file.endswith("test-policy.toml")
    with pytest.raises(PolicyLoadError):
        registry.reload()
    assert registry.current() is before


def test_staff_add_and_edit_policies_through_the_data_folder(tmp_path: Path) -> None:
    registry = PolicyRegistry(tmp_path)
    shipped = len(registry.current())
    write_policy(tmp_path, MINIMAL)
    assert len(registry.current()) == shipped + 1
    edited = MINIMAL.replace("version = 1", "version = 2")
    write_policy(tmp_path, edited, expected_id="test-policy")
    assert registry.current().get("test-policy").version == 2
    # an edit of a shipped policy replaces it
    name, body = next(iter(shipped_policy_files()))
    write_policy(tmp_path, body.replace("version = 1", "version = 7", 1))
    assert registry.current().get(Path(name).stem).version == 7
    assert len(registry.current()) == shipped + 1


def test_a_refused_edit_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError):
        write_policy(tmp_path, MINIMAL.replace('op = ">="', 'op = "~"'))
    assert not list(tmp_path.glob("*"))
    with pytest.raises(PolicyLoadError):
        write_policy(tmp_path, MINIMAL, expected_id="another-id")
    assert not list(tmp_path.glob("*"))


def test_migration_0005_keeps_existing_rows_working(empty_database_url: str) -> None:
    command.upgrade(alembic_config(empty_database_url), "0004")
    engine = create_engine(empty_database_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO persons (external_id, name, active, consent_matching, role, card_tier, bio,"
                " skills, industries, languages, degree)"
                " VALUES ('P-1', '张三', :yes, :yes, 'founder', 'C', '', '[]', '[]', '[]', 'bachelor')"
            ),
            {"yes": True},
        )
        connection.execute(
            text(
                "INSERT INTO startups (external_id, name, active, consent_matching, one_liner, description,"
                " industries, stage, seeking)"
                " VALUES ('S-1', '测试', :yes, :yes, '', '', '[\"robotics\"]', 'a', '[]')"
            ),
            {"yes": True},
        )
    command.upgrade(alembic_config(empty_database_url), "head")
    with engine.connect() as connection:
        person = connection.execute(text("SELECT returnee, hukou, birth_year FROM persons")).one()
        startup = connection.execute(
            text("SELECT headcount, funding_received_cny, stage FROM startups")
        ).one()
    assert (bool(person[0]), person[1], person[2]) == (False, None, None)
    assert tuple(startup) == (None, None, "a")
    engine.dispose()


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"


_scalars = st.one_of(
    st.sampled_from(["stage", "A轮", "seed", "headcount", "district", "光谷", "robotics", "nope", "A", ""]),
    st.integers(-5, 100),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
_leaves = st.fixed_dictionaries(
    {},
    optional={
        "field": st.sampled_from(
            ["stage", "headcount", "founded_on", "district", "industries", "card_tier", "x"]
        ),
        "op": st.sampled_from(["==", "!=", "<", ">=", "in", "not_in", "~"]),
        "value": _scalars | st.lists(_scalars, max_size=3),
        "since": st.sampled_from(["years", "months", "days"]),
        "fixed": st.booleans() | _scalars,
        "ref": st.sampled_from(["first", "second", "missing"]),
        "weight": _scalars,
    },
)
_criteria = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.builds(lambda parts: {"all": parts}, st.lists(inner, max_size=3)),
        st.builds(lambda parts: {"any": parts}, st.lists(inner, max_size=3)),
        st.builds(lambda part: {"not": part}, inner),
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(criteria=st.lists(_criteria, min_size=1, max_size=3), first=_criteria, second=_criteria)
def test_any_criteria_either_load_or_are_refused_by_line_and_field(
    criteria: list[dict[str, object]], first: dict[str, object], second: dict[str, object]
) -> None:
    head = MINIMAL.split("[[criteria]]")[0]
    body = head.replace(
        "[[benefits]]",
        f"[definitions]\nfirst = {_toml_value(first)}\nsecond = {_toml_value(second)}\n\n[[benefits]]",
    ) + "".join(
        "[[criteria]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in c.items()) for c in criteria
    )
    outcome: Policy | PolicyLoadError
    try:
        outcome = parse_policy(body, source="fuzz.toml")
    except PolicyLoadError as error:
        outcome = error
    if isinstance(outcome, PolicyLoadError):
        assert outcome.file == "fuzz.toml"
        assert outcome.field
        assert outcome.line is None or 1 <= outcome.line <= len(body.splitlines())
    else:
        assert len(outcome.criteria) == len(criteria)
