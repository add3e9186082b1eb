"""Who may do what: authentication, every role × endpoint refusal, and object-level checks.

The refusal matrix is generated from the app's routes, so a new route without a policy, or
one whose policy admits a role it should not, fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.cli_accounts import DEV_KEY_FILE, development_admin_key
from api.security import KIND_POLICIES, OwnProfile, RoutePolicy, route_policies
from models.accounts import account_for_key, create_account
from models.db import engine_for, migrate, session_factory, transaction
from models.enums import AccountRole, EntityKind
from models.kinds import KIND_OF_ENTITY, KINDS
from models.settings import Settings
from models.transfer import import_records
from tests.auth import account_headers, admin_headers
from tests.conftest import TEST_SECRET
from tests.factories import samples

PUBLIC_PATHS = {"/health"}
NON_ADMIN: list[AccountRole] = [role for role in AccountRole if role is not AccountRole.admin]


def _routes() -> list[RoutePolicy]:
    app = create_app(Settings(environment="test", secret_key=TEST_SECRET))
    return [r for r in route_policies(app) if r.path.startswith("/v1")]


def _refusals() -> Iterator[Any]:
    for route in _routes():
        for method in sorted(route.methods):
            for role in sorted(set(AccountRole) - route.roles):
                yield pytest.param(method, route.path, role, id=f"{method} {route.path} as {role.value}")


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def ecosystem() -> dict[str, list[dict[str, Any]]]:
    """The factory samples, with every profile run by a person of its own."""
    data = samples()
    persons = data["persons"]
    for number, role in [(3, "operator"), (4, "investor_partner"), (5, "industry_leader"), (6, "founder")]:
        persons.append(
            {"external_id": f"P-{number}", "name": f"测试{number}", "role": role, "district": "武昌区"}
        )
    data["spaces"][0]["operator_external_id"] = "P-3"
    data["practice-bases"][0]["operator_external_id"] = "P-3"
    data["investors"][0]["partner_external_id"] = "P-4"
    data["mentors"][0]["person_external_id"] = "P-5"
    second_startup = data["startups"][0] | {
        "external_id": "S-2",
        "name": "第二家公司",
        "team": [{"person_external_id": "P-6", "role": "founder"}],
    }
    data["startups"].append(second_startup)
    return data


def load(client: TestClient) -> dict[str, int]:
    """Create the ecosystem as admin; external id -> row id."""
    ids = {}
    for slug, records in ecosystem().items():
        for record in records:
            response = client.post(f"/v1/{slug}", json=record)
            assert response.status_code == 201, (slug, response.text)
            ids[record["external_id"]] = response.json()["id"]
    return ids


class World:
    """A loaded app and one account per role, each owning its own profiles."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.ids = load(client)
        app = client.app
        self.headers = {
            AccountRole.admin: admin_headers(app),
            AccountRole.founder: account_headers(app, AccountRole.founder, person_id=self.ids["P-1"]),
            AccountRole.operator: account_headers(app, AccountRole.operator, person_id=self.ids["P-3"]),
            AccountRole.investor: account_headers(app, AccountRole.investor, person_id=self.ids["P-4"]),
            AccountRole.mentor: account_headers(app, AccountRole.mentor, person_id=self.ids["P-5"]),
            AccountRole.enterprise: account_headers(
                app, AccountRole.enterprise, profiles=[(EntityKind.post, self.ids["RD-1"])]
            ),
        }
        # The same roles owning nothing at all.
        self.strangers = {role: account_headers(app, role) for role in NON_ADMIN}
        self.other_founder = account_headers(app, AccountRole.founder, person_id=self.ids["P-6"])

    def get(self, path: str, role: AccountRole, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers[role])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder: Path = tmp_path_factory.mktemp("security")
    settings = Settings(data_dir=folder, environment="test", secret_key=TEST_SECRET)
    with TestClient(create_app(settings)) as client:
        client.headers.update(admin_headers(client.app))
        yield World(client)


# --- authentication ---------------------------------------------------------------------


def test_every_v1_route_states_its_roles() -> None:
    routes = _routes()
    assert len(routes) > 40
    assert [r.path for r in routes if not r.policies] == []


