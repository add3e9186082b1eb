"""MATCHER_SHARDS=2 over HTTP on a local Ray instance: the shards' answer, writes reaching them,
and a killed shard giving partial answers until Ray has restarted it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import ray
from fastapi.testclient import TestClient

from api.app import create_app
from api.matcher_service import MatcherService
from matcher.sharding import owner_of
from models.enums import EntityKind
from models.settings import Settings
from tests.auth import admin_headers
from tests.conftest import TEST_SECRET
from tests.factories import small_demo_folder

SHARDS = 2
# How long a killed shard may take to be rebuilt by Ray, on a loaded machine (a safeguard, not a
# measure: the test waits for the answer to be whole again).
RESTART_LIMIT_S = 300


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = small_demo_folder(tmp_path_factory, "sharded", seed=5, secret=TEST_SECRET)
    settings = Settings(data_dir=folder, environment="test", secret_key=TEST_SECRET, shards=SHARDS)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with TestClient(create_app(settings)) as test_client:
            test_client.headers.update(admin_headers(test_client.app))
            yield test_client
    finally:
        ray.shutdown()


def _service(client: TestClient) -> MatcherService:
    service: MatcherService = client.app.state.matcher_service  # type: ignore[attr-defined]
    return service


def _asked(client: TestClient, startup: int) -> dict[str, Any]:
    response = client.get(f"/v1/startups/{startup}/recommendations", params={"target": "investor", "k": 10})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.fixture(scope="module")
def startups(client: TestClient) -> list[int]:
    """Startups whose candidates come from both shards (their pools: no list is shown, so no
    exposure is counted)."""
    with _service(client).reading() as matcher:
        pools = {
            row_id: matcher.candidate_pool(EntityKind.startup, row_id, EntityKind.investor)
            for row_id in matcher.catalog_.tables[EntityKind.startup].ids[:40].tolist()
        }
    found = [row_id for row_id, pool in pools.items() if len({owner_of(i, SHARDS) for i in pool}) == SHARDS]
    assert len(found) >= 2
    return found


def _unsharded_ids(client: TestClient, startup: int) -> list[int]:
    with _service(client).reading() as matcher:
        return [m.id for m in matcher.recommend(EntityKind.startup, startup, EntityKind.investor, k=10)]


def test_the_shards_answer_as_the_service_own_matcher_and_follow_its_writes(
    client: TestClient, startups: list[int]
) -> None:
    assert len(_service(client).shard_handles) == SHARDS
    first = _asked(client, startups[0])
    assert (first["partial"], first["missing_shards"]) == (False, [])
    assert [item["id"] for item in first["items"]] == _unsharded_ids(client, startups[0])
    assert {owner_of(item["id"], SHARDS) for item in first["items"]} == set(range(SHARDS))

    gone = first["items"][0]["id"]
    assert client.delete(f"/v1/investors/{gone}").status_code == 204
    after = _asked(client, startups[0])
    assert gone not in [item["id"] for item in after["items"]]
    assert [item["id"] for item in after["items"]] == _unsharded_ids(client, startups[0])


def _restarted(handle: Any, before: int) -> bool:
    """Whether the shard answers its health check from a process other than ``before``; False
    while the kill has not taken effect, or the call failed on the dead actor."""
    try:
        return bool(ray.get(handle.alive.remote(), timeout=RESTART_LIMIT_S) != before)
    except ray.exceptions.RayActorError:
        return False


@pytest.mark.parametrize("killed", range(SHARDS))
def test_a_killed_shard_alone_is_missing_until_ray_restarts_it(
    client: TestClient, startups: list[int], killed: int
) -> None:
    """Asked while the killed shard restarts (rebuilding, its calls queued by Ray), every other
    shard answers, whichever shard owns the asker: only the killed one is named missing. The test
    ends only once the shard runs in a new process (``ray.kill`` takes effect later than it
    returns), so the next test meets a whole cluster."""
    handle = _service(client).shard_handles[killed]
    before = ray.get(handle.alive.remote())
    ray.kill(handle, no_restart=False)
    others = set(range(SHARDS)) - {killed}
    for startup in startups[:4]:
        answer = _asked(client, startup)
        assert answer["missing_shards"] in ([], [killed])
        assert answer["items"]
        if answer["partial"]:
            assert {owner_of(item["id"], SHARDS) for item in answer["items"]} <= others

    deadline = time.monotonic() + RESTART_LIMIT_S
    while not _restarted(handle, before):
        assert time.monotonic() < deadline, f"shard {killed} not restarted"
        time.sleep(0.5)
    answer = _asked(client, startups[0])
    while answer["partial"] and time.monotonic() < deadline:
        time.sleep(0.5)
        answer = _asked(client, startups[0])
        assert answer["missing_shards"] in ([], [killed])
    assert (answer["partial"], answer["missing_shards"]) == (False, [])
    assert {owner_of(item["id"], SHARDS) for item in answer["items"]} == set(range(SHARDS))


def test_a_query_a_shard_refuses_is_refused_over_http_and_leaves_the_shards_serving(
    client: TestClient, startups: list[int]
) -> None:
    with _service(client).reading() as matcher:
        people, teams = matcher.catalog_.tables[EntityKind.person], matcher.catalog_.startups_of
        loner = next(int(i) for i in people.ids.tolist() if i in people and not teams.get(int(i)))
    response = client.get(f"/v1/persons/{loner}/recommendations", params={"target": "investor"})
    assert response.status_code == 422
    assert "no startup's team" in response.text
    answer = _asked(client, startups[0])
    assert (answer["partial"], answer["missing_shards"]) == (False, [])
