"""Allocation rounds over HTTP and the CLI, on a small demo ecosystem with the real matcher."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from models.enums import AccountRole
from models.settings import Settings
from tests.auth import account_headers, admin_headers
from tests.conftest import TEST_SECRET
from tests.factories import small_demo_folder

SPACES_IN_ROUND = 4
PLACES_EACH = 2
UNLIMITED = 10**9


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_demo_folder(tmp_path_factory, "rounds", seed=5, secret=TEST_SECRET)


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    # Solving is rate-limited as heavy work; these tests solve many times a minute.
    settings = Settings(
        data_dir=data_dir,
        environment="test",
        secret_key=TEST_SECRET,
        heavy_limit_per_account=UNLIMITED,
        heavy_limit_per_ip=UNLIMITED,
    )
    with TestClient(create_app(settings)) as test_client:
        test_client.headers.update(admin_headers(test_client.app))
        yield test_client


def _ids(client: TestClient, slug: str, n: int) -> list[str]:
    items = client.get(f"/v1/{slug}", params={"limit": n}).json()["items"]
    return [item["external_id"] for item in items]


def _round_body(client: TestClient, **changes: Any) -> dict[str, Any]:
    return {
        "name": "光谷 2027 春季入驻",
        "kind": "space_admission",
        "deadline": "2030-01-01T18:00:00",
        "preference_depth": 3,
        "applicants": [{"external_id": s} for s in _ids(client, "startups", 40)],
        "counterparts": [
            {"external_id": s, "capacity": PLACES_EACH} for s in _ids(client, "spaces", SPACES_IN_ROUND)
        ],
    } | changes


def _created(client: TestClient, **changes: Any) -> dict[str, Any]:
    response = client.post("/v1/rounds", json=_round_body(client, **changes))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _solve(client: TestClient, round_id: int, **request: Any) -> dict[str, Any]:
    # Without a body the stable solver runs.
    response = client.post(f"/v1/rounds/{round_id}/solve", json=request or None)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _pairs(proposal: dict[str, Any]) -> set[tuple[str, str]]:
    return {(a["applicant"]["external_id"], a["counterpart"]["external_id"]) for a in proposal["assignments"]}


def test_a_stable_proposal_fills_places_with_reasons_and_no_blocking_pair(client: TestClient) -> None:
    created = _created(client)
    proposal = _solve(client, created["id"], solver="stable")
    assert proposal == client.get(f"/v1/rounds/{created['id']}/proposal").json()
    metrics = proposal["metrics"]
    assert metrics["blocking_pairs"] == 0
    assert 0 < metrics["fill_rate"] <= 1
    assert len(proposal["assignments"]) <= SPACES_IN_ROUND * PLACES_EACH
    assert all(fill["assigned"] <= fill["capacity"] == PLACES_EACH for fill in proposal["fill"])
    for match in proposal["assignments"]:
        assert 1 <= match["applicant_rank"] <= 3
        assert match["counterpart_rank"] >= 1
        assert 0 < match["score"] <= 1
        assert match["reasons"], match
        assert all(r["zh"] and r["en"] for r in match["reasons"])
    matched = {a for a, _ in _pairs(proposal)}
    unmatched = {u["applicant"]["external_id"]: u for u in proposal["unmatched"]}
    assert matched.isdisjoint(unmatched)
    assert len(matched) + len(unmatched) == 40
    assert {u["reason"] for u in unmatched.values()} <= {
        "no_eligible_option",
        "lost_to_higher_ranked",
        "capacity",
    }
    assert all((u["options"] == 0) == (u["reason"] == "no_eligible_option") for u in unmatched.values())


def test_the_optimal_solver_scores_at_least_as_high_in_total(client: TestClient) -> None:
    round_id = _created(client)["id"]
    stable = _solve(client, round_id, solver="stable")
    optimal = _solve(client, round_id, solver="optimal", floor=True)
    assert optimal["settings"]["solved_by"] == "optimal/networkx"

    def total(proposal: dict[str, Any]) -> float:
        return sum(float(a["score"]) for a in proposal["assignments"])

    assert len(optimal["assignments"]) >= len(stable["assignments"])
    assert total(optimal) >= total(stable) - 1e-6 or len(optimal["assignments"]) > len(stable["assignments"])


def test_a_pinned_pair_is_kept_and_a_forbidden_one_never_proposed(client: TestClient) -> None:
    round_id = _created(client)["id"]
    first = _solve(client, round_id)
    applicant, counterpart = sorted(_pairs(first))[0]
    outsider = sorted(u["applicant"]["external_id"] for u in first["unmatched"])[0]
    for body in (
        {"applicant": applicant, "counterpart": counterpart, "decision": "forbid"},
        {"applicant": outsider, "counterpart": counterpart, "decision": "pin"},
    ):
        response = client.post(f"/v1/rounds/{round_id}/pairs", json=body)
        assert response.status_code == 200, response.text
    assert client.get(f"/v1/rounds/{round_id}/proposal").status_code == 404  # stale until solved again
    for solver in ("stable", "optimal"):
        again = _solve(client, round_id, solver=solver)
        assert (applicant, counterpart) not in _pairs(again)
        pinned = [a for a in again["assignments"] if a["pinned"]]
        assert [(p["applicant"]["external_id"], p["counterpart"]["external_id"]) for p in pinned] == [
            (outsider, counterpart)
        ]
        assert pinned[0]["reasons"][0]["en"] == "pinned by the operator"
    dropped = client.delete(
        f"/v1/rounds/{round_id}/pairs", params={"applicant": outsider, "counterpart": counterpart}
    )
    assert dropped.json()["decisions"] == [
        {"applicant": applicant, "counterpart": counterpart, "decision": "forbid"}
    ]


def test_publishing_records_admissions_takes_seats_and_informs_the_engine(client: TestClient) -> None:
    round_id = _created(client)["id"]
    proposal = _solve(client, round_id, solver="stable")
    seats_before = {
        s["external_id"]: s["seats_vacant"]
        for s in client.get("/v1/spaces", params={"limit": 200}).json()["items"]
    }
    assert client.post(f"/v1/rounds/{round_id}/review").json()["status"] == "reviewed"
    published = client.post(f"/v1/rounds/{round_id}/publish")
    assert published.status_code == 200, published.text
    assert published.json()["interactions"] == len(proposal["assignments"])
    assert published.json()["round"]["status"] == "published"
    spaces = {s["external_id"]: s for s in client.get("/v1/spaces", params={"limit": 200}).json()["items"]}
    for fill in proposal["fill"]:
        external_id = fill["counterpart"]["external_id"]
        assert spaces[external_id]["seats_vacant"] == seats_before[external_id] - fill["assigned"]
    admitted = client.get("/v1/interactions", params={"kind": "admitted", "limit": 200}).json()["items"]
    applicant, counterpart = sorted(_pairs(proposal))[0]
    assert any(
        (i["target_external_id"], i["actor_external_id"]) == (applicant, counterpart) for i in admitted
    )
    startup_id = next(
        s["id"]
        for s in client.get("/v1/startups", params={"limit": 200}).json()["items"]
        if s["external_id"] == applicant
    )
    recommended = client.get(
        f"/v1/startups/{startup_id}/recommendations", params={"target": "space", "k": 100}
    ).json()["items"]
    assert counterpart not in {item["external_id"] for item in recommended}  # now an existing relation


@pytest.mark.parametrize(
    ("kind", "applicants", "counterparts", "outcome"),
    [
        ("mentor_assignment", "startups", "mentors", "mentored"),
        ("practice_placement", "persons", "practice-bases", "placed"),
        ("investor_intro", "startups", "investors", "meeting"),
    ],
)
def test_every_kind_of_round_solves_and_publishes(
    client: TestClient, kind: str, applicants: str, counterparts: str, outcome: str
) -> None:
    people = (
        [
            p["external_id"]
            for p in client.get("/v1/persons", params={"role": "student", "limit": 60}).json()["items"]
        ]
        if applicants == "persons"
        else _ids(client, applicants, 60)
    )
    created = _created(
        client,
        kind=kind,
        applicants=[{"external_id": p} for p in people],
        counterparts=[{"external_id": c} for c in _ids(client, counterparts, 20)],
    )
    proposal = _solve(client, created["id"], solver="optimal")
    assert proposal["assignments"], proposal["unmatched"]
    client.post(f"/v1/rounds/{created['id']}/review")
    assert client.post(f"/v1/rounds/{created['id']}/publish").status_code == 200
    written = client.get("/v1/interactions", params={"kind": outcome, "limit": 200}).json()["items"]
    assert {i["note"] for i in written} >= {f"round {created['external_id']}: {created['name']}"}


def test_refusals_have_the_right_status(client: TestClient) -> None:
    round_id = _created(client)["id"]
    assert client.get("/v1/rounds/999999").status_code == 404
    assert client.get(f"/v1/rounds/{round_id}/proposal").status_code == 404
    assert client.post("/v1/rounds/999999/solve", json={"solver": "stable"}).status_code == 404
    assert client.post(f"/v1/rounds/{round_id}/publish").status_code == 409  # a draft, not reviewed
    assert client.post(f"/v1/rounds/{round_id}/review").status_code == 409  # nothing to review
    bad_bodies = [
        _round_body(client, kind="lottery"),
        _round_body(client, applicants=[{"external_id": "S-nobody"}]),
        _round_body(client, counterparts=[{"external_id": "SP-0001", "capacity": -1}]),
        _round_body(client, surprise=True),
    ]
    for body in bad_bodies:
        response = client.post("/v1/rounds", json=body)
        assert response.status_code == 422, body
        assert response.json()["field"].startswith("body")
    assert (
        client.post(f"/v1/rounds/{round_id}/solve", json={"solver": "stable", "floor": True}).status_code
        == 422
    )
    outsider = {"applicant": "S-nobody", "counterpart": "SP-0001", "decision": "pin"}
    refused = client.post(f"/v1/rounds/{round_id}/pairs", json=outsider)
    assert (refused.status_code, refused.json()["field"]) == (422, "body.applicant")
    ranking = client.put(f"/v1/rounds/{round_id}/rankings/S-nobody", json={"ranking": []})
    assert ranking.status_code == 404
    _solve(client, round_id)
    client.post(f"/v1/rounds/{round_id}/review")
    assert client.post(f"/v1/rounds/{round_id}/publish").status_code == 200
    after_publication: tuple[tuple[str, str, dict[str, Any] | None], ...] = (
        ("post", "solve", {"solver": "stable"}),
        ("post", "publish", None),
        ("post", "review", None),
        ("post", "pairs", {"applicant": "x", "counterpart": "y", "decision": "pin"}),
        ("patch", "", {"name": "改名"}),
        ("delete", "", None),
    )
    for method, path, payload in after_publication:
        response = client.request(method.upper(), f"/v1/rounds/{round_id}/{path}".rstrip("/"), json=payload)
        assert response.status_code == 409, (method, path, response.text)


def test_rankings_after_the_deadline_are_refused(client: TestClient) -> None:
    created = _created(client, deadline="2020-01-01T00:00:00")
    applicant = created["applicants"][0]["external_id"]
    late = client.put(f"/v1/rounds/{created['id']}/rankings/{applicant}", json={"ranking": []})
    assert late.status_code == 409
    assert "closed" in late.json()["message"]


def test_a_submitted_ranking_is_the_applicants_list(client: TestClient) -> None:
    created = _created(client)
    applicant = created["applicants"][0]["external_id"]
    choice = created["counterparts"][-1]["external_id"]
    client.put(f"/v1/rounds/{created['id']}/rankings/{applicant}", json={"ranking": [choice]})
    proposal = _solve(client, created["id"])
    mine = [a for a in proposal["assignments"] if a["applicant"]["external_id"] == applicant]
    assert all(m["counterpart"]["external_id"] == choice for m in mine)


def test_only_admin_runs_allocation_rounds(client: TestClient) -> None:
    operator = account_headers(client.app, AccountRole.operator)
    assert client.get("/v1/rounds", headers=operator).status_code == 403
    listed = client.get("/v1/rounds", params={"status": "draft"})
    assert listed.status_code == 200
    assert all(item["status"] == "draft" for item in listed.json()["items"])
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/rounds", "/v1/rounds/{row_id}/proposal", "/v1/rounds/{row_id}/publish"} <= set(paths)


def test_the_cli_creates_solves_shows_reviews_and_publishes(
    client: TestClient, data_dir: Path, tmp_path: Path
) -> None:
    import json

    file = tmp_path / "round.json"
    file.write_text(
        json.dumps(_round_body(client, external_id="R-CLI"), ensure_ascii=False), encoding="utf-8"
    )
    env = {
        "MATCHER_DATA_DIR": str(data_dir),
        "MATCHER_SECRET_KEY": TEST_SECRET,
        "MATCHER_ENVIRONMENT": "test",
    }
    runner = CliRunner()
    created = runner.invoke(cli, ["round", "create", str(file)], env=env)
    assert created.exit_code == 0, created.output
    solved = runner.invoke(cli, ["round", "solve", "R-CLI", "--solver", "optimal"], env=env)
    assert solved.exit_code == 0, solved.output
    assert "blocking_pairs" in solved.output
    shown = runner.invoke(cli, ["round", "show", "R-CLI", "--en"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "fill_rate" in shown.output
    early = runner.invoke(cli, ["round", "publish", "R-CLI"], env=env)
    assert early.exit_code == 3
    assert "only a reviewed round" in early.output
    assert runner.invoke(cli, ["round", "review", "R-CLI"], env=env).exit_code == 0
    published = runner.invoke(cli, ["round", "publish", "R-CLI"], env=env)
    assert published.exit_code == 0, published.output
    assert "published" in published.output
    missing = runner.invoke(cli, ["round", "show", "R-none"], env=env)
    assert missing.exit_code == 2


def test_a_round_can_be_changed_until_it_is_published(client: TestClient) -> None:
    created = _created(client)
    _solve(client, created["id"])
    client.post(f"/v1/rounds/{created['id']}/review")
    fewer = created["applicants"][:5]
    changed = client.patch(
        f"/v1/rounds/{created['id']}", json={"name": "光谷 2027 春季入驻（补录）", "applicants": fewer}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["name"], body["status"], body["solved"]) == ("光谷 2027 春季入驻（补录）", "draft", False)
    assert body["applicants"] == fewer
    assert body["counterparts"] == created["counterparts"]
    refused = client.patch(f"/v1/rounds/{created['id']}", json={"preference_depth": 0})
    assert (refused.status_code, refused.json()["field"]) == (422, "body.preference_depth")


def test_the_assignment_cap_holds_for_every_counterpart(client: TestClient) -> None:
    round_id = _created(client)["id"]
    proposal = _solve(client, round_id, solver="stable", assignment_cap=1)
    assert proposal["settings"]["assignment_cap"] == 1
    assert all(fill["assigned"] <= fill["capacity"] == 1 for fill in proposal["fill"])
    assert proposal["metrics"]["blocking_pairs"] == 0
