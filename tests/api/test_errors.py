"""Bad input of every sort gets a structured refusal naming the field, never a 500."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from models.settings import Settings
from tests.auth import admin_headers
from tests.factories import samples
from tests.servers import serving

TEST_SECRET = "test-secret"
BODY_LIMIT = 4096
IMPORT_LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def strict_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One SQLite-backed service for the module: these tests write nothing that lasts."""
    settings = Settings(
        data_dir=Path(tmp_path_factory.mktemp("errors")) / "data",
        environment="test",
        secret_key=TEST_SECRET,
        max_body_bytes=BODY_LIMIT,
        max_import_bytes=IMPORT_LIMIT,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.headers.update(admin_headers(client.app))
        yield client


def _refusal(response: Any, status: int, code: str, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert {"code", "message", "field", "detail"} <= set(body)
    assert (body["code"], body["field"]) == (code, field)
    assert body["message"]
    return body


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("method", "path", "request_args", "status", "code", "field"),
    [
        ("post", "/v1/startups", {"content": b'{"name": ', "headers": JSON}, 422, "malformed_json", "body"),
        ("post", "/v1/startups", {"json": [1, 2]}, 422, "invalid", "body"),
        (
            "post",
            "/v1/startups",
            {"json": {**samples()["startups"][0], "valuation": 1}},
            422,
            "invalid",
            "body.valuation",
        ),
        (
            "post",
            "/v1/spaces",
            {"json": {**samples()["spaces"][0], "seats_total": "many"}},
            422,
            "invalid",
            "body.seats_total",
        ),
        (
            "post",
            "/v1/startups",
            {"content": b"name=x", "headers": {"content-type": "text/plain"}},
            415,
            "unsupported_media_type",
            "body",
        ),
        (
            "post",
            "/v1/startups",
            {"content": b"<a/>", "headers": {"content-type": "application/xml"}},
            415,
            "unsupported_media_type",
            "body",
        ),
        ("get", "/v1/startups", {"params": {"limit": "ten"}}, 422, "invalid", "query.limit"),
        ("get", "/v1/startups", {"params": {"colour": "red"}}, 422, "invalid", "query.colour"),
        # An id is digits or an external id: a path with neither names no resource.
        ("get", "/v1/startups/abc", {}, 404, "not_found", "path.row_id"),
        ("get", "/v1/startups/0", {}, 422, "invalid", "path.row_id"),
        ("get", "/v1/startups/99999999999999999999999", {}, 422, "invalid", "path.row_id"),
        ("get", "/v1/startups/12345", {}, 404, "not_found", "path.row_id"),
        (
            "get",
            "/v1/startups/12345/recommendations",
            {"params": {"target": "investor"}},
            404,
            "not_found",
            "path.row_id",
        ),
        (
            "get",
            "/v1/startups/1/recommendations",
            {"params": {"target": "unicorn"}},
            422,
            "invalid",
            "query.target",
        ),
        (
            "get",
            "/v1/startups/1/recommendations",
            {"params": {"target": "investor", "k": 101}},
            422,
            "invalid",
            "query.k",
        ),
        (
            "post",
            "/v1/startups/import",
            {"files": {"file": ("x.docx", b"PK", "application/zip")}},
            422,
            "invalid",
            "body.file",
        ),
        ("post", "/v1/startups/import", {"json": {}}, 422, "invalid", "body.file"),
        ("put", "/v1/startups", {"json": {}}, 405, "method_not_allowed", None),
        ("get", "/v2/nothing", {}, 404, "not_found", None),
    ],
)
def test_bad_input_is_refused_with_a_structured_error(
    strict_client: TestClient,
    method: str,
    path: str,
    request_args: dict[str, Any],
    status: int,
    code: str,
    field: str | None,
) -> None:
    response = strict_client.request(method.upper(), path, **request_args)
    _refusal(response, status, code, field)


def test_every_problem_is_listed_and_no_input_is_echoed(strict_client: TestClient) -> None:
    person = samples()["persons"][0] | {"id_number": "420111199503071239X", "degree": "wizard", "extra": 1}
    response = strict_client.post("/v1/persons", json=person)
    assert response.status_code == 422
    body = response.json()
    fields = [".".join(map(str, problem["loc"])) for problem in body["detail"]]
    assert {"body.id_number", "body.degree", "body.extra"} <= set(fields)
    assert (body["field"], body["message"]) == (fields[0], body["detail"][0]["msg"])
    assert "420111199503071239X" not in str(body)


def test_a_body_declared_too_large_is_refused_before_reading(strict_client: TestClient) -> None:
    oversized = b"{" + b" " * BODY_LIMIT + b"}"
    response = strict_client.post("/v1/startups", content=oversized, headers=JSON)
    _refusal(response, 413, "too_large", "body")
    assert strict_client.get("/v1/startups").json()["total"] == 0


def test_a_chunked_body_without_length_is_cut_off_at_the_limit(strict_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(BODY_LIMIT // 512 + 1):
            yield b"x" * 512
        yield b'"}'

    response = strict_client.post("/v1/startups", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    _refusal(response, 413, "too_large", "body")


def test_imports_have_their_own_higher_limit(strict_client: TestClient) -> None:
    rows = [samples()["startups"][0] | {"external_id": f"S-{n}", "team": []} for n in range(12)]
    upload = json.dumps(rows, ensure_ascii=False).encode()
    assert BODY_LIMIT < len(upload) < IMPORT_LIMIT
    files = {"file": ("startups.txt", upload, "text/plain")}
    _refusal(strict_client.post("/v1/startups/import", files=files), 422, "invalid", "body.file")
    too_big = {"file": ("startups.json", b" " * IMPORT_LIMIT, "application/json")}
    _refusal(strict_client.post("/v1/startups/import", files=too_big), 413, "too_large", "body")


def test_bad_import_rows_are_listed_with_the_structured_fields(strict_client: TestClient) -> None:
    rows = [samples()["startups"][0] | {"external_id": "S-1", "team": [], "stage": "Z轮"}]
    files = {"file": ("startups.json", json.dumps(rows, ensure_ascii=False).encode(), "application/json")}
    body = _refusal(strict_client.post("/v1/startups/import", files=files), 422, "bad_rows", "body.file")
    assert [(row["row"], row["column"]) for row in body["rows"]] == [(1, "stage")]


def test_one_import_row_with_two_problems_counts_as_one_bad_row(strict_client: TestClient) -> None:
    good = samples()["startups"][0] | {"external_id": "S-1", "team": []}
    rows = [good, good | {"external_id": "S-2", "stage": "Z轮", "funding_ask_cny": -1}]
    files = {"file": ("startups.json", json.dumps(rows, ensure_ascii=False).encode(), "application/json")}
    body = _refusal(strict_client.post("/v1/startups/import", files=files), 422, "bad_rows", "body.file")
    assert body["message"].startswith("1 bad row(s) with 2 problem(s)"), body["message"]
    assert "row 2: " in body["message"]
    assert "stage" in body["message"]
    assert "funding_ask_cny" in body["message"]
    assert sorted((row["row"], row["column"]) for row in body["rows"]) == [
        (2, "funding_ask_cny"),
        (2, "stage"),
    ]


@pytest.mark.slow
def test_a_raw_utf8_query_string_gets_the_json_error_shape_from_a_live_server(tmp_path: Path) -> None:
    """Both uvicorn parsers refuse raw non-ASCII in a request line before the app runs."""
    with serving(tmp_path / "data") as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as connection:
            connection.sendall("GET /v1/startups?q=光谷 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    assert b"content-type: application/json" in head.lower()
    refusal = json.loads(body)
    assert {"code", "message", "field", "detail"} <= set(refusal)
    assert refusal["code"] == "bad_request"
    assert "UTF-8" in refusal["message"] or "percent-encode" in refusal["message"]
