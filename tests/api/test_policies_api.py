"""Policy matching over HTTP and the CLI, on a small demo ecosystem: every door, every refusal."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from models.enums import AccountRole
from models.settings import Settings
from models.tables import PolicyDocument, Startup
from tests.auth import account_headers, admin_headers
from tests.conftest import TEST_SECRET
from tests.factories import small_demo_folder

POLICY = "series-a-talent-pay"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_demo_folder(tmp_path_factory, "policies", seed=5, secret=TEST_SECRET)


@pytest.fixture(scope="module")
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, environment="test", secret_key=TEST_SECRET)


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        test_client.headers.update(admin_headers(test_client.app))
        yield test_client


def _startup(client: TestClient, *stages: str) -> tuple[int, int]:
    """A startup in Wuhan at one of ``stages`` with no application yet, and its founder's person id."""
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        rows = session.scalars(
            select(Startup)
            .where(Startup.stage.in_(stages), Startup.district.is_not(None))
            .order_by(Startup.id)
        ).all()
        used = client.app.state.used if hasattr(client.app.state, "used") else set()  # type: ignore[attr-defined]
        row = next(r for r in rows if r.id not in used and r.members)
        used.add(row.id)
        client.app.state.used = used  # type: ignore[attr-defined]
        return row.id, row.members[0].person_id


_FOUNDERS: dict[int, dict[str, str]] = {}


def _founder(client: TestClient, person_id: int) -> dict[str, str]:
    """One account per person (a person may be on several teams)."""
    if person_id not in _FOUNDERS:
        _FOUNDERS[person_id] = account_headers(client.app, AccountRole.founder, person_id=person_id)
    return _FOUNDERS[person_id]


def test_the_policy_list_is_open_to_every_role_but_not_anonymous(client: TestClient) -> None:
    investor = account_headers(client.app, AccountRole.investor)
    answer = client.get("/v1/policies", headers=investor)
    assert answer.status_code == 200
    items = answer.json()["items"]
    assert len(items) >= 15
    assert all(item["section"]["ref"] and item["units"] for item in items)
    assert client.get("/v1/policies", headers={"Authorization": ""}).status_code == 401
    only = client.get("/v1/policies", params={"audience": "investor"}).json()["items"]
    assert {item["audience"] for item in only} == {"investor"}


def test_a_founder_sees_their_startups_policies_with_reasons(client: TestClient) -> None:
    startup_id, person_id = _startup(client, "angel")
    answer = client.get(f"/v1/startups/{startup_id}/policies", headers=_founder(client, person_id))
    assert answer.status_code == 200
    items = {item["policy_id"]: item for item in answer.json()["items"]}
    check = items[POLICY]
    assert check["status"] == "almost"
    assert check["unmet"][0]["hint"] == {
        "zh": "融资达到A轮后可申请",
        "en": "eligible once you raise a Series A round",
    }
    statuses = [item["status"] for item in answer.json()["items"]]
    assert statuses == sorted(statuses, key=["eligible", "almost", "not_eligible"].index)


def test_someone_elses_policies_are_refused(client: TestClient) -> None:
    startup_id, _ = _startup(client, "angel")
    _, other_founder = _startup(client, "angel")
    assert (
        client.get(f"/v1/startups/{startup_id}/policies", headers=_founder(client, other_founder)).status_code
        == 403
    )
    investor = account_headers(client.app, AccountRole.investor)
    assert client.get(f"/v1/startups/{startup_id}/policies", headers=investor).status_code == 403
    assert client.get("/v1/startups/999999/policies").status_code == 404


def test_a_profile_change_changes_its_policies(client: TestClient) -> None:
    startup_id, _ = _startup(client, "angel")

    def status() -> str:
        items = client.get(f"/v1/startups/{startup_id}/policies").json()["items"]
        return str(next(item["status"] for item in items if item["policy_id"] == POLICY))

    assert status() == "almost"
    assert client.patch(f"/v1/startups/{startup_id}", json={"stage": "A轮"}).status_code == 200
    assert status() == "eligible"