def test_openapi_shows_the_scheme_and_each_operation_s_roles(world: World) -> None:
    schema = world.client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            if path in PUBLIC_PATHS:
                assert "security" not in operation
                continue
            assert operation["security"] == [{"ApiKey": []}], path
            assert "**Roles:**" in operation["description"], path
            assert "admin" in operation["x-roles"], path


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer cpm_not-a-key"}, {"Authorization": "Basic x"}]
)
def test_without_a_valid_key_every_route_is_401(world: World, headers: dict[str, str]) -> None:
    anonymous = TestClient(world.client.app)
    for route in _routes():
        for method in route.methods:
            response = anonymous.request(method, _concrete(route.path), headers=headers)
            assert response.status_code == 401, (method, route.path, response.text)
            assert response.json()["code"] == "unauthenticated"
    assert anonymous.get("/health").status_code == 200


def test_a_revoked_key_is_refused_at_once(world: World) -> None:
    from models.accounts import revoke_key
    from models.db import transaction

    headers = account_headers(world.client.app, AccountRole.founder)
    assert world.client.get("/v1/me", headers=headers).status_code == 200
    with transaction(world.client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        assert revoke_key(session, headers["Authorization"].removeprefix("Bearer ")[:12]) == 1
    assert world.client.get("/v1/me", headers=headers).status_code == 401


def test_me_lists_the_profiles_an_account_acts_for(world: World) -> None:
    mine = world.get("/v1/me", AccountRole.founder).json()
    assert mine["role"] == "founder"
    assert {(p["kind"], p["id"]) for p in mine["profiles"]} == {
        ("person", world.ids["P-1"]),
        ("startup", world.ids["S-1"]),
    }
    operator = world.get("/v1/me", AccountRole.operator).json()["profiles"]
    assert {p["kind"] for p in operator} == {"person", "space", "practice_base"}


# --- roles ------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "role"), list(_refusals()))
def test_a_role_the_endpoint_does_not_admit_is_refused(
    world: World, method: str, path: str, role: AccountRole
) -> None:
    response = world.client.request(method, _concrete(path), headers=world.headers[role])
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "forbidden"


def test_only_admin_runs_allocation_rounds() -> None:
    rounds = [r for r in _routes() if r.path.startswith("/v1/rounds")]
    assert rounds
    assert {r.roles for r in rounds} == {frozenset({AccountRole.admin})}


# --- objects: each account only its own -------------------------------------------------


def _owner_routes() -> Iterator[Any]:
    for route in _routes():
        for policy in route.policies:
            if isinstance(policy, OwnProfile):
                for role in sorted(policy.authorized.roles - {AccountRole.admin}):
                    yield pytest.param(route.path, policy.kind, role, id=f"{route.path} as {role.value}")


@pytest.mark.parametrize(("path", "kind", "role"), list(_owner_routes()))
def test_recommendations_of_a_profile_that_is_not_yours_are_refused(
    world: World, path: str, kind: EntityKind, role: AccountRole
) -> None:
    someone_else = world.ids[ecosystem()[KIND_OF_ENTITY[kind].slug][0]["external_id"]]
    params = {"target": "investor"} if path.endswith("recommendations") else {}
    response = world.client.get(
        path.replace("{row_id}", str(someone_else)), params=params, headers=world.strangers[role]
    )
    readable = role in KIND_POLICIES[KIND_OF_ENTITY[kind].slug].readers
    assert response.status_code == (403 if readable else 404), response.text


def _writes() -> Iterator[Any]:
    for slug, policy in KIND_POLICIES.items():
        for role in sorted(policy.owners - {AccountRole.admin}):
            for method in ("PATCH", "DELETE"):
                yield pytest.param(slug, role, method, id=f"{method} {slug} as {role.value}")


@pytest.mark.parametrize(("slug", "role", "method"), list(_writes()))
def test_writing_a_row_that_is_not_yours_is_refused(
    world: World, slug: str, role: AccountRole, method: str
) -> None:
    row_id = world.ids[ecosystem()[slug][0]["external_id"]]
    body = {"note": "x"} if slug == "interactions" else {"active": False}
    response = world.client.request(
        method,
        f"/v1/{slug}/{row_id}",
        json=body if method == "PATCH" else None,
        headers=world.strangers[role],
    )
    readable = role in KIND_POLICIES[slug].readers
    assert response.status_code == (403 if readable else 404), response.text
    assert world.client.get(f"/v1/{slug}/{row_id}").json().get("active", True) is True


def test_owners_see_their_own_recommendations(world: World) -> None:
    ids = world.ids
    assert (
        world.get(
            f"/v1/startups/{ids['S-1']}/recommendations", AccountRole.founder, target="investor"
        ).status_code
        == 200
    )
    assert world.get(f"/v1/investors/{ids['I-1']}/deal-flow", AccountRole.investor).status_code == 200
    assert world.get(f"/v1/spaces/{ids['SP-1']}/candidates", AccountRole.operator).status_code == 200
    assert (
        world.get(
            f"/v1/mentors/{ids['M-1']}/recommendations", AccountRole.mentor, target="startup"
        ).status_code
        == 200
    )
    assert (
        world.get(
            f"/v1/posts/{ids['RD-1']}/recommendations", AccountRole.enterprise, target="person"
        ).status_code
        == 200
    )


def test_a_founder_sees_only_their_own_startup_s_recommendations(world: World) -> None:
    other = world.client.get(
        f"/v1/startups/{world.ids['S-1']}/recommendations",
        params={"target": "investor"},
        headers=world.other_founder,
    )
    assert other.status_code == 403
    assert other.json()["field"] == "path.row_id"


def test_an_operator_fills_only_their_own_spaces(world: World) -> None:
    space = world.ids["SP-1"]
    stranger = world.strangers[AccountRole.operator]
    assert (
        world.client.patch(f"/v1/spaces/{space}", json={"seats_vacant": 1}, headers=stranger).status_code
        == 403
    )
    own = world.client.patch(
        f"/v1/spaces/{space}", json={"seats_vacant": 5}, headers=world.headers[AccountRole.operator]
    )
    assert own.status_code == 200, own.text
    assert own.json()["seats_vacant"] == 5


def test_lists_show_others_only_what_they_consented_to_show(world: World) -> None:
    persons = world.get("/v1/persons", AccountRole.founder).json()
    assert [p["external_id"] for p in persons["items"]] == ["P-1"]
    everyone = world.get("/v1/persons", AccountRole.enterprise).json()
    assert everyone["total"] == len(ecosystem()["persons"])
    interactions = world.client.get("/v1/interactions", headers=world.strangers[AccountRole.investor]).json()
    assert interactions["total"] == 0
    assert world.get("/v1/interactions", AccountRole.investor).json()["total"] == 1


def test_a_missing_profile_is_404_for_everyone(world: World) -> None:
    for role in AccountRole:
        assert world.get("/v1/startups/999999", role).status_code == 404


def test_every_kind_has_a_policy() -> None:
    assert set(KIND_POLICIES) == set(KINDS)


# --- the command line -------------------------------------------------------------------


def test_cli_accounts_issue_keys_that_the_api_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "MATCHER_DATA_DIR": str(tmp_path),
        "MATCHER_ENVIRONMENT": "test",
        "MATCHER_SECRET_KEY": TEST_SECRET,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    runner = CliRunner()
    created = runner.invoke(cli, ["account", "create", "--role", "admin", "--name", "Programme office"])
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    assert (
        runner.invoke(
            cli, ["account", "create", "--role", "founder", "--name", "x", "--person", "P-9"]
        ).exit_code
        == 2
    )
    with TestClient(create_app(Settings())) as client:
        headers = {"Authorization": f"Bearer {key}"}
        assert client.get("/v1/me", headers=headers).json()["role"] == "admin"
        assert runner.invoke(cli, ["account", "disable", "1"]).exit_code == 0
        assert client.get("/v1/me", headers=headers).status_code == 401


def test_a_development_admin_key_exists_in_development_only(tmp_path: Path) -> None:
    development = Settings(data_dir=tmp_path, environment="development", secret_key=TEST_SECRET)
    engine = engine_for(development)
    migrate(engine)
    factory = session_factory(engine)
    with transaction(factory) as session:
        first = development_admin_key(development, session)
    with transaction(factory) as session:
        assert development_admin_key(development, session) == first
        assert account_for_key(session, first, secret=TEST_SECRET) is not None
    assert (tmp_path / DEV_KEY_FILE).stat().st_mode & 0o077 == 0
    with transaction(factory) as session, pytest.raises(ValueError, match="development"):
        development_admin_key(
            Settings(data_dir=tmp_path, environment="test", secret_key=TEST_SECRET), session
        )
    engine.dispose()


def test_a_person_has_one_account(factory: sessionmaker[Session]) -> None:
    import_records(factory, KINDS["persons"], samples()["persons"], secret=TEST_SECRET)
    with transaction(factory) as session:
        create_account(session, name="张伟", role=AccountRole.founder, person_id=1)
    with transaction(factory) as session, pytest.raises(ValueError, match="already has account"):
        create_account(session, name="张伟 again", role=AccountRole.investor, person_id=1)
