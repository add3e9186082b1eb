"""/docs and /redoc load every byte from this server: no CDN, no web font, no validator badge."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from models.settings import Settings
from tests.conftest import TEST_SECRET

# Every URL an HTML page can load or link: attributes and the quoted strings of its inline script.
URL_IN_HTML = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|\burl\s*:\s*["']([^"']+)["']""")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=Path(tmp_path_factory.mktemp("docs")) / "data", environment="test", secret_key=TEST_SECRET
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _urls(html: str) -> list[str]:
    return [first or second for first, second in URL_IN_HTML.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_a_docs_page_references_only_local_urls_and_each_is_served(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    assert "http://" not in html
    assert "https://" not in html
    urls = _urls(html)
    assert any(url.endswith(".js") for url in urls), urls
    for url in urls:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
        served = client.get(url)
        assert served.status_code == 200, url
        assert served.content, url


def test_swagger_ui_asks_no_foreign_validator(client: TestClient) -> None:
    assert '"validatorUrl": null' in client.get("/docs").text


def test_the_vendored_assets_ship_with_their_licences() -> None:
    assets = Path(__file__).parents[2] / "api" / "docs_assets"
    assert {"swagger-ui.LICENSE", "redoc.LICENSE"} <= {path.name for path in assets.iterdir()}
