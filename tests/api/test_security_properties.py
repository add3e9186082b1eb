"""Property level: who may set which field, who may read contact data, and consent."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from api.security import RedactQueryStrings
from models.db import create_db_engine
from models.enums import AccountRole
from models.identity import mask_id_number
from tests.api.test_security import World
from tests.auth import account_headers
from tests.factories import VALID_ID_NUMBER, samples

PHONE, EMAIL = samples()["persons"][0]["phone"], samples()["persons"][0]["email"]


@pytest.fixture
def world(client: TestClient) -> World:
    return World(client)


def _as(world: World, role: AccountRole, method: str, path: str, body: Any = None) -> Any:
    return world.client.request(method, path, json=body, headers=world.headers[role])


def _refused_field(response: Any) -> str:
    assert response.status_code == 403, response.text
    return str(response.json()["field"])


def test_a_person_edits_their_profile_but_not_what_the_programme_grants(world: World) -> None:
    person = f"/v1/persons/{world.ids['P-1']}"
    assert (
        _refused_field(_as(world, AccountRole.founder, "PATCH", person, {"card_tier": "A"}))
        == "body.card_tier"
    )
    assert (
        _refused_field(
            _as(world, AccountRole.founder, "PATCH", person, {"bio": "x", "role": "investor_partner"})
        )
        == "body.role"
    )
    changed = _as(world, AccountRole.founder, "PATCH", person, {"bio": "新简介"})
    assert changed.status_code == 200
    assert (changed.json()["bio"], changed.json()["card_tier"], changed.json()["role"]) == (
        "新简介",
        "C",
        "founder",
    )


def test_an_operator_cannot_hand_a_space_to_someone_else(world: World) -> None:
    space = f"/v1/spaces/{world.ids['SP-1']}"
    response = _as(world, AccountRole.operator, "PATCH", space, {"operator_external_id": "P-6"})
    assert _refused_field(response) == "body.operator_external_id"
    assert world.client.get(space).json()["operator_external_id"] == "P-3"


def test_a_founder_creates_only_startups_they_are_on_the_team_of(world: World) -> None:
    startup = samples()["startups"][0] | {"external_id": "S-new", "team": [{"person_external_id": "P-6"}]}
    assert _refused_field(_as(world, AccountRole.founder, "POST", "/v1/startups", startup)) == "body.team"
    assert "S-new" not in {row["external_id"] for row in world.client.get("/v1/startups").json()["items"]}
    mine = startup | {"team": [{"person_external_id": "P-1", "role": "founder"}]}
    created = _as(world, AccountRole.founder, "POST", "/v1/startups", mine)
    assert created.status_code == 201, created.text
    profiles = {
        (p["kind"], p["id"]) for p in _as(world, AccountRole.founder, "GET", "/v1/me").json()["profiles"]
    }
    assert ("startup", created.json()["id"]) in profiles


def test_a_founder_cannot_leave_their_startup_ownerless(world: World) -> None:
    startup = f"/v1/startups/{world.ids['S-1']}"
    response = _as(world, AccountRole.founder, "PATCH", startup, {"team": [{"person_external_id": "P-6"}]})
    assert _refused_field(response) == "body.team"
    assert [m["person_external_id"] for m in world.client.get(startup).json()["team"]] == ["P-1"]


def test_interactions_are_recorded_only_for_one_s_own_profiles(world: World) -> None:
    event = {
        "actor_kind": "investor",
        "actor_external_id": "I-1",
        "target_kind": "startup",
        "target_external_id": "S-2",
        "kind": "contacted",
    }
    before = world.client.get("/v1/interactions").json()["total"]
    assert (
        _refused_field(_as(world, AccountRole.founder, "POST", "/v1/interactions", event))
        == "body.actor_external_id"
    )
    assert world.client.get("/v1/interactions").json()["total"] == before
    assert _as(world, AccountRole.investor, "POST", "/v1/interactions", event).status_code == 201


def test_an_enterprise_owns_the_posts_it_creates(world: World) -> None:
    post = samples()["posts"][0] | {"external_id": "RD-new"}
    created = _as(world, AccountRole.enterprise, "POST", "/v1/posts", post)
    assert created.status_code == 201
    path = f"/v1/posts/{created.json()['id']}"
    other = account_headers(world.client.app, AccountRole.enterprise)
    assert world.client.patch(path, json={"headcount": 9}, headers=other).status_code == 403
    assert _as(world, AccountRole.enterprise, "PATCH", path, {"headcount": 9}).json()["headcount"] == 9


def _contact(world: World, headers: dict[str, str]) -> Any:
    return world.client.get(f"/v1/persons/{world.ids['P-1']}/contact", headers=headers)


def _introduce(world: World, role: AccountRole, actor: tuple[str, str], target: tuple[str, str]) -> None:
    event = {
        "actor_kind": actor[0],
        "actor_external_id": actor[1],
        "target_kind": target[0],
        "target_external_id": target[1],
        "kind": "contacted",
    }
    assert _as(world, role, "POST", "/v1/interactions", event).status_code == 201


def test_contact_data_only_for_the_person_and_after_both_sides_accepted(world: World) -> None:
    own = _contact(world, world.headers[AccountRole.founder]).json()
    assert (own["phone"], own["email"], own["id_number_masked"]) == (
        PHONE,
        EMAIL,
        mask_id_number(VALID_ID_NUMBER),
    )
    investor = world.headers[AccountRole.investor]
    assert _contact(world, investor).status_code == 404  # investors do not browse people
    _introduce(world, AccountRole.investor, ("investor", "I-1"), ("startup", "S-1"))
    assert _contact(world, investor).status_code == 404
    _introduce(world, AccountRole.founder, ("startup", "S-1"), ("investor", "I-1"))
    shown = _contact(world, investor)
    assert shown.status_code == 200, shown.text
    assert (shown.json()["phone"], shown.json()["email"], shown.json()["id_number_masked"]) == (
        PHONE,
        EMAIL,
        None,
    )
    assert _contact(world, world.headers[AccountRole.admin]).status_code == 403
    assert _contact(world, world.strangers[AccountRole.enterprise]).status_code == 403


def test_no_response_but_the_contact_route_carries_contact_data(world: World) -> None:
    bodies = [world.client.get(f"/v1/{slug}", params={"limit": 200}).json() for slug in samples()]
    bodies.append(_as(world, AccountRole.founder, "GET", f"/v1/persons/{world.ids['P-1']}").json())
    text = json.dumps(bodies, ensure_ascii=False)
    assert PHONE not in text
    assert EMAIL not in text
    assert "id_number" not in text


def test_withdrawing_consent_hides_a_person_at_once(world: World) -> None:
    student = world.ids["P-2"]
    own = account_headers(world.client.app, AccountRole.founder, person_id=student)
    base = f"/v1/practice-bases/{world.ids['PB-1']}/recommendations"

    def recommended() -> set[int]:
        items = _as(world, AccountRole.operator, "GET", base + "?target=person&k=50").json()["items"]
        return {item["id"] for item in items}

    assert student in recommended()
    response = world.client.patch(f"/v1/persons/{student}", json={"consent_matching": False}, headers=own)
    assert response.status_code == 200
    assert student not in recommended()
    assert _as(world, AccountRole.enterprise, "GET", f"/v1/persons/{student}").status_code == 404
    listed = _as(world, AccountRole.enterprise, "GET", "/v1/persons").json()["items"]
    assert student not in {p["id"] for p in listed}
    assert world.client.get(f"/v1/persons/{student}", headers=own).json()["consent_matching"] is False


def test_access_log_lines_carry_no_query_string() -> None:
    line = '%s - "%s %s HTTP/%s" %d'
    args = ("127.0.0.1:5000", "GET", "/v1/persons?q=张伟", "1.1", 200)
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 0, line, args, None)
    assert RedactQueryStrings().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /v1/persons HTTP/1.1" 200'


def test_database_errors_do_not_carry_the_values_written(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (phone TEXT UNIQUE)"))
        connection.execute(text("INSERT INTO t VALUES (:phone)"), {"phone": PHONE})
    with pytest.raises(IntegrityError) as error, engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (:phone)"), {"phone": PHONE})
    engine.dispose()
    assert PHONE not in str(error.value)
