"""The HTTP API: CRUD for every kind, pagination and filters, and every forbidden case."""

from __future__ import annotations

import codecs
import io
import json
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.factories import one_change, samples


def _create_all(client: TestClient) -> dict[str, dict[str, Any]]:
    created = {}
    for slug, records in samples().items():
        response = client.post(f"/v1/{slug}", json=records[0])
        assert response.status_code == 201, (slug, response.text)
        # What the write changed in spelling is a report on the request, not part of the profile.
        created[slug] = {k: v for k, v in response.json().items() if k != "normalised"}
    return created


def _fields(response_json: dict[str, Any]) -> set[str]:
    return {".".join(map(str, d["loc"])) for d in response_json["detail"]}


def test_health_names_the_database(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_openapi_documents_every_kind(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for slug in samples():
        assert {f"/v1/{slug}", f"/v1/{slug}/{{row_id}}", f"/v1/{slug}/import"} <= set(paths)
    assert client.get("/docs").status_code == 200


def test_crud_round_trip_for_every_kind(client: TestClient) -> None:
    created = _create_all(client)
    created["investors"]["portfolio"] = ["S-1"]  # the investment was recorded after the investor
    for slug, body in created.items():
        row_id = body["id"]
        assert client.get(f"/v1/{slug}/{row_id}").json() == body
        listed = client.get(f"/v1/{slug}").json()
        assert listed["total"] == 1
        assert listed["items"] == [body]
        patched = client.patch(f"/v1/{slug}/{row_id}", json=one_change()[slug])
        assert patched.status_code == 200, patched.text
        change = one_change()[slug]
        assert {k: patched.json()[k] for k in change if k != "stage"} == {
            k: v for k, v in change.items() if k != "stage"
        }
    assert client.get(f"/v1/startups/{created['startups']['id']}").json()["stage"] == "pre_a"
    for slug in reversed(list(created)):
        row_id = created[slug]["id"]
        assert client.delete(f"/v1/{slug}/{row_id}").status_code == 204
        assert client.get(f"/v1/{slug}/{row_id}").status_code == 404


def test_responses_never_show_contact_data(client: TestClient) -> None:
    created = _create_all(client)
    person = created["persons"]
    everything = json.dumps([person, client.get("/v1/persons").json()], ensure_ascii=False)
    assert "13800138000" not in everything
    assert "zhangwei@example.cn" not in everything
    assert not {"phone", "email", "id_number"} & set(person)


def test_lists_filter_by_chinese_labels_and_paginate(client: TestClient) -> None:
    _create_all(client)
    for n in range(5):
        body = samples()["startups"][0] | {
            "external_id": f"S-x{n}",
            "name": f"武汉生物{n}号",
            "team": [],
            "industries": ["生命健康"],
        }
        assert client.post("/v1/startups", json=body).status_code == 201
    assert client.get("/v1/startups", params={"industry": "智能制造"}).json()["total"] == 1
    life = client.get("/v1/startups", params={"industry": "life_health", "limit": 2, "offset": 2}).json()
    assert (life["total"], len(life["items"]), life["offset"]) == (5, 2, 2)
    assert client.get("/v1/startups", params={"q": "慧眼"}).json()["total"] == 1
    assert client.get("/v1/investors", params={"stage": "天使轮"}).json()["total"] == 1
    assert client.get("/v1/interactions", params={"kind": "invested"}).json()["total"] == 1


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 201}, {"offset": -1}, {"colour": "red"}, {"industry": "不存在的行业"}]
)
def test_bad_list_queries_are_refused(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get("/v1/startups", params=params)
    assert response.status_code == 422
    assert any(key in json.dumps(response.json()) for key in params)


def test_missing_rows_are_404(client: TestClient) -> None:
    assert client.get("/v1/spaces/999").status_code == 404
    assert client.patch("/v1/spaces/999", json={"seats_vacant": 1}).status_code == 404
    assert client.delete("/v1/spaces/999").status_code == 404


def test_create_refuses_unknown_fields_and_names_them(client: TestClient) -> None:
    response = client.post("/v1/startups", json=samples()["startups"][0] | {"valuation": 1})
    assert response.status_code == 422
    assert "body.valuation" in _fields(response.json())


def test_create_refuses_a_duplicate_external_id(client: TestClient) -> None:
    _create_all(client)
    response = client.post("/v1/mentors", json=samples()["mentors"][0])
    assert response.status_code == 409
    assert _fields(response.json()) == {"body.external_id"}


def test_create_refuses_a_reference_to_nobody(client: TestClient) -> None:
    response = client.post("/v1/startups", json=samples()["startups"][0])
    assert response.status_code == 422
    assert _fields(response.json()) == {"body.team.0.person_external_id"}
    assert client.get("/v1/startups").json()["total"] == 0


def test_update_that_breaks_a_rule_of_the_stored_profile_is_refused(client: TestClient) -> None:
    space = _create_all(client)["spaces"]
    response = client.patch(f"/v1/spaces/{space['id']}", json={"seats_total": 1})
    assert response.status_code == 422
    assert "seats_vacant" in response.text
    assert client.get(f"/v1/spaces/{space['id']}").json()["seats_total"] == 40


@pytest.mark.parametrize(
    ("slug", "body", "field"),
    [
        ("spaces", {"external_id": "SP-2"}, "body.external_id"),
        ("spaces", {"seats_vacant": -1}, "body.seats_vacant"),
        ("interactions", {"kind": "declined"}, "body.kind"),
        ("persons", {"id_number": "123"}, "body.id_number"),
    ],
)
def test_update_refuses_fields_that_may_not_change(
    client: TestClient, slug: str, body: dict[str, Any], field: str
) -> None:
    row = _create_all(client)[slug]
    response = client.patch(f"/v1/{slug}/{row['id']}", json=body)
    assert response.status_code == 422
    assert field in _fields(response.json())


def test_import_endpoint_is_all_or_nothing(client: TestClient) -> None:
    good = [samples()["startups"][0] | {"external_id": f"S-{n}", "team": []} for n in range(3)]
    bad = [*good, good[0] | {"external_id": "S-bad", "stage": "Z轮"}]
    files = {"file": ("startups.json", json.dumps(bad, ensure_ascii=False).encode(), "application/json")}
    rejected = client.post("/v1/startups/import", files=files)
    assert rejected.status_code == 422
    assert rejected.json()["rows"][0] | {"reason": ""} == {"row": 4, "column": "stage", "reason": ""}
    assert client.get("/v1/startups").json()["total"] == 0
    files = {"file": ("startups.json", json.dumps(good, ensure_ascii=False).encode(), "application/json")}
    accepted = client.post("/v1/startups/import", files=files)
    assert {k: accepted.json()[k] for k in ("kind", "created", "updated")} == {
        "kind": "startups",
        "created": 3,
        "updated": 0,
    }


def test_import_endpoint_refuses_unknown_file_types(client: TestClient) -> None:
    response = client.post("/v1/startups/import", files={"file": ("x.docx", b"PK", "application/zip")})
    assert response.status_code == 422
    assert _fields(response.json()) == {"body.file"}


def test_a_service_started_empty_learns_the_words_of_what_arrives(client: TestClient) -> None:
    investor = samples()["investors"][0] | {"thesis": "工业视觉 缺陷检测 质检 机器人"}
    assert client.post("/v1/investors", json=investor).status_code == 201
    startup = samples()["startups"][0] | {"team": []}
    for n in range(60):
        body = startup | {
            "external_id": f"S-{n}",
            "name": f"武汉视觉{n}号",
            "one_liner": "工业视觉 缺陷检测 质检",
        }
        assert client.post("/v1/startups", json=body).status_code == 201
    first = client.get("/v1/startups", params={"limit": 1}).json()["items"][0]
    items = client.get(f"/v1/startups/{first['id']}/recommendations", params={"target": "investor"}).json()[
        "items"
    ]
    assert items[0]["features"]["lexical"] > 0


def test_import_takes_gbk_csv_and_xlsx_and_export_offers_bom_csv_and_xlsx(client: TestClient) -> None:
    csv = "external_id,name,industries,stage\nS-1,武汉测试光电有限公司,智能制造,天使轮\n"
    files = {"file": ("startups.csv", csv.encode("gbk"), "text/csv")}
    assert client.post("/v1/startups/import", files=files).json()["created"] == 1
    exported = client.get("/v1/startups/export", params={"format": "csv"})
    assert exported.status_code == 200
    assert exported.content.startswith(codecs.BOM_UTF8)
    assert "武汉测试光电有限公司" in exported.content.decode("utf-8-sig")
    workbook = client.get("/v1/startups/export", params={"format": "xlsx"})
    assert workbook.headers["content-disposition"] == 'attachment; filename="startups.xlsx"'
    renamed = pd.read_excel(io.BytesIO(workbook.content)).assign(name="武汉改名光电有限公司")
    upload = io.BytesIO()
    renamed.to_excel(upload, index=False)
    files = {"file": ("startups.xlsx", upload.getvalue(), "application/octet-stream")}
    reimported = client.post("/v1/startups/import", files=files).json()
    assert (reimported["created"], reimported["updated"]) == (0, 1)
    assert client.get("/v1/startups").json()["items"][0]["name"] == "武汉改名光电有限公司"


def test_every_path_that_takes_an_id_takes_the_external_id_too(client: TestClient) -> None:
    created = _create_all(client)
    startup = created["startups"]
    by_external = client.get(f"/v1/startups/{startup['external_id']}")
    assert by_external.status_code == 200, by_external.text
    assert by_external.json() == client.get(f"/v1/startups/{startup['id']}").json()
    patched = client.patch(f"/v1/startups/{startup['external_id']}", json={"one_liner": "工业视觉质检"})
    assert patched.json()["id"] == startup["id"]
    recommended = client.get(
        f"/v1/startups/{startup['external_id']}/recommendations", params={"target": "investor"}
    )
    assert recommended.status_code == 200, recommended.text
    assert recommended.json()["asker_id"] == startup["id"]


def test_an_unknown_external_id_is_a_404_that_says_what_was_looked_up(client: TestClient) -> None:
    response = client.get("/v1/startups/S-99999")
    assert response.status_code == 404
    assert response.json()["field"] == "path.row_id"
    assert "external id 'S-99999'" in response.json()["message"]
    assert client.get("/v1/startups/import").status_code == 405
    assert client.get("/v1/startups/export").status_code == 200


def test_a_synonym_is_accepted_and_the_coercion_reported_on_create_update_and_import(
    client: TestClient,
) -> None:
    _create_all(client)
    body = samples()["startups"][0] | {"external_id": "S-SYN", "team": [], "stage": "B+", "district": "光谷"}
    created = client.post("/v1/startups", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["stage"] == "b"
    assert created.json()["normalised"]["stage"] == "B+ → b"
    assert created.json()["normalised"]["district"] == "光谷 → east_lake_hightech"
    patched = client.patch("/v1/startups/S-SYN", json={"stage": "天使"}).json()
    assert patched["normalised"] == {"stage": "天使 → angel"}
    unchanged = client.patch("/v1/startups/S-SYN", json={"stage": "angel"}).json()
    assert unchanged["normalised"] == {}
    person = client.patch(f"/v1/persons/{samples()['persons'][0]['external_id']}", json={"degree": "博士"})
    assert person.json()["degree"] == "phd"
    assert person.json()["normalised"] == {"degree": "博士 → phd"}
    csv = "external_id,name,industries,stage\nS-CSV,武汉测试光电有限公司,intelligent_manufacturing,B+\n"
    imported = client.post("/v1/startups/import", files={"file": ("s.csv", csv.encode(), "text/csv")}).json()
    assert imported["normalised"] == [{"row": 1, "field": "stage", "change": "B+ → b"}]
    member = {"person_external_id": samples()["persons"][0]["external_id"], "role": "合伙人"}
    nested = client.post("/v1/startups", json=body | {"external_id": "S-TEAM", "team": [member]})
    assert nested.status_code == 201, nested.text
    assert nested.json()["team"][0]["role"] == "cofounder"
    assert nested.json()["normalised"]["team.0.role"] == "合伙人 → cofounder"


@pytest.mark.parametrize("path", ["/v1/posts", "/v1/rounds", "/v1/policies/angel-fund-coinvest/eligible"])
def test_an_offset_past_the_largest_sql_integer_is_a_422_naming_it(client: TestClient, path: str) -> None:
    response = client.get(path, params={"offset": 2**63})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "query.offset"
