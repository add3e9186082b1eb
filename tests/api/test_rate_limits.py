"""Expensive endpoints are rate limited per account and per client address, on a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from api.app import create_app
from api.errors import install_error_handlers
from api.limits import RateLimiter, RecommendRateLimit, install_limits
from models.settings import Settings
from tests.auth import admin_headers


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_quota_then_refills_per_minute() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_account=3, per_ip=100, clock=clock)
    assert [limiter.wait_for(account="a", ip="1.1.1.1") for _ in range(3)] == [0, 0, 0]
    assert limiter.wait_for(account="a", ip="1.1.1.1") == pytest.approx(20.0)
    clock.now += 20
    assert limiter.wait_for(account="a", ip="1.1.1.1") == 0
    assert limiter.wait_for(account="a", ip="1.1.1.1") > 0


def test_accounts_are_counted_apart_but_share_their_address() -> None:
    limiter = RateLimiter(per_account=2, per_ip=3, clock=FakeClock())
    assert limiter.wait_for(account="a", ip="10.0.0.1") == 0
    assert limiter.wait_for(account="a", ip="10.0.0.1") == 0
    assert limiter.wait_for(account="a", ip="10.0.0.1") > 0
    assert limiter.wait_for(account="b", ip="10.0.0.1") == 0
    # The address has used its three; a third account behind it waits too.
    assert limiter.wait_for(account="c", ip="10.0.0.1") > 0
    assert limiter.wait_for(account="c", ip="10.0.0.2") == 0


def test_a_refused_request_takes_no_token() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_account=1, per_ip=60, clock=clock)
    assert limiter.wait_for(account="a", ip="ip") == 0
    for _ in range(10):
        assert limiter.wait_for(account="a", ip="ip") > 0
    # Only the one allowed request counted against the address.
    assert [limiter.wait_for(account=f"x{n}", ip="ip") for n in range(59)] == [0] * 59


@pytest.fixture
def limited_client(tmp_path: Path) -> Iterator[tuple[TestClient, FakeClock]]:
    settings = Settings(
        data_dir=tmp_path / "data",
        environment="test",
        secret_key="test-secret",
        recommend_limit_per_ip=2,
        heavy_limit_per_ip=1,
    )
    app = create_app(settings)
    clock = FakeClock()
    for limiter in app.state.rate_limiters.values():
        limiter.clock = clock
    with TestClient(app) as client:
        client.headers.update(admin_headers(client.app))
        yield client, clock


@pytest.mark.parametrize(
    "path",
    [
        "/v1/startups/1/recommendations?target=investor",
        "/v1/investors/1/deal-flow",
        "/v1/spaces/1/candidates",
    ],
)
def test_recommendations_answer_429_with_retry_after(
    limited_client: tuple[TestClient, FakeClock], path: str
) -> None:
    client, clock = limited_client
    assert [client.get(path).status_code for _ in range(2)] == [404, 404]
    refused = client.get(path)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "30"
    assert refused.json()["code"] == "rate_limited"
    clock.now += 30
    assert client.get(path).status_code == 404


def test_imports_have_a_stricter_limit_and_cheap_reads_none(
    limited_client: tuple[TestClient, FakeClock],
) -> None:
    client, _ = limited_client
    files = {"file": ("startups.json", b"[]", "application/json")}
    assert client.post("/v1/startups/import", files=files).status_code == 200
    assert client.post("/v1/startups/import", files=files).status_code == 429
    assert {client.get("/v1/startups").status_code for _ in range(10)} == {200}


def test_the_account_set_by_authentication_is_the_key(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        environment="test",
        secret_key="test-secret",
        recommend_limit_per_account=1,
        recommend_limit_per_ip=100,
    )
    app = FastAPI()
    install_error_handlers(app)
    install_limits(app, settings)

    def authenticate(request: Request) -> None:
        request.state.account_id = request.headers["x-account"]

    @app.get("/expensive", dependencies=[Depends(authenticate), RecommendRateLimit])
    def expensive() -> dict[str, str]:
        return {}

    client = TestClient(app)
    assert client.get("/expensive", headers={"x-account": "a"}).status_code == 200
    assert client.get("/expensive", headers={"x-account": "a"}).status_code == 429
    assert client.get("/expensive", headers={"x-account": "b"}).status_code == 200