def test_staff_list_the_eligible_who_have_not_applied_and_export_it(client: TestClient) -> None:
    startup_id, person_id = _startup(client, "a", "b")
    page = client.get(f"/v1/policies/{POLICY}/eligible", params={"limit": 1000}).json()
    assert page["total"] >= 1
    assert startup_id in {item["id"] for item in page["items"]}
    founder = _founder(client, person_id)
    assert client.get(f"/v1/policies/{POLICY}/eligible", headers=founder).status_code == 403
    applied = client.post(
        f"/v1/policies/{POLICY}/applications",
        json={"applicant_kind": "startup", "applicant_id": startup_id},
        headers=founder,
    )
    assert applied.status_code == 201
    after = client.get(f"/v1/policies/{POLICY}/eligible", params={"limit": 1000}).json()
    assert startup_id not in {item["id"] for item in after["items"]}
    assert after["total"] == page["total"] - 1
    csv_file = client.get(f"/v1/policies/{POLICY}/eligible", params={"format": "csv"})
    assert csv_file.content.startswith(b"\xef\xbb\xbfid,external_id,name")
    assert csv_file.content.count(b"\n") == after["total"] + 1
    xlsx = client.get(f"/v1/policies/{POLICY}/eligible", params={"format": "xlsx"})
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    assert sheet.max_row == after["total"] + 1


def test_an_application_runs_its_status_trail(client: TestClient) -> None:
    startup_id, person_id = _startup(client, "a", "b", "c_plus")
    founder = _founder(client, person_id)
    body = {"applicant_kind": "startup", "applicant_id": startup_id, "note": "申请薪酬补贴"}
    created = client.post(f"/v1/policies/{POLICY}/applications", json=body, headers=founder)
    assert created.status_code == 201
    application = created.json()
    assert (application["status"], application["policy_version"]) == ("submitted", 1)
    again = client.post(f"/v1/policies/{POLICY}/applications", json=body, headers=founder)
    assert again.status_code == 409
    url = f"/v1/policy-applications/{application['id']}"
    assert (
        client.post(f"{url}/decisions", json={"status": "under_review"}, headers=founder).status_code == 403
    )
    assert (
        client.post(f"{url}/decisions", json={"status": "granted"}).status_code == 409
    )  # must be reviewed first
    assert client.post(f"{url}/decisions", json={"status": "under_review"}).status_code == 200
    no_reason = client.post(f"{url}/decisions", json={"status": "refused"})
    assert (no_reason.status_code, no_reason.json()["field"]) == (422, "body.reason")
    refused = client.post(
        f"{url}/decisions", json={"status": "refused", "reason": "材料不全 / documents missing"}
    )
    assert refused.status_code == 200
    trail = client.get(url, headers=founder).json()["events"]
    assert [e["status"] for e in trail] == ["submitted", "under_review", "refused"]
    assert trail[-1]["reason"] == "材料不全 / documents missing"
    assert client.post(f"{url}/decisions", json={"status": "granted"}).status_code == 409  # final
    _, stranger = _startup(client, "angel")
    assert client.get(url, headers=_founder(client, stranger)).status_code == 404
    # after a refusal the profile may apply again
    assert client.post(f"/v1/policies/{POLICY}/applications", json=body, headers=founder).status_code == 201
    # and every application is an interaction of its own kind, for whatever counts interactions
    kinds = client.get("/v1/interactions", params={"kind": "policy_applied", "limit": 200}).json()["items"]
    assert sum(i["actor_id"] == startup_id for i in kinds) == 2


def test_an_ineligible_application_gets_409_naming_the_unmet_criteria(client: TestClient) -> None:
    startup_id, person_id = _startup(client, "angel")
    body = {"applicant_kind": "startup", "applicant_id": startup_id}
    answer = client.post(
        f"/v1/policies/{POLICY}/applications", json=body, headers=_founder(client, person_id)
    )
    assert answer.status_code == 409
    assert answer.json()["code"] == "not_eligible"
    assert "获得A轮以上投资 / raised Series A or later" in answer.json()["message"]


def test_applications_are_refused_for_others_profiles_wrong_kinds_and_unknown_policies(
    client: TestClient,
) -> None:
    startup_id, _ = _startup(client, "a", "b")
    _, other = _startup(client, "angel")
    body = {"applicant_kind": "startup", "applicant_id": startup_id}
    assert (
        client.post(
            f"/v1/policies/{POLICY}/applications", json=body, headers=_founder(client, other)
        ).status_code
        == 403
    )
    assert client.post("/v1/policies/no-such-policy/applications", json=body).status_code == 404
    wrong_kind = client.post("/v1/policies/green-card-a/applications", json=body)
    assert (wrong_kind.status_code, wrong_kind.json()["field"]) == (422, "body.applicant_kind")
    missing = {"applicant_kind": "startup", "applicant_id": 999_999}
    assert client.post(f"/v1/policies/{POLICY}/applications", json=missing).status_code == 404
    assert (
        client.get(f"/v1/policies/{POLICY}/applications", headers=_founder(client, other)).status_code == 403
    )


