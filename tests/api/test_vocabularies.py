"""Users discover every code they may write: over HTTP and in the CLI, Chinese and English."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from models.enums import Degree, InvestorType
from models.settings import Settings
from models.taxonomy import INDUSTRIES, STAGES
from tests.auth import admin_headers
from tests.conftest import TEST_SECRET


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = Path(tmp_path_factory.mktemp("vocab"))
    settings = Settings(data_dir=folder / "data", environment="test", secret_key=TEST_SECRET)
    with TestClient(create_app(settings)) as test_client:
        test_client.headers.update(admin_headers(test_client.app))
        yield test_client


def test_every_vocabulary_is_listed(client: TestClient) -> None:
    names = {item["name"] for item in client.get("/v1/vocabularies").json()}
    assert {"industries", "stages", "areas", "degrees", "investor-types", "person-roles"} <= names


def test_stages_carry_codes_labels_and_synonyms(client: TestClient) -> None:
    stages = client.get("/v1/vocabularies/stages").json()["terms"]
    assert [term["code"] for term in stages] == list(STAGES)
    b = next(term for term in stages if term["code"] == "b")
    assert (b["zh"], b["en"]) == ("B轮", "Series B")
    assert "B+" in b["synonyms"]


def test_industries_carry_their_parent(client: TestClient) -> None:
    industries = client.get("/v1/vocabularies/industries").json()["terms"]
    assert len(industries) == len(INDUSTRIES)
    assert all(term["parent"] is None or term["parent"] in INDUSTRIES for term in industries)


def test_an_enum_vocabulary_labels_every_member(client: TestClient) -> None:
    for name, enum in (("degrees", Degree), ("investor-types", InvestorType)):
        terms = client.get(f"/v1/vocabularies/{name}").json()["terms"]
        assert [term["code"] for term in terms] == [member.value for member in enum]
        assert all(term["zh"] and term["en"] for term in terms)


def test_an_unknown_vocabulary_is_a_404_naming_the_real_ones(client: TestClient) -> None:
    response = client.get("/v1/vocabularies/colours")
    assert response.status_code == 404
    assert "industries" in response.json()["message"]


def test_the_cli_lists_vocabularies_and_prints_one(tmp_path: Path) -> None:
    listed = CliRunner().invoke(cli, ["vocab"])
    assert listed.exit_code == 0, listed.output
    assert "stages (" in listed.output
    stages = CliRunner().invoke(cli, ["vocab", "stages"])
    assert stages.exit_code == 0, stages.output
    assert "天使轮" in stages.output
    assert "Series B" in stages.output
    assert CliRunner().invoke(cli, ["vocab", "colours"]).exit_code == 2
