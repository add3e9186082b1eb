"""The portal on a small demo ecosystem, shared by the page tests of one module, and a signed-in
browser for each role."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from models.db import transaction
from models.demo import generate_ecosystem, load_ecosystem
from models.portal import ensure_demo_logins
from models.settings import Settings
from tests.factories import SMALL_DEMO
from tests.portal_client import Browser, demo

ROLES = ("founder", "student", "investor", "mentor", "operator", "enterprise", "staff")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("portal")
    settings = Settings(
        data_dir=folder / "data",
        database_url=f"sqlite:///{folder / 'portal.db'}",
        environment="test",
        secret_key="test-secret",
    )
    application = create_app(settings)
    with TestClient(application) as client:
        factory = client.app.state.session_factory  # type: ignore[attr-defined]
        load_ecosystem(factory, generate_ecosystem(7, SMALL_DEMO), secret=settings.secret_key)
        with transaction(factory) as session:
            ensure_demo_logins(session)
        client.app.state.matcher_service.build()  # type: ignore[attr-defined]
        yield client.app


@pytest.fixture(scope="module")
def browsers(app: Any) -> dict[str, Browser]:
    return {role: demo(app, role) for role in ROLES}
