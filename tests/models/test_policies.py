"""Policies as data: the shipped set follows the plan, bad files are refused by file, line and field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from alembic import command
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from models.changes import ChangeOp, FeedEntry, Topic, changes_after
from models.clock import beijing_now
from models.db import alembic_config
from models.enums import EntityKind
from models.policies import (
    Policy,
    PolicyLoadError,
    PolicyRegistry,
    import_policy_folder,
    load_policies,
    parse_policy,
    shipped_policy_files,
    write_policy,
)
from models.settings import Settings
from models.tables import PolicyDocument

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


def _store_unchecked(factory: sessionmaker[Session], body: str) -> None:
    """A document the database holds that no longer loads (as after a release with stricter
    rules), with its feed entry, as a write would make."""
    with factory() as session:
        session.add(
            PolicyDocument(
                policy_id="test-policy", version=1, text=body, updated_at=beijing_now(), updated_by="test"
            )
        )
        session.commit()


def _feed(factory: sessionmaker[Session]) -> list[FeedEntry]:
    with factory() as session:
        return changes_after(session, 0)


def test_a_bad_document_leaves_the_previous_set_serving(factory: sessionmaker[Session]) -> None:
    registry = PolicyRegistry(factory)
    before = registry.current()
    _store_unchecked(factory, MINIMAL.replace('field = "stage"', 'field = "nope"'))
    registry.changed(_feed(factory))
    assert registry.current() is before
    assert registry.last_error is not None
    assert registry.last_error.file == "(database) test-policy.toml"
    assert registry.last_error.field == "criteria[0].field"
    with pytest.raises(PolicyLoadError):
        registry.reload()
    assert registry.current() is before


def test_staff_add_and_edit_policies_in_the_database_seen_by_another_process(
    factory: sessionmaker[Session],
) -> None:
    registry, elsewhere = PolicyRegistry(factory), PolicyRegistry(factory)
    shipped = len(registry.current())
    write_policy(factory, MINIMAL, author="account 1")
    elsewhere.changed(_feed(factory))
    assert len(elsewhere.current()) == shipped + 1
    edited = MINIMAL.replace("version = 1", "version = 2")
    write_policy(factory, edited, author="account 2", expected_id="test-policy")
    elsewhere.changed(_feed(factory)[-1:])
    assert elsewhere.current().get("test-policy").version == 2
    # an edit of a shipped policy replaces it
    name, body = next(iter(shipped_policy_files()))
    write_policy(factory, body.replace("version = 1", "version = 7", 1), author="account 1")
    elsewhere.changed(_feed(factory)[-1:])
    assert elsewhere.current().get(Path(name).stem).version == 7
    assert len(elsewhere.current()) == shipped + 1
    assert [(e.topic, e.op) for e in _feed(factory)] == [
        (Topic.policies, ChangeOp.insert),
        (Topic.policies, ChangeOp.update),
        (Topic.policies, ChangeOp.insert),
    ]
    with factory() as session:
        document = session.scalars(
            select(PolicyDocument).where(PolicyDocument.policy_id == "test-policy")
        ).one()
    assert (document.version, document.text, document.updated_by) == (2, edited, "account 2")
    # other topics leave the set as it is
    served = elsewhere.current()
    elsewhere.changed([FeedEntry(99, Topic.interactions, 1, ChangeOp.insert)])
    assert elsewhere.current() is served


def test_a_refused_edit_writes_nothing(factory: sessionmaker[Session]) -> None:
    with pytest.raises(PolicyLoadError, match=r"^\(submitted\):\d+: criteria\[0\]\.op: "):
        write_policy(factory, MINIMAL.replace('op = ">="', 'op = "~"'), author="test")
    with pytest.raises(PolicyLoadError, match="the file's id 'test-policy' is not 'another-id'"):
        write_policy(factory, MINIMAL, author="test", expected_id="another-id")
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(PolicyDocument)) == 0
    assert _feed(factory) == []


def test_an_older_releases_policy_folder_is_imported_once(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "test-policy.toml").write_text(MINIMAL.replace("version = 1", "version = 3"), "utf-8")
    broken = MINIMAL.replace('id = "test-policy"', 'id = "broken"').replace('field = "stage"', 'field = "x"')
    (folder / "broken.toml").write_text(broken, "utf-8")
    refused = import_policy_folder(factory, folder)
    assert [error.file for error in refused] == [str(folder / "broken.toml")]
    assert sorted(path.name for path in folder.iterdir()) == ["broken.toml", "test-policy.toml.imported"]
    assert PolicyRegistry(factory).current().get("test-policy").version == 3
    assert [str(e) for e in import_policy_folder(factory, folder)] == [str(e) for e in refused]
    # staff edit it later; another host's folder, holding the same file, imports nothing over it
    write_policy(factory, MINIMAL.replace("version = 1", "version = 4"), author="account 1")
    other_host = tmp_path / "other-host"
    other_host.mkdir()
    (other_host / "test-policy.toml").write_text(MINIMAL.replace("version = 1", "version = 3"), "utf-8")
    assert import_policy_folder(factory, other_host) == []
    assert PolicyRegistry(factory).current().get("test-policy").version == 4
    assert [path.name for path in other_host.iterdir()] == ["test-policy.toml.imported"]
    assert [e.topic for e in _feed(factory)] == [Topic.policies, Topic.policies]


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
