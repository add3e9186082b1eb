"""Staff's policy edits live in the database: an edit through one host is in the next answer of
another on the same database, and an older release's policies folder is imported at start."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from models.settings import Settings
from tests.auth import admin_headers
from tests.conftest import TEST_SECRET
from tests.models.test_policies import MINIMAL

POLICY = "series-a-talent-pay"
LOCAL = MINIMAL.replace('id = "test-policy"', 'id = "local-policy"')


def _settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(data_dir=data_dir, database_url=database_url, environment="test", secret_key=TEST_SECRET)


@pytest.fixture
def hosts(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, TestClient]]:
    """Two services on one database, each with a data dir of its own; host A's holds a policy
    an older release stored there."""
    folder = tmp_path / "a" / "policies"
    folder.mkdir(parents=True)
    (folder / "local-policy.toml").write_text(LOCAL, "utf-8")
    with ExitStack() as stack:
        clients = []
        for name in ("a", "b"):
            client = stack.enter_context(TestClient(create_app(_settings(tmp_path / name, database_url))))
            client.headers.update(admin_headers(client.app))
            clients.append(client)
        yield clients[0], clients[1]


def test_an_edit_through_one_host_is_in_the_next_answer_of_the_other(
    hosts: tuple[TestClient, TestClient], tmp_path: Path, database_url: str
) -> None:
    a, b = hosts
    assert b.get("/v1/policies/local-policy").json()["version"] == 1  # host A imported it at start
    assert [p.name for p in (tmp_path / "a" / "policies").iterdir()] == ["local-policy.toml.imported"]

    text = a.get(f"/v1/policies/{POLICY}/file").text
    edited = text.replace("version = 1", "version = 2", 1)
    assert a.put(f"/v1/policies/{POLICY}", json={"toml": edited}).status_code == 200
    assert b.get(f"/v1/policies/{POLICY}").json()["version"] == 2
    assert b.get(f"/v1/policies/{POLICY}/file").text == edited

    bad = edited.replace('field = "stage"', 'field = "rocket_fuel"')
    refused = b.put(f"/v1/policies/{POLICY}", json={"toml": bad})
    assert refused.status_code == 422
    assert refused.json()["field"] == "body.toml.criteria[0].field"
    assert refused.json()["message"].startswith("(submitted):")
    assert "startup profiles have no field 'rocket_fuel'" in refused.json()["message"]
    assert a.get(f"/v1/policies/{POLICY}").json()["version"] == 2
    assert b.get("/v1/policies").json()["load_error"] is None

    # `matcher policy import`, run on a third machine, is in the running hosts' next answers
    path = tmp_path / "edited.toml"
    path.write_text(LOCAL.replace("version = 1", "version = 5"), "utf-8")
    env = {"MATCHER_DATA_DIR": str(tmp_path / "cli"), "DATABASE_URL": database_url}
    env |= {"MATCHER_SECRET_KEY": TEST_SECRET, "MATCHER_ENVIRONMENT": "test"}
    imported = CliRunner().invoke(cli, ["policy", "import", str(path)], env=env)
    assert imported.exit_code == 0, imported.output
    assert "local-policy v5" in imported.output
    assert b.get("/v1/policies/local-policy").json()["version"] == 5
    assert a.get("/v1/policies/local-policy").json()["version"] == 5
    path.write_text(LOCAL.replace('op = ">="', 'op = "~"'), "utf-8")
    not_imported = CliRunner().invoke(cli, ["policy", "import", str(path)], env=env)
    assert not_imported.exit_code == 2
    assert f"{path}:" in not_imported.output
    assert "criteria[0].op" in not_imported.output
    assert b.get("/v1/policies/local-policy").json()["version"] == 5
