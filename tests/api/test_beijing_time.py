"""Every time a user sees is Beijing time (+08:00), whatever offset it was written with.

Storage keeps UTC; a create, a read and a list of the same row must show the same clock time.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import samples

BEIJING_OFFSET = "+08:00"


def _startup(client: TestClient) -> dict[str, Any]:
    for slug in ("persons", "startups", "spaces"):
        response = client.post(f"/v1/{slug}", json=samples()[slug][0])
        assert response.status_code == 201, response.text
    return {
        "startup": samples()["startups"][0]["external_id"],
        "space": samples()["spaces"][0]["external_id"],
    }


@pytest.mark.parametrize(
    "written", ["2030-01-01T18:00:00", "2030-01-01T10:00:00Z", "2030-01-01T11:00:00+01:00"]
)
def test_a_round_deadline_reads_as_beijing_time_on_create_read_and_list(
    client: TestClient, written: str
) -> None:
    ids = _startup(client)
    body = {
        "name": "光谷入驻",
        "kind": "space_admission",
        "deadline": written,
        "applicants": [{"external_id": ids["startup"]}],
        "counterparts": [{"external_id": ids["space"], "capacity": 1}],
    }
    created = client.post("/v1/rounds", json=body)
    assert created.status_code == 201, created.text
    read = client.get(f"/v1/rounds/{created.json()['id']}").json()
    assert client.get(f"/v1/rounds/{created.json()['external_id']}").json() == read
    listed = client.get("/v1/rounds").json()["items"]
    seen = [created.json()["deadline"], read["deadline"], *(r["deadline"] for r in listed)]
    assert seen == ["2030-01-01T18:00:00+08:00"] * len(seen)
    stamps = [created.json()["created_at"], read["created_at"], read["updated_at"]]
    assert all(stamp.endswith(BEIJING_OFFSET) for stamp in stamps), stamps


def test_profile_timestamps_read_as_beijing_time_on_create_read_and_list(client: TestClient) -> None:
    _startup(client)
    created = client.post(
        "/v1/startups", json=samples()["startups"][0] | {"external_id": "S-TIME", "team": []}
    ).json()
    read = client.get(f"/v1/startups/{created['id']}").json()
    listed = client.get("/v1/startups").json()["items"]
    stamps = [
        created["created_at"],
        created["updated_at"],
        read["created_at"],
        *(item["updated_at"] for item in listed),
    ]
    assert all(stamp.endswith(BEIJING_OFFSET) for stamp in stamps), stamps
