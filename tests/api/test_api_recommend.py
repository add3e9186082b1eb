"""Recommendations over HTTP: every direction reachable, writes visible at once, bad asks refused."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from matcher.features import FEATURE_NAMES
from matcher.ranker import RankerParams, TrainingWindow, fit_ranker, load_ranker, save_ranker
from models.enums import EntityKind
from models.exposure import shown_between
from models.settings import Settings
from tests.auth import admin_headers
from tests.conftest import TEST_SECRET
from tests.factories import load_small_demo


def _load_small_demo(settings: Settings) -> None:
    load_small_demo(settings.resolved_database_url, seed=3, secret=TEST_SECRET)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder: Path = tmp_path_factory.mktemp("api-recommend")
    settings = Settings(data_dir=folder, environment="test", secret_key=TEST_SECRET)
    _load_small_demo(settings)
    with TestClient(create_app(settings)) as test_client:
        test_client.headers.update(admin_headers(test_client.app))
        yield test_client


def _first(client: TestClient, slug: str, **params: Any) -> dict[str, Any]:
    items: list[dict[str, Any]] = client.get(f"/v1/{slug}", params={"limit": 200, **params}).json()["items"]
    return items[0]


def _startup_with_investors(client: TestClient) -> tuple[int, list[dict[str, Any]]]:
    for startup in client.get("/v1/startups", params={"limit": 200}).json()["items"]:
        items = client.get(
            f"/v1/startups/{startup['id']}/recommendations", params={"target": "investor"}
        ).json()
        if len(items["items"]) >= 3:
            return startup["id"], items["items"]
    pytest.fail("no startup has three eligible investors in the demo ecosystem")


def test_a_startup_gets_investors_with_scores_and_reasons(client: TestClient) -> None:
    _, items = _startup_with_investors(client)
    for item in items:
        assert item["kind"] == "investor"
        assert 0 <= item["score"] <= 1
        assert item["reasons"]
        assert all(r["zh"] and r["en"] for r in item["reasons"])
        assert set(item["features"]) == set(item["asker_contributions"])


@pytest.mark.parametrize(
    ("slug", "target", "params"),
    [
        ("startups", "mentor", {}),
        ("startups", "space", {}),
        ("persons", "practice_base", {"role": "student"}),
        ("persons", "post", {"role": "student"}),
        ("persons", "investor", {"role": "founder"}),
        ("investors", "startup", {}),
        ("spaces", "startup", {}),
        ("mentors", "startup", {}),
        ("posts", "person", {}),
    ],
)
def test_every_direction_answers(client: TestClient, slug: str, target: str, params: dict[str, str]) -> None:
    row = _first(client, slug, **params)
    response = client.get(f"/v1/{slug}/{row['id']}/recommendations", params={"target": target, "k": 5})
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) <= 5


def test_named_views_for_investors_and_operators(client: TestClient) -> None:
    investor, space = _first(client, "investors"), _first(client, "spaces")
    flow = client.get(f"/v1/investors/{investor['id']}/deal-flow", params={"k": 7})
    candidates = client.get(f"/v1/spaces/{space['id']}/candidates")
    assert flow.status_code == candidates.status_code == 200
    assert {i["kind"] for i in flow.json()["items"] + candidates.json()["items"]} <= {"startup"}
    assert len(flow.json()["items"]) <= 7


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/v1/startups/1/recommendations", {"target": "startup"}, 422, "target"),
        ("/v1/startups/1/recommendations", {"target": "unicorn"}, 422, "target"),
        ("/v1/startups/1/recommendations", {"target": "investor", "k": 0}, 422, "k"),
        ("/v1/startups/1/recommendations", {"target": "investor", "k": 101}, 422, "k"),
        ("/v1/startups/999999/recommendations", {"target": "investor"}, 404, None),
        ("/v1/investors/999999/deal-flow", {}, 404, None),
    ],
)
def test_bad_asks_are_refused(
    client: TestClient, path: str, params: dict[str, Any], status: int, field: str | None
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status
    if field is not None:
        assert field in str(response.json()["detail"])


def test_a_declined_investor_disappears_at_once(client: TestClient) -> None:
    startup_id, items = _startup_with_investors(client)
    startup = client.get(f"/v1/startups/{startup_id}").json()
    investor = items[0]
    declined = {
        "actor_kind": "startup",
        "actor_external_id": startup["external_id"],
        "target_kind": "investor",
        "target_external_id": investor["external_id"],
        "kind": "declined",
    }
    assert client.post("/v1/interactions", json=declined).status_code == 201
    again = client.get(f"/v1/startups/{startup_id}/recommendations", params={"target": "investor", "k": 50})
    assert investor["id"] not in {i["id"] for i in again.json()["items"]}


def test_a_deleted_space_disappears_and_a_new_one_appears(client: TestClient) -> None:
    startup = _first(client, "startups")
    path = f"/v1/startups/{startup['id']}/recommendations"
    before = client.get(path, params={"target": "space", "k": 100}).json()["items"]
    assert before, "the demo startup should have an eligible space"
    assert client.delete(f"/v1/spaces/{before[0]['id']}").status_code == 204
    twin = client.get(f"/v1/spaces/{before[1]['id']}").json() if len(before) > 1 else None
    created = client.post(
        "/v1/spaces",
        json={
            "external_id": "SP-new",
            "name": "新开的光谷孵化器",
            "space_type": "incubator",
            "district": startup["district"],
            "industries": startup["industries"],
            "seats_total": 30,
            "seats_vacant": 30,
            "description": startup["one_liner"],
        },
    ).json()
    after = {i["id"] for i in client.get(path, params={"target": "space", "k": 100}).json()["items"]}
    assert before[0]["id"] not in after
    assert created["id"] in after
    assert twin is None or twin["id"] in after


def test_a_full_space_gets_no_candidates_and_is_told_why(client: TestClient) -> None:
    space = _first(client, "spaces")
    assert client.patch(f"/v1/spaces/{space['id']}", json={"seats_vacant": 0}).status_code == 200
    body = client.get(f"/v1/spaces/{space['id']}/candidates").json()
    assert (body["items"], body["why"]) == ([], "没有空余工位 / no vacant seats")
    busy = client.get(
        f"/v1/startups/{_first(client, 'startups')['id']}/recommendations", params={"target": "space"}
    )
    assert busy.json()["why"] is None


def test_openapi_documents_the_recommendation_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/startups/{row_id}/recommendations",
        "/v1/investors/{row_id}/deal-flow",
        "/v1/spaces/{row_id}/candidates",
    ):
        assert "get" in paths[path]


def test_a_trained_ranker_named_in_the_settings_scores_the_service(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    features = rng.random((400, len(FEATURE_NAMES)))
    labels = (features[:, FEATURE_NAMES.index("industry")] > 0.5).astype(np.int64)
    window = TrainingWindow(
        protocol="synthetic",
        features_until=dt.date(2025, 1, 1),
        queries_from=dt.date(2025, 1, 1),
        validation_from=dt.date(2025, 6, 1),
        until=dt.date(2026, 1, 1),
    )
    model = fit_ranker(features, labels, [20] * 20, params=RankerParams(rounds=10, min_data_in_leaf=10))
    save_ranker(model, tmp_path / "ranker", window=window, metrics={})
    settings = Settings(
        data_dir=tmp_path / "data",
        environment="test",
        secret_key=TEST_SECRET,
        ranker_path=tmp_path / "ranker",
    )
    settings.data_dir.mkdir()
    _load_small_demo(settings)
    ranker = load_ranker(tmp_path / "ranker")
    with TestClient(create_app(settings)) as client:
        client.headers.update(admin_headers(client.app))
        _, items = _startup_with_investors(client)
    served = np.asarray([[item["features"][name] for name in FEATURE_NAMES] for item in items])
    # Both sides get the ranker's relevance, so every fusion of them returns it.
    np.testing.assert_allclose([item["score"] for item in items], ranker.relevance(served), atol=1e-9)


def test_weights_in_the_matcher_config_file_the_settings_name_change_the_served_ranking(
    client: TestClient, tmp_path: Path
) -> None:
    startup_id, default_items = _startup_with_investors(client)
    config = tmp_path / "matcher.toml"
    config.write_text(
        '[rerank]\nrelevance_weight = 1.0\n\n[weights."startup→investor"]\n'
        "asker = { semantic = 1.0 }\ncandidate = { semantic = 1.0 }\n",
        encoding="utf-8",
    )
    settings = Settings(
        data_dir=tmp_path / "data", environment="test", secret_key=TEST_SECRET, matcher_config=config
    )
    settings.data_dir.mkdir()
    _load_small_demo(settings)
    with TestClient(create_app(settings)) as configured:
        configured.headers.update(admin_headers(configured.app))
        items = configured.get(
            f"/v1/startups/{startup_id}/recommendations", params={"target": "investor"}
        ).json()["items"]
    # Both sides weigh text alone, so every fusion of them is the text similarity.
    np.testing.assert_allclose(
        [i["score"] for i in items], [i["features"]["semantic"] for i in items], atol=1e-9
    )
    assert {name for i in items for name, part in i["asker_contributions"].items() if part} <= {"semantic"}
    assert [i["id"] for i in items] != [i["id"] for i in default_items]


def _shown_today(client: TestClient, kind: EntityKind) -> dict[int, int]:
    app: Any = client.app
    app.state.shown_log.flush()
    today = dt.datetime.now(dt.UTC).date()
    with app.state.session_factory() as session:
        return shown_between(session, kind, today, today + dt.timedelta(days=1))


def _counted(before: dict[int, int], after: dict[int, int]) -> dict[int, int]:
    return {i: n - before.get(i, 0) for i, n in after.items() if n > before.get(i, 0)}


def test_recommendations_served_by_the_api_count_as_shown(client: TestClient) -> None:
    """The dashboard's exposure Gini counts what the API served, not only the portal's pages."""
    startup_id, _ = _startup_with_investors(client)
    before = _shown_today(client, EntityKind.investor)
    served: Counter[int] = Counter()
    for _ in range(2):  # the exposure cap may change the second list: each list counts as served
        answer = client.get(
            f"/v1/startups/{startup_id}/recommendations", params={"target": "investor", "k": 3}
        ).json()
        served.update(m["id"] for m in answer["items"])
    assert served
    assert _counted(before, _shown_today(client, EntityKind.investor)) == served


def test_deal_flow_served_by_the_api_counts_as_shown(client: TestClient) -> None:
    investor = _first(client, "investors")
    before = _shown_today(client, EntityKind.startup)
    served = client.get(f"/v1/investors/{investor['id']}/deal-flow", params={"k": 5}).json()["items"]
    assert served
    assert _counted(before, _shown_today(client, EntityKind.startup)) == {m["id"]: 1 for m in served}
