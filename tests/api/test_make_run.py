"""`make run` on an empty data dir: database created, demo loaded, API answering."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from api.cli_accounts import DEV_KEY_FILE

ROOT = Path(__file__).resolve().parents[2]
STARTUP_LIMIT_S = 300


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_health(url: str, process: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + STARTUP_LIMIT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "make run exited before serving"
        try:
            return httpx.get(f"{url}/health", timeout=2)
        except httpx.TransportError:
            time.sleep(1)
    pytest.fail(f"no answer from {url}/health within {STARTUP_LIMIT_S} s")


@pytest.mark.slow
def test_make_run_serves_the_demo_ecosystem(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"MATCHER_DATA_DIR": str(tmp_path / "data"), "PORT": str(port)}
    log = tmp_path / "run.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            assert _wait_for_health(url, process).json()["status"] == "ok"
            assert httpx.get(f"{url}/v1/startups", timeout=10).status_code == 401
            key = (tmp_path / "data" / DEV_KEY_FILE).read_text().strip()
            headers = {"Authorization": f"Bearer {key}"}
            startups = httpx.get(
                f"{url}/v1/startups", params={"limit": 1}, headers=headers, timeout=10
            ).json()
            assert startups["total"] >= 5000
            assert httpx.get(f"{url}/docs", timeout=10).status_code == 200
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    assert f"OpenAPI docs at http://127.0.0.1:{port}/docs" in log.read_text()
    assert f"development admin key (also in {tmp_path / 'data' / DEV_KEY_FILE}): {key}" in log.read_text()
    assert (tmp_path / "data" / "matcher.db").exists()