def test_staff_edit_a_policy_and_a_bad_file_is_refused_by_line(client: TestClient) -> None:
    text = client.get(f"/v1/policies/{POLICY}/file").text
    edited = text.replace("version = 1", "version = 2", 1)
    answer = client.put(f"/v1/policies/{POLICY}", json={"toml": edited})
    assert (answer.status_code, answer.json()["version"]) == (200, 2)
    bad = edited.replace('field = "stage"', 'field = "rocket_fuel"')
    refused = client.put(f"/v1/policies/{POLICY}", json={"toml": bad})
    assert refused.status_code == 422
    assert refused.json()["field"] == "body.toml.criteria[0].field"
    assert "rocket_fuel" in refused.json()["message"]
    assert client.get(f"/v1/policies/{POLICY}").json()["version"] == 2  # the edit before keeps serving
    _store_unchecked(client, bad)  # as after a release whose rules refuse a stored document
    assert "rocket_fuel" in client.get("/v1/policies").json()["load_error"]
    assert client.get(f"/v1/policies/{POLICY}").json()["version"] == 2
    investor = account_headers(client.app, AccountRole.investor)
    assert client.get("/v1/policies", headers=investor).json()["load_error"] is None
    founder = account_headers(client.app, AccountRole.founder)
    assert client.put(f"/v1/policies/{POLICY}", json={"toml": edited}, headers=founder).status_code == 403
    assert client.get(f"/v1/policies/{POLICY}/file", headers=founder).status_code == 403
    restored = client.put(
        f"/v1/policies/{POLICY}", json={"toml": text.replace("version = 1", "version = 3", 1)}
    )
    assert restored.status_code == 200


def _store_unchecked(client: TestClient, text: str) -> None:
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        document = session.scalars(select(PolicyDocument).where(PolicyDocument.policy_id == POLICY)).one()
        document.text = text
        session.commit()


def test_the_cli_checks_lists_and_applies(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATCHER_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("MATCHER_SECRET_KEY", TEST_SECRET)
    runner = CliRunner()
    listed = runner.invoke(cli, ["policy", "list"])
    assert listed.exit_code == 0, listed.output
    assert "series-a-talent-pay" in listed.output
    checked = runner.invoke(cli, ["policy", "check", "S-00001"])
    assert checked.exit_code == 0, checked.output
    assert "可申请 / Eligible" in checked.output
    assert "差一点 / Almost eligible" in checked.output
    eligible = runner.invoke(cli, ["policy", "eligible", POLICY])
    assert eligible.exit_code == 0, eligible.output
    startup_id, _ = _startup(client, "a", "b")
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        row = session.get(Startup, startup_id)
        assert row is not None
        external = row.external_id
    applied = runner.invoke(cli, ["policy", "apply", POLICY, external])
    assert applied.exit_code == 0, applied.output
    refused = runner.invoke(cli, ["policy", "apply", "angel-fund-coinvest", external])
    assert refused.exit_code == 2
    assert "unmet" in refused.output
    unknown = runner.invoke(cli, ["policy", "check", "S-99999"])
    assert unknown.exit_code == 2


def test_deleting_a_profile_deletes_its_applications(client: TestClient) -> None:
    startup_id, _ = _startup(client, "a", "b", "c_plus")
    body = {"applicant_kind": "startup", "applicant_id": startup_id}
    created = client.post(f"/v1/policies/{POLICY}/applications", json=body)
    assert created.status_code == 201
    assert client.delete(f"/v1/startups/{startup_id}").status_code in (200, 204)
    assert client.get(f"/v1/policy-applications/{created.json()['id']}").status_code == 404


def test_an_export_of_names_with_control_characters_still_opens() -> None:
    from openpyxl import load_workbook

    from api.policies import EligibleProfile, export_eligible

    content, media = export_eligible(
        [EligibleProfile(id=1, external_id="S-1", name="光谷\x07科技", district=None)], "xlsx"
    )
    assert media.startswith("application/vnd")
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    assert sheet.cell(2, 3).value == "光谷科技"
