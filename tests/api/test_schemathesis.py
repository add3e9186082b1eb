"""Property-based tests of every operation against the OpenAPI schema (schemathesis, default checks).

Valid and invalid requests alike must get a documented status and a body that matches the
documented schema, never a server error. The number of cases is bounded per operation, and the
module checks at the end that at least ``MIN_TOTAL_CASES`` ran.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.config import SchemathesisConfig

from api.app import create_app
from models.db import create_db_engine, migrate, session_factory
from models.kinds import KINDS
from models.settings import Settings
from models.transfer import import_records
from tests.auth import admin_headers
from tests.factories import samples

TEST_SECRET = "test-secret"
CASES_PER_OPERATION = 15
MIN_TOTAL_CASES = 1000
# High enough that the fuzzer exercises the endpoints themselves; tests/api/test_rate_limits.py covers 429s.
UNLIMITED = 10**9

ran: dict[str, int] = {}

# Loaded at import, as schemathesis parametrises at collection (its lazy `from_fixture` fails on
# pytest 9); the app's lifespan starts with the first request, after the `admin` fixture ran.
DATA_DIR = Path(tempfile.mkdtemp(prefix="schemathesis-"))
APP_SETTINGS = Settings(
    data_dir=DATA_DIR / "data",
    database_url=f"sqlite:///{DATA_DIR / 'data' / 'matcher.db'}",
    environment="test",
    secret_key=TEST_SECRET,
    recommend_limit_per_account=UNLIMITED,
    recommend_limit_per_ip=UNLIMITED,
    heavy_limit_per_account=UNLIMITED,
    heavy_limit_per_ip=UNLIMITED,
)
# Default checks, with one widening: a schema-valid request may still break a rule no JSON schema
# states (a reference to a profile that does not exist, a taxonomy term not in the vocabulary, a
# founder on no startup's team), which the API refuses with 422 naming the field.
# The admin's key is sent with every request, so schemathesis generates no credentials of its own.
CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"with-security-parameters": False},
        "checks": {
            "positive_data_acceptance": {
                # schemathesis's default list, plus 422
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
            }
        },
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(APP_SETTINGS), config=CONFIG)


@pytest.fixture(scope="module")
def admin() -> Iterator[dict[str, str]]:
    """A service holding one profile of every kind (so ids 1 exist), and an admin's headers.

    Admin is admitted everywhere, so every request reaches the endpoint's own validation.
    """
    APP_SETTINGS.ensure_dirs()
    engine = create_db_engine(APP_SETTINGS.resolved_database_url)
    migrate(engine)
    factory = session_factory(engine)
    for slug, records in samples().items():
        import_records(factory, KINDS[slug], records, secret=TEST_SECRET)
    # The helper reads the factory and settings from an app's state; the app has not started yet.
    not_yet_started = SimpleNamespace(state=SimpleNamespace(session_factory=factory, settings=APP_SETTINGS))
    yield admin_headers(not_yet_started)
    engine.dispose()
    operations = len(list(schema.get_all_operations()))
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    if len(ran) == operations:
        assert sum(ran.values()) >= MIN_TOTAL_CASES, ran


@schema.parametrize()
@settings(
    max_examples=CASES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_honours_its_schema(case: Case[Any], admin: dict[str, str]) -> None:
    ran[case.operation.label] = ran.get(case.operation.label, 0) + 1
    case.call_and_validate(headers=admin)
